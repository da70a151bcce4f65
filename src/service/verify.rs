//! Verification of what is stored: every chain's hashes and record format, every salt of a
//! trial chain against the trial's seed, every checkpoint's signature (with a pinned key, or
//! the server's) and head, the checkpoints' links and each head's coverage, the heads named by
//! the system chain's `export` records, earlier exports the database must extend, and a replay
//! of every trial through the engine. Reads only; names the chain and the first bad seq.

use std::collections::btree_map::{BTreeMap, Entry};
use std::fmt;

use serde::Serialize;
use tracing::instrument;

use super::{record_from_row, Service, ServiceError};
use crate::audit::{
    verify_chain, verify_checkpoint_sequence, verify_checkpoints, verify_exported_heads,
    verify_salts, AuditRecord, ChainId, Checkpoint, Inconsistency, PublicKey, Purpose,
    UtcTimestamp,
};
use crate::engine::{replay, Event, TrialSeed};
use crate::export::EarlierExport;
use crate::protocol::LoadedProtocol;
use crate::store::{AuditRow, CheckpointRow, DbConn, TrialRow};

/// The first thing wrong in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    /// The chain (`system` or `trial:<id>`).
    pub chain: String,
    /// The record (or checkpoint) sequence number.
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} seq {}: {}", self.chain, self.seq, self.problem)
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Chains checked.
    pub chains: usize,
    /// Records checked.
    pub records: usize,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

/// The first replay mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayProblem {
    /// Trial.
    pub trial: String,
    /// The first event that differs.
    pub seq: u64,
    /// How.
    pub problem: String,
}

impl fmt::Display for ReplayProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trial {} event {}: {}",
            self.trial, self.seq, self.problem
        )
    }
}

/// A stored checkpoint row parsed, or the problem with it.
pub(super) fn checkpoint_from_row(row: &CheckpointRow) -> Result<Checkpoint, String> {
    let purpose: Purpose = row
        .purpose
        .parse()
        .map_err(|e: crate::audit::AuditError| e.to_string())?;
    let previous = row
        .previous
        .map(|p| u64::try_from(p).map_err(|_| format!("previous checkpoint seq {p} is negative")))
        .transpose()?;
    Ok(Checkpoint {
        chain: row.chain.parse::<ChainId>().map_err(|e| e.to_string())?,
        seq: u64::try_from(row.seq).map_err(|e| e.to_string())?,
        head_hash: row
            .head_hash
            .parse()
            .map_err(|e: crate::audit::AuditError| e.to_string())?,
        signed_at: UtcTimestamp::parse(&row.signed_at).map_err(|e| e.to_string())?,
        purpose,
        public_key: row
            .public_key
            .parse()
            .map_err(|e: crate::audit::AuditError| e.to_string())?,
        previous,
        signature: row
            .signature
            .parse()
            .map_err(|e: crate::audit::AuditError| e.to_string())?,
    })
}

pub(super) fn chain_records(
    conn: &mut DbConn,
    chain: &str,
) -> Result<Result<Vec<AuditRecord>, ChainProblem>, ServiceError> {
    let mut records = Vec::new();
    for row in AuditRow::after(conn, chain, 0)? {
        let seq = u64::try_from(row.seq).unwrap_or(0);
        match record_from_row(row) {
            Ok(record) => records.push(record),
            Err(e) => {
                return Ok(Err(ChainProblem {
                    chain: chain.to_owned(),
                    seq,
                    problem: e.to_string(),
                }))
            }
        }
    }
    Ok(Ok(records))
}

/// Checks every salt of a trial chain against the trial's stored seed (the system chain has
/// none, which [`verify_chain`] checks): a salt that the seed does not derive was chosen.
fn check_salts(
    conn: &mut DbConn,
    chain: &str,
    records: &[AuditRecord],
) -> Result<Result<(), ChainProblem>, ServiceError> {
    let fail = |seq: u64, problem: String| {
        Ok(Err(ChainProblem {
            chain: chain.to_owned(),
            seq,
            problem,
        }))
    };
    let Some(first) = records.first() else {
        return Ok(Ok(()));
    };
    let Some(trial_id) = first.chain.trial_id() else {
        return Ok(Ok(()));
    };
    let Some(trial) = TrialRow::find(conn, trial_id)? else {
        return fail(1, format!("the chain's trial {trial_id} does not exist"));
    };
    let seed = match TrialSeed::from_hex(&trial.seed_hex) {
        Ok(seed) => seed,
        Err(e) => return fail(1, format!("the trial's seed: {e}")),
    };
    match verify_salts(records, &seed) {
        Ok(()) => Ok(Ok(())),
        Err(broken) => fail(broken.seq, broken.problem.to_string()),
    }
}

/// What `audit verify` checks besides the stored chains themselves.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this trial's chain (and the system chain's exports of it).
    pub trial: Option<String>,
    /// The key the checkpoints must be signed with, instead of this server's own key file's
    /// (`--public-key`: a regulator pins the fingerprint `serve` printed at first start).
    pub public_key: Option<PublicKey>,
    /// Earlier exports the database must extend (`--against`): every record and checkpoint
    /// they hold must still be there, unchanged.
    pub against: Vec<EarlierExport>,
}

fn inconsistency(found: Inconsistency) -> ChainProblem {
    ChainProblem {
        chain: found.chain.to_string(),
        seq: found.seq,
        problem: found.problem.to_string(),
    }
}

impl Service {
    /// Verifies every chain (or one trial's) and its checkpoints against this server's key, and
    /// every salt of a trial chain against the trial's seed.
    pub fn verify(&self, trial: Option<&str>) -> Result<VerifyReport, ServiceError> {
        self.verify_with(&VerifyOptions {
            trial: trial.map(str::to_owned),
            ..VerifyOptions::default()
        })
    }

    /// Verifies every chain (or one trial's): its hashes and record format, every salt of a
    /// trial chain against the trial's seed, every checkpoint's signature (with the pinned key
    /// or this server's) and head, the checkpoints' links and the head's coverage, the heads
    /// the system chain's `export` records name, and the earlier exports given.
    #[instrument(skip_all, fields(trial = options.trial.as_deref().unwrap_or("*"), against = options.against.len()))]
    pub fn verify_with(&self, options: &VerifyOptions) -> Result<VerifyReport, ServiceError> {
        let mut conn = self.conn()?;
        let system = ChainId::system().to_string();
        let chains: Vec<String> = match &options.trial {
            Some(id) => {
                TrialRow::find(&mut conn, id)?
                    .ok_or_else(|| ServiceError::NotFound(format!("no trial {id}")))?;
                vec![ChainId::trial(id)?.to_string()]
            }
            None => {
                let mut chains = AuditRow::chains(&mut conn)?;
                for id in TrialRow::ids(&mut conn)? {
                    let chain = ChainId::trial(&id)?.to_string();
                    if !chains.contains(&chain) {
                        chains.push(chain);
                    }
                }
                chains
            }
        };
        let trusted = options.public_key.unwrap_or_else(|| self.public_key());
        let mut report = VerifyReport {
            chains: chains.len(),
            records: 0,
            checkpoints: 0,
            problem: None,
        };
        let mut verified: BTreeMap<String, Vec<AuditRecord>> = BTreeMap::new();
        for chain in &chains {
            match self.verify_one(&mut conn, chain, &trusted, &mut report)? {
                Ok(records) => {
                    verified.insert(chain.clone(), records);
                }
                Err(problem) => {
                    report.problem = Some(problem);
                    return Ok(report);
                }
            }
        }
        // The chains the cross-checks need that this run did not verify (one trial's run):
        // read as stored.
        let mut needed: Vec<String> = vec![system.clone()];
        for earlier in &options.against {
            needed.extend(earlier.chains.iter().map(|(chain, _)| chain.to_string()));
        }
        for chain in needed {
            if let Entry::Vacant(slot) = verified.entry(chain) {
                match chain_records(&mut conn, slot.key())? {
                    Ok(records) => {
                        slot.insert(records);
                    }
                    Err(problem) => {
                        report.problem = Some(problem);
                        return Ok(report);
                    }
                }
            }
        }
        let system_records = verified.get(&system).map_or(&[][..], Vec::as_slice);
        for chain in &chains {
            let Ok(id) = chain.parse::<ChainId>() else {
                continue;
            };
            let records = verified.get(chain).map_or(&[][..], Vec::as_slice);
            if let Err(found) = verify_exported_heads(system_records, &id, records) {
                report.problem = Some(inconsistency(found));
                return Ok(report);
            }
        }
        for earlier in &options.against {
            let later = |chain: &ChainId| {
                verified
                    .get(&chain.to_string())
                    .map_or(&[][..], Vec::as_slice)
            };
            if let Err(found) = earlier.extended_by(later) {
                report.problem = Some(inconsistency(found));
                return Ok(report);
            }
        }
        Ok(report)
    }

    /// One chain: records, salts, checkpoints (signatures, heads, links, head coverage).
    fn verify_one(
        &self,
        conn: &mut DbConn,
        chain: &str,
        trusted: &PublicKey,
        report: &mut VerifyReport,
    ) -> Result<Result<Vec<AuditRecord>, ChainProblem>, ServiceError> {
        let fail = |seq: u64, problem: String| {
            Ok(Err(ChainProblem {
                chain: chain.to_owned(),
                seq,
                problem,
            }))
        };
        // Checkpoints first: one signed while we read cannot point past the records read.
        let checkpoint_rows = CheckpointRow::of_chain(conn, chain)?;
        let records = match chain_records(conn, chain)? {
            Ok(records) => records,
            Err(problem) => return Ok(Err(problem)),
        };
        report.records += records.len();
        if let Err(broken) = verify_chain(&records) {
            return fail(broken.seq, broken.problem.to_string());
        }
        if let Err(problem) = check_salts(conn, chain, &records)? {
            return Ok(Err(problem));
        }
        let mut checkpoints = Vec::new();
        for row in checkpoint_rows {
            match checkpoint_from_row(&row) {
                Ok(checkpoint) => checkpoints.push(checkpoint),
                Err(problem) => {
                    return fail(
                        u64::try_from(row.seq).unwrap_or(0),
                        format!("checkpoint: {problem}"),
                    )
                }
            }
        }
        report.checkpoints += checkpoints.len();
        if let Err(broken) = verify_checkpoints(&records, &checkpoints, trusted) {
            return fail(
                broken.seq,
                format!("checkpoint signed {}: {}", broken.signed_at, broken.problem),
            );
        }
        let id: ChainId = chain.parse()?;
        if let Err(found) = verify_checkpoint_sequence(&id, &records, &checkpoints) {
            return Ok(Err(inconsistency(found)));
        }
        Ok(Ok(records))
    }

    /// Replays every trial (or one) through the engine from its stored inputs and its revealed
    /// seed, checking the seed against its commitment and every derived event against the log.
    /// Returns the number of events replayed per trial.
    pub fn replay(
        &self,
        trial: Option<&str>,
    ) -> Result<Result<Vec<(String, usize)>, ReplayProblem>, ServiceError> {
        let mut conn = self.conn()?;
        let ids = match trial {
            Some(id) => vec![id.to_owned()],
            None => TrialRow::ids(&mut conn)?,
        };
        let mut replayed = Vec::new();
        for id in ids {
            let trial = TrialRow::find(&mut conn, &id)?
                .ok_or_else(|| ServiceError::NotFound(format!("no trial {id}")))?;
            let problem = |seq: u64, problem: String| ReplayProblem {
                trial: id.clone(),
                seq,
                problem,
            };
            let seed = match TrialSeed::from_hex(&trial.seed_hex) {
                Ok(seed) => seed,
                Err(e) => return Ok(Err(problem(0, format!("seed: {e}")))),
            };
            if seed.commitment() != trial.seed_commitment {
                return Ok(Err(problem(
                    0,
                    "the seed does not match its commitment".into(),
                )));
            }
            let chain = ChainId::trial(&id)?.to_string();
            let mut events: Vec<Event> = Vec::new();
            for row in AuditRow::after(&mut conn, &chain, 0)? {
                let seq = u64::try_from(row.seq).unwrap_or(0);
                match record_from_row(row).and_then(|r| r.to_event().map_err(ServiceError::from)) {
                    Ok(event) => events.push(event),
                    Err(e) => return Ok(Err(problem(seq, e.to_string()))),
                }
            }
            let version = crate::service::trial::base_version(
                &mut conn,
                &id,
                trial.current_version,
                events.first(),
            )?;
            let loaded = LoadedProtocol::from_toml(
                &version.source,
                &format!("trial {id} version {}", version.version),
            )?;
            if !loaded.binds(&version.hash) {
                return Ok(Err(problem(
                    0,
                    format!(
                        "protocol version {} does not have its stored hash",
                        version.version
                    ),
                )));
            }
            if let Some((seq, (protocol_hash, seed_commitment))) = events
                .first()
                .and_then(|e| e.body.started_with().map(|started| (&e.seq, started)))
            {
                if seed_commitment != trial.seed_commitment {
                    return Ok(Err(problem(
                        *seq,
                        "the logged seed commitment is not the trial's".into(),
                    )));
                }
                if protocol_hash != version.hash {
                    return Ok(Err(problem(
                        *seq,
                        "the trial started on a protocol none of its versions has".into(),
                    )));
                }
            }

            if let Err(mismatch) = replay(&loaded.protocol, seed, &events) {
                return Ok(Err(problem(mismatch.seq, mismatch.problem)));
            }
            replayed.push((id, events.len()));
        }
        Ok(Ok(replayed))
    }
}
