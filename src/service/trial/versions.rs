//! A trial's protocol versions after the first: a draft saved again before the start, an
//! amendment proposed for a running trial and brought into force by another person's approval
//! (four eyes), and which version the engine folds from.
//!
//! Versions are append-only. Before the start, the newest draft version is the one in force; the
//! trial starts on it and its `trial_started` event names its hash, which is how every later
//! fold finds it again ([`base_version`]). After the start, a new version is an amendment: it
//! waits, pending, until a statistician other than its author signs its approval; then the
//! engine records the change it makes (added arms, a new maximum) and it is in force.
//!
//! What it must not do: interpret events (the engine does) or decide who may sign (the
//! four-eyes rule is checked once, where every signature is written: `Service::signature`).

use tracing::instrument;

use super::super::{Actor, Permission, Service, ServiceError};
use super::*;
use crate::audit::SystemEvent;

/// A saved draft version: its number, and whether anything was saved (the same text again
/// saves nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedVersion {
    /// The version in force after the save.
    pub version: i32,
    /// Whether a new version was written.
    pub changed: bool,
}

/// The protocol version a trial's engine folds from: the version whose hash its first event
/// (`trial_started`) names, the newest such at or below `current`; before the start (no first
/// event), the draft in force, `current`. A chain whose start names no stored version (trials
/// from before drafts could be saved again started on version 1) folds from version 1, and the
/// replay checks report any difference.
pub(crate) fn base_version(
    conn: &mut DbConn,
    trial_id: &str,
    current: i32,
    first: Option<&Event>,
) -> Result<ProtocolVersionRow, ServiceError> {
    let wanted = match first.and_then(|event| event.body.started_with()) {
        Some((hash, _)) => ProtocolVersionRow::of_trial(conn, trial_id)?
            .into_iter()
            .rev()
            .find(|v| v.version <= current && v.hash == hash)
            .map_or(1, |v| v.version),
        None => current,
    };
    ProtocolVersionRow::find(conn, trial_id, wanted)?.ok_or_else(|| {
        ServiceError::Integrity(format!("trial {trial_id} has no protocol version {wanted}"))
    })
}

/// The newest version of a trial's protocol: a pending amendment's when one waits for its
/// approval, else the one in force.
pub(crate) fn newest_version(
    conn: &mut DbConn,
    trial: &TrialRow,
) -> Result<ProtocolVersionRow, ServiceError> {
    let newest = ProtocolVersionRow::of_trial(conn, &trial.id)?.pop();
    newest
        .filter(|v| v.version >= trial.current_version)
        .ok_or_else(|| {
            ServiceError::Integrity(format!(
                "trial {} has no protocol version {}",
                trial.id, trial.current_version
            ))
        })
}

/// The version number as the system chain writes it.
fn version_number(trial_id: &str, version: i32) -> Result<u32, ServiceError> {
    u32::try_from(version).map_err(|_| {
        ServiceError::Integrity(format!(
            "trial {trial_id} has a protocol version numbered {version}"
        ))
    })
}

impl Service {
    /// Saves protocol text as the next version of a draft (a trial not yet started): the draft
    /// in force becomes the new version, the earlier ones stay. The text must name the same
    /// trial. The same text again writes nothing (`changed: false`).
    #[instrument(skip_all, fields(trial = %trial_id, origin = %origin))]
    pub fn revise_draft(
        &self,
        actor: &Actor,
        trial_id: &str,
        source: &str,
        origin: &str,
    ) -> Result<SavedVersion, ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        let loaded = LoadedProtocol::from_toml(source, origin)?;
        if loaded.protocol.trial.id != trial_id {
            return Err(ServiceError::Invalid {
                field: "protocol",
                problem: format!(
                    "the text is for trial {:?}; a new version of {trial_id} keeps its id \
                     (trial.id = {trial_id:?})",
                    loaded.protocol.trial.id
                ),
            });
        }
        let chain = chain_of(trial_id)?.to_string();
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        let saved =
            self.write_transaction(&mut conn, WriteLock::TrialAndSystem(trial_id), |conn| {
                let trial = TrialRow::find(conn, trial_id)?
                    .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
                if AuditRow::last_seq(conn, &chain)? > 0 {
                    return Err(ServiceError::Conflict(format!(
                        "trial {trial_id} has started: its protocol changes only by an amendment"
                    )));
                }
                let current = newest_version(conn, &trial)?;
                if current.source == source {
                    return Ok(SavedVersion {
                        version: current.version,
                        changed: false,
                    });
                }
                let version = current.version + 1;
                let hash = loaded.hash.to_hex();
                let note = format!("draft saved from {origin}");
                ProtocolVersionRow {
                    trial_id: trial_id.to_owned(),
                    version,
                    hash: hash.clone(),
                    source: source.to_owned(),
                    note: note.clone(),
                    created_by: actor.username.clone(),
                    created_at: by.recorded_at.as_str().to_owned(),
                }
                .insert(conn)?;
                TrialRow::revise_draft(conn, trial_id, version, &loaded.protocol.trial.title)?;
                self.append_system(
                    conn,
                    &SystemEvent::ProtocolVersionAdded {
                        trial: trial_id.to_owned(),
                        version: version_number(trial_id, version)?,
                        protocol_hash: hash.parse()?,
                        note,
                    },
                    &by,
                )?;
                Ok(SavedVersion {
                    version,
                    changed: true,
                })
            })?;
        // The draft's protocol changed without a record on its chain: fold it afresh.
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(trial_id);
        }
        Ok(saved)
    }

    /// Proposes an amendment (statistician, with the password again): the next protocol version
    /// is stored with its author's authorship signature, pending. It comes into force when a
    /// statistician other than its author signs its approval ([`Service::sign`]); until then
    /// the engine records nothing. One amendment waits at a time. Returns the new version.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn amend(
        &self,
        actor: &Actor,
        trial_id: &str,
        amendment: &Amendment,
        password: &str,
        reason: &str,
    ) -> Result<i32, ServiceError> {
        actor.require(Permission::DirectTrials)?;
        let reason = need_reason(reason, "an amendment")?;
        let user = self.reauthenticate(actor, password, "an amendment")?;
        let by = self.attribution(actor, Some(&reason));
        self.run_command(
            actor,
            trial_id,
            Some(&reason),
            WriteLock::TrialAndSystem(trial_id),
            |c| {
                let current = newest_version(c.conn, c.trial)?;
                if current.version > c.trial.current_version {
                    return Err(ServiceError::Conflict(format!(
                        "protocol version {} of trial {trial_id} is pending: it needs an approval \
                         signature before another amendment",
                        current.version
                    )));
                }
                // The engine checks the amendment on a copy of the state: it records the
                // change only when the version is approved.
                let mut trial_state = c.state.clone();
                let (text, note) = match amendment {
                    Amendment::AddArm { id, name, ratio } => {
                        c.engine.add_arm(
                            &mut trial_state,
                            NewArm {
                                id: id.clone(),
                                name: name.clone(),
                                prior: None,
                                ratio: *ratio,
                            },
                        )?;
                        // The version states the prior the engine gives the arm, and the
                        // simulation scenarios give it the reference arm's truth (no effect).
                        let prior = trial_state
                            .arms
                            .iter()
                            .find(|a| a.id == *id)
                            .map(|a| a.prior);
                        let reference = c
                            .protocol
                            .protocol
                            .control()
                            .or_else(|| c.protocol.protocol.arms.first())
                            .map(|a| a.id.to_string());
                        let text = amendment::amended_text(
                            &current.source,
                            amendment,
                            prior.as_ref(),
                            reference.as_deref(),
                        )?;
                        (text, format!("arm {id} added: {reason}"))
                    }
                    Amendment::MaxParticipants(to) => {
                        c.engine.change_max_participants(&mut trial_state, *to)?;
                        let text = amendment::amended_text(&current.source, amendment, None, None)?;
                        (text, format!("maximum participants {to}: {reason}"))
                    }
                };
                let version = current.version + 1;
                let origin = format!("trial {trial_id} version {version}");
                let loaded = LoadedProtocol::from_toml(&text, &origin)?;
                let hash = loaded.hash.to_hex();
                ProtocolVersionRow {
                    trial_id: trial_id.to_owned(),
                    version,
                    hash: hash.clone(),
                    source: text,
                    note: note.clone(),
                    created_by: actor.username.clone(),
                    created_at: by.recorded_at.as_str().to_owned(),
                }
                .insert(c.conn)?;
                self.append_system(
                    c.conn,
                    &SystemEvent::ProtocolVersionAdded {
                        trial: trial_id.to_owned(),
                        version: version_number(trial_id, version)?,
                        protocol_hash: hash.parse()?,
                        note,
                    },
                    &by,
                )?;
                self.signature(c.conn, c.trial, version, Meaning::Authorship, &user, &by)?;
                Ok((Vec::new(), version))
            },
        )
    }

    /// Brings the pending amendment into force with `user`'s approval signature: the engine
    /// records what the version changes (each arm it adds, a new maximum), the trial moves to
    /// the version, and the signature is bound to it. Returns the signature's seq.
    pub(super) fn approve_amendment(
        &self,
        actor: &Actor,
        trial_id: &str,
        user: &UserRow,
        by: &Attribution,
    ) -> Result<u64, ServiceError> {
        self.run_command(
            actor,
            trial_id,
            None,
            WriteLock::TrialAndSystem(trial_id),
            |c| {
                let version = c.trial.current_version + 1;
                let pending =
                    ProtocolVersionRow::find(c.conn, trial_id, version)?.ok_or_else(|| {
                        ServiceError::Conflict(format!("trial {trial_id} has no pending amendment"))
                    })?;
                let origin = format!("trial {trial_id} version {version}");
                let loaded = LoadedProtocol::from_toml(&pending.source, &origin)?;
                super::four_eyes(&pending, Meaning::Approval, user)?;
                Self::require_simulated(c.conn, &c.state.status, &pending, &loaded.protocol)?;
                let mut events = Vec::new();
                for arm in &loaded.protocol.arms {
                    if c.state.arm_index(&arm.id).is_none() {
                        events.extend(c.engine.add_arm(
                            c.state,
                            NewArm {
                                id: arm.id.clone(),
                                name: arm.name.clone(),
                                prior: Some(arm.prior),
                                ratio: arm.ratio,
                            },
                        )?);
                    }
                }
                let to = loaded.protocol.trial.max_participants;
                if to != c.state.max_participants {
                    events.extend(c.engine.change_max_participants(c.state, to)?);
                }
                if events.is_empty() {
                    return Err(ServiceError::Integrity(format!(
                        "protocol version {version} of trial {trial_id} changes nothing the \
                         engine records"
                    )));
                }
                TrialRow::set_version(c.conn, trial_id, version)?;
                let seq = self.signature(c.conn, c.trial, version, Meaning::Approval, user, by)?;
                Ok((events, seq))
            },
        )
    }
}
