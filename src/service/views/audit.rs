//! The audit trail as each reader may see it: a record of a trial chain whose event the
//! reader's [`Sight`] does not reveal is **sealed**: its kind and payload are replaced, its
//! hash, links and attribution stay (so the chain still verifies). While a trial runs, a kind
//! filter or a sort by kind leaves out the chains with sealed records, so that neither can tell
//! sealed records apart.
//!
//! A record the reader may see is also given as labelled fields ([`AuditField`]), with each
//! participant number shown as the subject id the engine's history holds for it (the
//! enrolment record, operational, names it to every reader anyway).

use std::collections::BTreeMap;

use super::*;
use crate::engine::EventBody;
use crate::service::Permission;
use crate::store::{AuditQuery, AuditSort, CheckpointRow};

/// What a sealed record shows instead of its kind.
pub const SEALED_KIND: &str = "sealed";

/// What a reader sees of one chain: their sight (`None` for the system chain, where nothing is
/// sealed) and the subject id of each participant number.
#[derive(Debug, Clone, Default)]
struct ChainView {
    sight: Option<Sight>,
    subjects: Vec<String>,
}

impl Service {
    /// The viewer's sight of a chain: `None` for the system chain (nothing is sealed there).
    fn chain_sight(
        &self,
        actor: &Actor,
        chain: &str,
        conn: &mut store::DbConn,
    ) -> Result<Option<Sight>, ServiceError> {
        Ok(self.chain_view(actor, chain, conn)?.sight)
    }

    /// The viewer's sight of a chain and its subject ids by participant number.
    fn chain_view(
        &self,
        actor: &Actor,
        chain: &str,
        conn: &mut store::DbConn,
    ) -> Result<ChainView, ServiceError> {
        let Some(trial_id) = chain.strip_prefix("trial:") else {
            return Ok(ChainView::default());
        };
        let snapshot = self.snapshot(conn, trial_id)?;
        Ok(ChainView {
            sight: Some(snapshot.sight(actor)),
            subjects: snapshot
                .history
                .subjects
                .iter()
                .map(|s| s.subject_id.clone())
                .collect(),
        })
    }

    /// The trials the viewer may read the audit trail of, each exportable now or with the
    /// reason it is not (the same rule [`Service::export`] applies).
    pub fn export_choices(&self, actor: &Actor) -> Result<Vec<ExportChoice>, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        let mut conn = self.conn()?;
        let mut choices = Vec::new();
        for (trial, _) in TrialRow::all_with_status(&mut conn)? {
            let refusal = self.export_refusal(&mut conn, actor, &trial.id)?;
            choices.push(ExportChoice {
                trial: trial.id,
                refusal,
            });
        }
        Ok(choices)
    }

    /// Whether the viewer may export trial `trial_id` now, or why not (the same rule
    /// [`Service::export`] applies), for the trial's page.
    pub fn export_choice(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<ExportChoice, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        let mut conn = self.conn()?;
        let refusal = self.export_refusal(&mut conn, actor, trial_id)?;
        Ok(ExportChoice {
            trial: trial_id.to_owned(),
            refusal,
        })
    }

    /// The trial chains on which the viewer would see sealed records.
    fn partly_sealed_chains(
        &self,
        actor: &Actor,
        conn: &mut store::DbConn,
    ) -> Result<Vec<String>, ServiceError> {
        if actor.may(Permission::SeeResults) {
            return Ok(Vec::new());
        }
        let mut chains = Vec::new();
        for (trial, _) in TrialRow::all_with_status(conn)? {
            let chain = chain_of(&trial.id)?.to_string();
            if let Some(sight) = self.chain_sight(actor, &chain, conn)? {
                if !sight.stopped {
                    chains.push(chain);
                }
            }
        }
        Ok(chains)
    }

    /// A page of the audit trail (admin, statistician, DMC, regulator). Records a reader may not
    /// see are sealed (module docs).
    pub fn audit_page(&self, actor: &Actor, query: &AuditQuery) -> Result<AuditPage, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        check_filter(query)?;
        let mut conn = self.conn()?;
        let partly_sealed = self.partly_sealed_chains(actor, &mut conn)?;
        let mut query = query.clone();
        query.excluded_chains = if query.kind.is_some() || query.sort == AuditSort::Kind {
            partly_sealed.clone()
        } else {
            Vec::new()
        };
        let (rows, total) = AuditRow::search(&mut conn, &query)?;
        let mut views: BTreeMap<String, ChainView> = BTreeMap::new();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            if !views.contains_key(&row.chain) {
                let view = self.chain_view(actor, &row.chain, &mut conn)?;
                views.insert(row.chain.clone(), view);
            }
            let view = views.get(&row.chain).cloned().unwrap_or_default();
            entries.push(audit_entry(row, &view));
        }
        Ok(AuditPage {
            entries,
            total,
            chains: AuditRow::chains(&mut conn)?,
            kinds: AuditRow::kinds_outside(&mut conn, &partly_sealed)?,
        })
    }

    /// Every signed checkpoint (roles that read the audit trail).
    pub fn checkpoints(&self, actor: &Actor) -> Result<Vec<CheckpointRow>, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        let mut conn = self.conn()?;
        let mut all = Vec::new();
        for chain in AuditRow::chains(&mut conn)? {
            all.extend(CheckpointRow::of_chain(&mut conn, &chain)?);
        }
        Ok(all)
    }

    /// Each chain's latest signed checkpoint and how many it has, chain by chain (the
    /// verification page: every command is signed, so the full list grows with the trial).
    pub fn signed_heads(&self, actor: &Actor) -> Result<Vec<(CheckpointRow, usize)>, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        let mut conn = self.conn()?;
        let mut heads = Vec::new();
        for chain in AuditRow::chains(&mut conn)? {
            if let Some(latest) = CheckpointRow::latest(&mut conn, &chain)? {
                let count = CheckpointRow::count_of(&mut conn, &chain)?;
                heads.push((latest, usize::try_from(count).unwrap_or(usize::MAX)));
            }
        }
        Ok(heads)
    }

    /// The trial's records after `after` as the viewer may see them (`GET …/events`).
    pub fn trial_events(
        &self,
        actor: &Actor,
        trial_id: &str,
        after: i64,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        actor.require(Permission::ReadAudit)?;
        let chain = chain_of(trial_id)?.to_string();
        let mut conn = self.conn()?;
        if TrialRow::find(&mut conn, trial_id)?.is_none() {
            return Err(ServiceError::NotFound(format!("no trial {trial_id}")));
        }
        let view = self.chain_view(actor, &chain, &mut conn)?;
        Ok(AuditRow::after(&mut conn, &chain, after.max(0))?
            .into_iter()
            .map(|row| audit_entry(row, &view))
            .collect())
    }
}

/// The longest text a filter field takes.
const FILTER_CHARS: usize = 200;

/// Refuses a filter the search cannot mean: dates that are not `YYYY-MM-DD`, a `to` before the
/// `from`, texts longer than [`FILTER_CHARS`], a negative offset or limit.
fn check_filter(query: &AuditQuery) -> Result<(), ServiceError> {
    let date = |field: &'static str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                crate::engine::nof1::parse_date(t)
                    .map_err(|problem| ServiceError::Invalid { field, problem })
            })
            .transpose()
    };
    let (from, to) = (date("from", &query.from)?, date("to", &query.to)?);
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(ServiceError::Invalid {
                field: "to",
                problem: format!("{to} is before the first day {from}"),
            });
        }
    }
    for (field, text) in [
        ("chain", &query.chain),
        ("kind", &query.kind),
        ("actor", &query.actor),
    ] {
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > FILTER_CHARS)
        {
            return Err(ServiceError::Invalid {
                field,
                problem: format!("at most {FILTER_CHARS} characters"),
            });
        }
    }
    if query.offset < 0 || query.limit < 0 {
        return Err(ServiceError::Invalid {
            field: "page",
            problem: "a page counts from 1".into(),
        });
    }
    Ok(())
}

/// A record as a reader with `sight` of its chain sees it. A payload that does not read as an
/// engine event is sealed too (fail closed).
fn audit_entry(row: AuditRow, view: &ChainView) -> AuditEntry {
    let sealed = view.sight.is_some_and(|sight| {
        serde_json::from_str::<EventBody>(&row.payload)
            .map_or(true, |event| !sight.reveals(event.disclosure()))
    });
    let fields = if sealed {
        Vec::new()
    } else {
        payload_fields(&row.payload, &view.subjects)
    };
    AuditEntry {
        fields,
        payload: if sealed {
            "(sealed until the trial stops)".to_owned()
        } else {
            row.payload
        },
        kind: if sealed {
            SEALED_KIND.to_owned()
        } else {
            row.kind
        },
        sealed,
        chain: row.chain,
        seq: row.seq,
        actor: row.actor,
        role: row.role,
        recorded_at: row.recorded_at,
        reason: row.reason,
        salt: if sealed { None } else { row.salt },
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

/// The longest a field's value is shown in full inside a record's cell; longer ones are cut
/// (the payload itself is in the exports and the events feed).
const FIELD_CHARS: usize = 400;

/// A payload's top-level fields in words, its `kind` left out (the record shows it). A key
/// `participant` holding a number names a participant of the chain: it is shown as `subject`
/// with the subject id (the number when the history has none for it).
fn payload_fields(payload: &str, subjects: &[String]) -> Vec<AuditField> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(payload)
    else {
        return vec![AuditField {
            label: "payload".to_owned(),
            value: cut(payload.to_owned()),
        }];
    };
    map.iter()
        .filter(|(key, _)| key.as_str() != "kind")
        .map(|(key, value)| {
            let (label, value) = labelled(key, value, subjects);
            AuditField {
                label,
                value: cut(value),
            }
        })
        .collect()
}

/// A key and its value in words.
fn labelled(key: &str, value: &serde_json::Value, subjects: &[String]) -> (String, String) {
    if key == "participant" {
        if let Some(number) = value.as_u64() {
            let subject = usize::try_from(number)
                .ok()
                .and_then(|i| subjects.get(i))
                .cloned()
                .unwrap_or_else(|| format!("participant {}", number + 1));
            return ("subject".to_owned(), subject);
        }
    }
    // A tagged value ({"kind": "continuous", "value": 5.0}) reads as its one field: "5".
    if let serde_json::Value::Object(map) = value {
        let mut fields = map
            .iter()
            .filter(|(k, v)| !(k.as_str() == "kind" && v.is_string()));
        if let (Some((inner, v)), None) = (fields.next(), fields.next()) {
            if inner == key {
                return (key.replace('_', " "), words(v, subjects));
            }
        }
    }
    (key.replace('_', " "), words(value, subjects))
}

/// A JSON value in words: objects as `label: value` pairs, lists joined.
fn words(value: &serde_json::Value, subjects: &[String]) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "none".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => {
            let nested = items.iter().any(Value::is_object);
            items
                .iter()
                .map(|v| words(v, subjects))
                .collect::<Vec<_>>()
                .join(if nested { "; " } else { ", " })
        }
        // A nested value's type tag says nothing a reader needs once its fields are shown.
        Value::Object(map) => map
            .iter()
            .filter(|(k, v)| !(map.len() > 1 && k.as_str() == "kind" && v.is_string()))
            .map(|(k, v)| {
                let (label, value) = labelled(k, v, subjects);
                format!("{label}: {value}")
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A value cut to [`FIELD_CHARS`] characters.
fn cut(mut value: String) -> String {
    if let Some((at, _)) = value.char_indices().nth(FIELD_CHARS) {
        value.truncate(at);
        value.push('…');
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_as_fields_with_subject_ids() {
        let subjects = vec!["S-001".to_owned(), "S-002".to_owned()];
        let fields = payload_fields(
            r#"{"day":{"kind":"continuous","value":5.5},"kind":"outcome_recorded","participant":1,"value":{"kind":"binary","response":true}}"#,
            &subjects,
        );
        assert_eq!(
            fields,
            vec![
                AuditField {
                    label: "day".into(),
                    value: "value: 5.5".into()
                },
                AuditField {
                    label: "subject".into(),
                    value: "S-002".into()
                },
                AuditField {
                    label: "value".into(),
                    value: "response: yes".into()
                },
            ]
        );
        let measured = payload_fields(r#"{"value":{"kind":"continuous","value":5.01}}"#, &[]);
        assert_eq!(
            measured,
            vec![AuditField {
                label: "value".into(),
                value: "5.01".into()
            }]
        );
        let unknown = payload_fields(r#"{"participant":7}"#, &subjects);
        assert_eq!(unknown[0].value, "participant 8");
        let text = payload_fields("not json", &subjects);
        assert_eq!(text[0].label, "payload");
        assert!(cut("x".repeat(500)).ends_with('…'));
    }
}
