//! The system chain's records as one typed enum, [`SystemEvent`]: user accounts, roles, logins
//! (also failed ones), password changes, electronic signatures (also failed attempts), trial
//! creation, views of unblinded results, exports and failed emergency-unblinding attempts.
//!
//! A system record's `kind` is the variant's name in snake_case ([`SystemEvent::kind`]) and its
//! payload the canonical JSON of the variant's fields. Unlike a trial chain's event body, the
//! payload does not repeat the kind: the enum is tagged adjacently (`{"kind": …, "payload": …}`),
//! so the record's two fields map onto the tag and the content. Every variant encodes to exactly
//! the payload the service wrote before the enum existed (field names, `null`s and absent keys
//! alike), so the chains written then read and verify unchanged; the tests pin each one.
//!
//! Reading is strict ([`AuditRecord::to_system_event`]): a record whose kind is not a variant,
//! whose payload misses a field or carries an unknown one, or whose payload does not encode back
//! to the stored text is an error naming its seq ([`NotASystemEvent`]), never skipped.
//!
//! What it must not do: decide who may do what or when (the service does), read a clock, or
//! import the service's or the export's types; roles, signature meanings and export formats are
//! the words those layers write (`statistician`, `approval`, `odm`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{Attribution, AuditRecord, Hash};
use super::chain_id::ChainId;
use super::time::UtcTimestamp;
use super::AuditError;
use crate::canonical::canonical;

/// One record of the system chain (module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "payload",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum SystemEvent {
    /// A user account was added (by an admin, or the server's command line).
    UserAdded {
        /// The new user name.
        username: String,
        /// The role it was given (`admin`, `statistician`, `coordinator`, `dmc`, `regulator`).
        role: String,
        /// The printed name its signatures carry.
        printed_name: String,
        /// Its e-mail address.
        email: String,
    },
    /// A role was granted or revoked (admin); the user's sessions and tokens ended.
    RoleChanged {
        /// Whose role.
        username: String,
        /// Which role.
        role: String,
        /// Granted or revoked.
        change: RoleChange,
    },
    /// An account was activated (admin).
    UserActivated {
        /// Whose account.
        username: String,
    },
    /// An account was deactivated (admin); its sessions and tokens ended.
    UserDeactivated {
        /// Whose account.
        username: String,
    },
    /// A successful login; the record's actor and role say who logged in, in which role.
    Login {
        /// Always `null`: a successful login records that it had no failure.
        failure: NoFailure,
    },
    /// A failed login; the record's actor is the user name as given (made printable).
    LoginFailed {
        /// Why it failed, as the user was told.
        failure: String,
    },
    /// A user changed their password; their sessions and tokens ended.
    PasswordChanged {
        /// Whose password.
        username: String,
    },
    /// An admin reset a user's password (a temporary one, shown once); the user's sessions and
    /// tokens ended, and they must choose a new password at their next login.
    PasswordReset {
        /// Whose password.
        username: String,
    },
    /// An electronic signature of a protocol version (21 CFR 11.50/11.70).
    Signature(ElectronicSignature),
    /// The password entered again for a signature, an amendment or a password change was wrong
    /// (or the account is inactive).
    SignatureFailed {
        /// What the password was asked for (`an electronic signature`, `password change`, …).
        purpose: String,
        /// Why it failed.
        failure: SignatureFailure,
    },
    /// A trial was created as a draft, with its protocol's version 1.
    TrialCreated {
        /// The trial.
        id: String,
        /// SHA-256 of protocol version 1 (`protocol::hash`).
        protocol_hash: Hash,
        /// SHA-256 of the trial's secret seed.
        seed_commitment: Hash,
    },
    /// Unblinded (comparative) results of a trial were shown to a user.
    ResultsViewed {
        /// The trial.
        trial: String,
        /// The trial chain's head seq the results were computed at.
        head_seq: u64,
        /// Which view, when not the trial's results page or API answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view: Option<ResultsView>,
    },
    /// An export of a trial (ODM, JSON Lines, CSV, package), covered by signed checkpoints.
    Export {
        /// The trial.
        trial: String,
        /// The format's name (`odm`, `jsonl`, `csv`, `package`).
        format: String,
        /// Whether it holds the seed and the allocation probabilities.
        unblinded: bool,
        /// The suggested file name.
        file: String,
        /// SHA-256 of the file's bytes.
        sha256: Hash,
        /// The file's length in bytes.
        bytes: u64,
        /// The seq of the trial chain's head the file holds.
        head_seq: u64,
        /// That head's hash.
        head_hash: Hash,
        /// The system chain's head seq the file holds (`null` when the chain was empty).
        system_head_seq: Option<u64>,
        /// The operating-system user of a command-line export, when known (absent otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        os_user: Option<String>,
    },
    /// An emergency unblinding of a participant was refused.
    UnblindingFailed {
        /// The trial.
        trial: String,
        /// The participant whose arm was asked for.
        subject_id: String,
        /// Why it was refused.
        failure: UnblindingFailure,
    },
    /// A trial's witness list (the addresses that receive each signed head) was replaced.
    WitnessesChanged {
        /// The trial.
        trial: String,
        /// The addresses now, sorted.
        witnesses: Vec<String>,
    },
}

/// An electronic signature: meaning, printed name and UTC time, bound to the hash of the
/// protocol version signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectronicSignature {
    /// The trial.
    pub trial: String,
    /// The protocol version signed.
    pub version: u32,
    /// Its SHA-256 (`protocol::hash`).
    pub protocol_hash: Hash,
    /// `authorship`, `approval` or `review`.
    pub meaning: String,
    /// The signer's user name.
    pub username: String,
    /// The signer's printed name.
    pub printed_name: String,
    /// When it was signed (UTC).
    pub signed_at: UtcTimestamp,
}

/// The `"failure": null` of a successful login: encoded as JSON `null`, and read only from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NoFailure;

/// Whether a role was granted or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleChange {
    /// Granted.
    Granted,
    /// Revoked.
    Revoked,
}

/// A results view other than the trial's own page or API answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsView {
    /// The n-of-1 series' pooled summary.
    Series,
}

/// Why a password entered again was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureFailure {
    /// The password was wrong (or the account is inactive).
    #[serde(rename = "wrong password")]
    WrongPassword,
    /// Too many wrong passwords for the user lately: refused without looking at this one.
    #[serde(rename = "too many failures")]
    Throttled,
}

/// Why an emergency unblinding was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnblindingFailure {
    /// The password entered again was wrong (or the account is inactive).
    #[serde(rename = "wrong password")]
    WrongPassword,
    /// No reason was given.
    #[serde(rename = "no reason")]
    NoReason,
}

impl SystemEvent {
    /// The record's kind: the variant's name in snake_case.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserAdded { .. } => "user_added",
            Self::RoleChanged { .. } => "role_changed",
            Self::UserActivated { .. } => "user_activated",
            Self::UserDeactivated { .. } => "user_deactivated",
            Self::Login { .. } => "login",
            Self::LoginFailed { .. } => "login_failed",
            Self::PasswordChanged { .. } => "password_changed",
            Self::PasswordReset { .. } => "password_reset",
            Self::Signature(_) => "signature",
            Self::SignatureFailed { .. } => "signature_failed",
            Self::TrialCreated { .. } => "trial_created",
            Self::ResultsViewed { .. } => "results_viewed",
            Self::Export { .. } => "export",
            Self::UnblindingFailed { .. } => "unblinding_failed",
            Self::WitnessesChanged { .. } => "witnesses_changed",
        }
    }

    /// The electronic signature this event is, if it is one.
    pub fn signature(&self) -> Option<&ElectronicSignature> {
        match self {
            Self::Signature(signature) => Some(signature),
            Self::UserAdded { .. }
            | Self::RoleChanged { .. }
            | Self::UserActivated { .. }
            | Self::UserDeactivated { .. }
            | Self::Login { .. }
            | Self::LoginFailed { .. }
            | Self::PasswordChanged { .. }
            | Self::PasswordReset { .. }
            | Self::SignatureFailed { .. }
            | Self::TrialCreated { .. }
            | Self::ResultsViewed { .. }
            | Self::Export { .. }
            | Self::UnblindingFailed { .. }
            | Self::WitnessesChanged { .. } => None,
        }
    }

    /// The record's payload: the variant's fields as JSON (not yet canonical).
    pub fn payload(&self) -> Result<Value, AuditError> {
        let tagged = serde_json::to_value(self).map_err(|e| AuditError::Encode(e.to_string()))?;
        match tagged {
            Value::Object(mut fields) => fields.remove("payload").ok_or_else(|| {
                AuditError::Encode(format!("the {} event encodes no payload", self.kind()))
            }),
            other => Err(AuditError::Encode(format!(
                "the {} event encodes as {other}, not as an object",
                self.kind()
            ))),
        }
    }

    /// The event a record of `kind` with `payload` (JSON text) holds, or what is wrong. Strict
    /// (module docs): the event must encode back to exactly the payload's canonical text.
    fn parse(kind: &str, payload: &str) -> Result<Self, String> {
        let content: Value =
            serde_json::from_str(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let tagged = serde_json::json!({ "kind": kind, "payload": content });
        let event = Self::deserialize(tagged).map_err(|e| e.to_string())?;
        let stored = canonical(&content).map_err(|e| e.to_string())?;
        let encoded = event
            .payload()
            .and_then(|p| Ok(canonical(&p)?))
            .map_err(|e| e.to_string())?;
        if encoded != stored {
            return Err(format!(
                "the payload {stored} reads as an event that encodes as {encoded}"
            ));
        }
        Ok(event)
    }
}

/// A record that should hold a system event and does not: where it is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{chain} record {seq} ({kind}) is not a system event: {problem}")]
pub struct NotASystemEvent {
    /// The record's chain.
    pub chain: ChainId,
    /// The record's seq.
    pub seq: u64,
    /// The record's kind.
    pub kind: String,
    /// What is wrong.
    pub problem: String,
}

impl AuditRecord {
    /// The system chain's record of `event`, following `prev` (`None` for the chain's first
    /// record); see [`AuditRecord::append`].
    pub fn system(
        prev: Option<&AuditRecord>,
        event: &SystemEvent,
        by: &Attribution,
    ) -> Result<Self, AuditError> {
        Self::append(prev, ChainId::system(), event.kind(), &event.payload()?, by)
    }

    /// The system event this record holds. Fails, naming the record, when it is on a trial
    /// chain or does not read as a system event (module docs).
    pub fn to_system_event(&self) -> Result<SystemEvent, NotASystemEvent> {
        let fail = |problem: String| NotASystemEvent {
            chain: self.chain.clone(),
            seq: self.seq,
            kind: self.kind.clone(),
            problem,
        };
        if !self.chain.is_system() {
            return Err(fail("it is on a trial chain".into()));
        }
        SystemEvent::parse(&self.kind, &self.payload).map_err(fail)
    }
}

/// The electronic signatures of `trial` on the system chain `records`, in order, each with its
/// record. Every record is read ([`AuditRecord::to_system_event`]): the first that is not a
/// system event is the error.
pub fn signatures_of<'a>(
    records: &'a [AuditRecord],
    trial: &str,
) -> Result<Vec<(&'a AuditRecord, ElectronicSignature)>, NotASystemEvent> {
    let mut found = Vec::new();
    for record in records {
        if let Some(signature) = record.to_system_event()?.signature() {
            if signature.trial == trial {
                found.push((record, signature.clone()));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> UtcTimestamp {
        UtcTimestamp::parse("2026-03-01T09:30:00Z").unwrap()
    }

    fn hash(byte: u8) -> Hash {
        Hash::from_bytes([byte; 32])
    }

    /// Each variant beside the payload the service wrote for it with `json!` before the enum
    /// existed (the expressions are those of the old call sites).
    fn written_the_old_way() -> Vec<(&'static str, Value, SystemEvent)> {
        let username = "alice".to_owned();
        let signed_at = at();
        let summary_like = json!({
            "id": "T-1",
            "protocol_hash": hash(1).to_hex(),
            "seed_commitment": hash(2).to_hex(),
        });
        let mut export = json!({
            "trial": "T-1",
            "format": "package",
            "unblinded": true,
            "file": "T-1-unblinded-package.zip",
            "sha256": hash(3).to_hex(),
            "bytes": 12_345_usize,
            "head_seq": 42_u64,
            "head_hash": hash(4).to_hex(),
            "system_head_seq": Some(7_u64),
        });
        if let Some(map) = export.as_object_mut() {
            map.insert("os_user".into(), Value::String("root".into()));
        }
        let export_event =
            |os_user: Option<&str>, system_head_seq: Option<u64>| SystemEvent::Export {
                trial: "T-1".into(),
                format: "package".into(),
                unblinded: true,
                file: "T-1-unblinded-package.zip".into(),
                sha256: hash(3),
                bytes: 12_345,
                head_seq: 42,
                head_hash: hash(4),
                system_head_seq,
                os_user: os_user.map(str::to_owned),
            };
        let detail: Option<String> = None;
        vec![
            (
                "user_added",
                json!({
                    "username": username,
                    "role": "statistician",
                    "printed_name": "Alice A.",
                    "email": "alice@example.org",
                }),
                SystemEvent::UserAdded {
                    username: "alice".into(),
                    role: "statistician".into(),
                    printed_name: "Alice A.".into(),
                    email: "alice@example.org".into(),
                },
            ),
            (
                "role_changed",
                json!({ "username": username, "role": "dmc", "change": "granted" }),
                SystemEvent::RoleChanged {
                    username: "alice".into(),
                    role: "dmc".into(),
                    change: RoleChange::Granted,
                },
            ),
            (
                "role_changed",
                json!({ "username": username, "role": "admin", "change": "revoked" }),
                SystemEvent::RoleChanged {
                    username: "alice".into(),
                    role: "admin".into(),
                    change: RoleChange::Revoked,
                },
            ),
            (
                "user_activated",
                json!({ "username": username }),
                SystemEvent::UserActivated {
                    username: "alice".into(),
                },
            ),
            (
                "user_deactivated",
                json!({ "username": username }),
                SystemEvent::UserDeactivated {
                    username: "alice".into(),
                },
            ),
            (
                "login",
                json!({ "failure": detail }),
                SystemEvent::Login { failure: NoFailure },
            ),
            (
                "login_failed",
                json!({ "failure": Some("wrong user name or password") }),
                SystemEvent::LoginFailed {
                    failure: "wrong user name or password".into(),
                },
            ),
            (
                "password_changed",
                json!({ "username": username }),
                SystemEvent::PasswordChanged {
                    username: "alice".into(),
                },
            ),
            (
                "signature",
                json!({
                    "trial": "T-1",
                    "version": 2_i32,
                    "protocol_hash": hash(1).to_hex(),
                    "meaning": "approval",
                    "username": username,
                    "printed_name": "Alice A.",
                    "signed_at": signed_at.as_str(),
                }),
                SystemEvent::Signature(ElectronicSignature {
                    trial: "T-1".into(),
                    version: 2,
                    protocol_hash: hash(1),
                    meaning: "approval".into(),
                    username: "alice".into(),
                    printed_name: "Alice A.".into(),
                    signed_at: at(),
                }),
            ),
            (
                "signature_failed",
                json!({ "purpose": "an electronic signature", "failure": "wrong password" }),
                SystemEvent::SignatureFailed {
                    purpose: "an electronic signature".into(),
                    failure: SignatureFailure::WrongPassword,
                },
            ),
            (
                "trial_created",
                summary_like,
                SystemEvent::TrialCreated {
                    id: "T-1".into(),
                    protocol_hash: hash(1),
                    seed_commitment: hash(2),
                },
            ),
            (
                "results_viewed",
                json!({ "trial": "T-1", "head_seq": 9_u64 }),
                SystemEvent::ResultsViewed {
                    trial: "T-1".into(),
                    head_seq: 9,
                    view: None,
                },
            ),
            (
                "results_viewed",
                json!({ "trial": "T-1", "head_seq": 9_u64, "view": "series" }),
                SystemEvent::ResultsViewed {
                    trial: "T-1".into(),
                    head_seq: 9,
                    view: Some(ResultsView::Series),
                },
            ),
            ("export", export, export_event(Some("root"), Some(7))),
            (
                "export",
                json!({
                    "trial": "T-1",
                    "format": "package",
                    "unblinded": true,
                    "file": "T-1-unblinded-package.zip",
                    "sha256": hash(3).to_hex(),
                    "bytes": 12_345_usize,
                    "head_seq": 42_u64,
                    "head_hash": hash(4).to_hex(),
                    "system_head_seq": None::<u64>,
                }),
                export_event(None, None),
            ),
        ]
    }

    #[test]
    fn payloads_written_the_old_way_parse_and_encode_to_the_same_text() {
        let by = Attribution {
            actor: "alice".into(),
            role: "admin".into(),
            recorded_at: at(),
            reason: None,
        };
        let mut prev: Option<AuditRecord> = None;
        for (kind, old, event) in written_the_old_way() {
            // The record as the service appended it before the enum existed.
            let stored =
                AuditRecord::append(prev.as_ref(), ChainId::system(), kind, &old, &by).unwrap();
            let read = stored.to_system_event().unwrap();
            assert_eq!(read, event, "{kind}");
            assert_eq!(read.kind(), kind);
            assert_eq!(canonical(&read.payload().unwrap()).unwrap(), stored.payload);
            // Appended from the enum: the very same record, hash and all.
            let typed = AuditRecord::system(prev.as_ref(), &event, &by).unwrap();
            assert_eq!(typed, stored, "{kind}");
            prev = Some(stored);
        }
    }

    #[test]
    fn the_new_variant_has_its_kind_and_reads_back() {
        let event = SystemEvent::UnblindingFailed {
            trial: "T-1".into(),
            subject_id: "S-001".into(),
            failure: UnblindingFailure::NoReason,
        };
        let payload = canonical(&event.payload().unwrap()).unwrap();
        assert_eq!(
            payload,
            r#"{"failure":"no reason","subject_id":"S-001","trial":"T-1"}"#
        );
        assert_eq!(event.kind(), "unblinding_failed");
        assert_eq!(SystemEvent::parse("unblinding_failed", &payload), Ok(event));
        let event = SystemEvent::WitnessesChanged {
            trial: "T-1".into(),
            witnesses: vec!["chair@dmc.example".into()],
        };
        let payload = canonical(&event.payload().unwrap()).unwrap();
        assert_eq!(
            payload,
            r#"{"trial":"T-1","witnesses":["chair@dmc.example"]}"#
        );
        assert_eq!(event.kind(), "witnesses_changed");
        assert_eq!(SystemEvent::parse("witnesses_changed", &payload), Ok(event));
    }

    #[test]
    fn records_that_are_not_system_events_are_errors_naming_their_seq() {
        let bad = [
            ("no_such_kind", r#"{"username":"alice"}"#),
            ("login", r#"{"failure":"wrong user name or password"}"#),
            ("login_failed", r#"{"failure":null}"#),
            ("user_activated", r#"{"username":"alice","extra":1}"#),
            ("user_activated", r#"{}"#),
            (
                "role_changed",
                r#"{"change":"swapped","role":"dmc","username":"a"}"#,
            ),
            ("results_viewed", r#"{"head_seq":-1,"trial":"T"}"#),
            ("signature", r#"{"trial":"T"}"#),
            (
                "export",
                r#"{"bytes":1,"file":"f","format":"odm","head_hash":"00","head_seq":1,"sha256":"00","system_head_seq":null,"trial":"T","unblinded":false}"#,
            ),
            // A missing `system_head_seq` would read as `null` and encode differently.
            (
                "export",
                &format!(
                    r#"{{"bytes":1,"file":"f","format":"odm","head_hash":"{h}","head_seq":1,"sha256":"{h}","trial":"T","unblinded":false}}"#,
                    h = hash(5).to_hex()
                ),
            ),
            ("password_changed", "not json"),
        ];
        let by = Attribution {
            actor: "alice".into(),
            role: "coordinator".into(),
            recorded_at: at(),
            reason: None,
        };
        for (kind, payload) in bad {
            let mut record =
                AuditRecord::append(None, ChainId::system(), kind, &Value::Null, &by).unwrap();
            record.seq = 17;
            record.payload = payload.to_owned();
            match record.to_system_event() {
                Err(NotASystemEvent {
                    seq: 17, kind: k, ..
                }) if k == kind => {}
                other => panic!("{kind} {payload}: {other:?}"),
            }
        }
        let on_a_trial = AuditRecord::append(
            None,
            ChainId::trial("T-1").unwrap(),
            "password_changed",
            &json!({ "username": "alice" }),
            &by,
        )
        .unwrap();
        let error = on_a_trial.to_system_event().unwrap_err();
        assert_eq!(
            error.to_string(),
            "trial:T-1 record 1 (password_changed) is not a system event: it is on a trial chain"
        );
    }

    #[test]
    fn signatures_are_found_by_trial_and_a_bad_record_stops_the_search() {
        let by = Attribution {
            actor: "alice".into(),
            role: "statistician".into(),
            recorded_at: at(),
            reason: None,
        };
        let signature = |trial: &str| {
            SystemEvent::Signature(ElectronicSignature {
                trial: trial.into(),
                version: 1,
                protocol_hash: hash(1),
                meaning: "approval".into(),
                username: "alice".into(),
                printed_name: "Alice A.".into(),
                signed_at: at(),
            })
        };
        let mut records: Vec<AuditRecord> = Vec::new();
        for event in [
            signature("T-1"),
            SystemEvent::Login { failure: NoFailure },
            signature("T-2"),
            signature("T-1"),
        ] {
            let next = AuditRecord::system(records.last(), &event, &by).unwrap();
            records.push(next);
        }
        let found = signatures_of(&records, "T-1").unwrap();
        let seqs: Vec<u64> = found.iter().map(|(r, _)| r.seq).collect();
        assert_eq!(seqs, [1, 4]);
        let odd = AuditRecord::append(
            records.last(),
            ChainId::system(),
            "note",
            &json!({ "text": "hello" }),
            &by,
        )
        .unwrap();
        records.push(odd);
        let error = signatures_of(&records, "T-1").unwrap_err();
        assert_eq!((error.seq, error.kind.as_str()), (5, "note"));
        assert!(error.problem.contains("unknown variant"), "{error}");
    }
}
