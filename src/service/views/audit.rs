//! The audit trail as each reader may see it: a record of a trial chain whose event the
//! reader's [`Sight`] does not reveal is **sealed**: its kind and payload are replaced, its
//! hash, links and attribution stay (so the chain still verifies). While a trial runs, a kind
//! filter or a sort by kind leaves out the chains with sealed records, so that neither can tell
//! sealed records apart.

use std::collections::BTreeMap;

use super::*;
use crate::engine::EventBody;
use crate::service::Permission;
use crate::store::{AuditQuery, AuditSort, CheckpointRow};

/// What a sealed record shows instead of its kind.
pub const SEALED_KIND: &str = "sealed";

impl Service {
    /// The viewer's sight of a chain: `None` for the system chain (nothing is sealed there).
    fn chain_sight(
        &self,
        actor: &Actor,
        chain: &str,
        conn: &mut store::DbConn,
    ) -> Result<Option<Sight>, ServiceError> {
        let Some(trial_id) = chain.strip_prefix("trial:") else {
            return Ok(None);
        };
        Ok(Some(self.snapshot(conn, trial_id)?.sight(actor)))
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
        let mut conn = self.conn()?;
        let partly_sealed = self.partly_sealed_chains(actor, &mut conn)?;
        let mut query = query.clone();
        query.excluded_chains = if query.kind.is_some() || query.sort == AuditSort::Kind {
            partly_sealed.clone()
        } else {
            Vec::new()
        };
        let (rows, total) = AuditRow::search(&mut conn, &query)?;
        let mut sights: BTreeMap<String, Option<Sight>> = BTreeMap::new();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let sight = match sights.get(&row.chain) {
                Some(sight) => *sight,
                None => {
                    let sight = self.chain_sight(actor, &row.chain, &mut conn)?;
                    sights.insert(row.chain.clone(), sight);
                    sight
                }
            };
            entries.push(audit_entry(row, sight));
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
        let sight = self.chain_sight(actor, &chain, &mut conn)?;
        Ok(AuditRow::after(&mut conn, &chain, after.max(0))?
            .into_iter()
            .map(|row| audit_entry(row, sight))
            .collect())
    }
}

/// A record as a reader with `sight` of its chain sees it. A payload that does not read as an
/// engine event is sealed too (fail closed).
fn audit_entry(row: AuditRow, sight: Option<Sight>) -> AuditEntry {
    let sealed = sight.is_some_and(|sight| {
        serde_json::from_str::<EventBody>(&row.payload)
            .map_or(true, |event| !sight.reveals(event.disclosure()))
    });
    AuditEntry {
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
