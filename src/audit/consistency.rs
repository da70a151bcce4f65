//! Checks that bind chains to each other and to time, beyond each record's hash and each
//! checkpoint's signature (the model is Certificate Transparency, RFC 9162: signed heads, and
//! consistency between heads seen at different times):
//!
//! - [`verify_checkpoint_sequence`]: a chain's checkpoints form an unbroken signed sequence
//!   (each names the seq of its predecessor, so one deleted in the middle is missed by the
//!   next), and the chain's head is covered by one (so records appended or re-hashed after the
//!   last checkpoint, or every checkpoint deleted, are caught);
//! - [`verify_exported_heads`]: every `export` record of the system chain names a head (seq,
//!   hash) that is still in the exported trial's chain, so a trial chain cut or rewritten after
//!   an export no longer matches the system chain's memory of it;
//! - [`verify_extends`]: a later copy of a chain still holds every record of an earlier copy
//!   (an earlier export), unchanged, and every checkpoint of the earlier copy names a record of
//!   the later one: nothing was removed or rewritten in between.
//!
//! Like the rest of the audit layer this is pure: the records and checkpoints come in as
//! arguments (from the database or from export files), and the first inconsistency comes out
//! with its chain and seq.

use super::chain::{AuditRecord, Hash};
use super::chain_id::ChainId;
use super::checkpoint::Checkpoint;
use super::system::SystemEvent;

/// What is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyProblem {
    /// No checkpoint covers the chain's last record.
    #[error(
        "no signed checkpoint covers records {first} to {last} (the chain's head): the end of the \
         chain is not bound to the server"
    )]
    HeadNotCovered {
        /// The first record after the last checkpoint (1 when there is none).
        first: u64,
        /// The chain's last record.
        last: u64,
    },
    /// A checkpoint names a predecessor that is not there: a checkpoint was deleted.
    #[error(
        "the checkpoint signed here names a previous checkpoint at seq {previous}, which is \
         missing (the checkpoint before it is at seq {found})"
    )]
    PreviousMissing {
        /// The seq it names.
        previous: u64,
        /// The seq of the checkpoint that precedes it now (0 for none).
        found: u64,
    },
    /// A checkpoint names a predecessor earlier than the one before it, or after itself.
    #[error(
        "checkpoints out of order: the checkpoint signed here names a previous checkpoint at seq \
         {previous}, but the one before it is at seq {found}"
    )]
    OutOfOrder {
        /// The seq it names.
        previous: u64,
        /// The seq of the checkpoint that precedes it now.
        found: u64,
    },
    /// A record of an earlier copy is not in the later chain.
    #[error(
        "record {seq} of {source_name} (hash {hash}) is missing: the chain now ends at {last}"
    )]
    RecordRemoved {
        /// The record's seq.
        seq: u64,
        /// Its hash in the earlier copy.
        hash: Hash,
        /// The later chain's last seq (0 for none).
        last: u64,
        /// Where the earlier copy came from (an export file, the system chain's export record).
        source_name: String,
    },
    /// A record of an earlier copy has another hash now.
    #[error(
        "record {seq} had hash {was} in {source_name}, and has hash {now} now: it was rewritten"
    )]
    RecordChanged {
        /// The record's seq.
        seq: u64,
        /// Its hash in the earlier copy.
        was: Hash,
        /// Its hash now.
        now: Hash,
        /// Where the earlier copy came from.
        source_name: String,
    },
}

/// The first inconsistency found, with the chain and seq it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{chain} seq {seq}: {problem}")]
pub struct Inconsistency {
    /// The chain.
    pub chain: ChainId,
    /// The first bad seq (a record's, or the checkpoint's head).
    pub seq: u64,
    /// What is wrong (boxed: the hashes and the source's name make it large).
    pub problem: Box<ConsistencyProblem>,
}

/// Checks that one chain's checkpoints form an unbroken sequence and cover its head.
///
/// The checkpoints are taken in order of (seq, `previous`, signing time); each linked one must
/// name as `previous` the seq of the checkpoint just before it (0 for the first). Format-1
/// checkpoints (no link) are accepted where they stand and count as predecessors. Then the
/// chain's last record must be the head of some checkpoint. The checkpoints' signatures and
/// heads are [`super::verify_checkpoints`]'s job; run it first.
pub fn verify_checkpoint_sequence(
    chain: &ChainId,
    records: &[AuditRecord],
    checkpoints: &[Checkpoint],
) -> Result<(), Inconsistency> {
    let mut order: Vec<&Checkpoint> = checkpoints.iter().collect();
    order.sort_by(|a, b| (a.seq, a.previous, &a.signed_at).cmp(&(b.seq, b.previous, &b.signed_at)));
    let mut found = 0;
    for checkpoint in &order {
        if let Some(previous) = checkpoint.previous {
            let problem = if previous > checkpoint.seq || previous < found {
                Some(ConsistencyProblem::OutOfOrder { previous, found })
            } else if previous > found {
                Some(ConsistencyProblem::PreviousMissing { previous, found })
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Inconsistency {
                    chain: chain.clone(),
                    seq: checkpoint.seq,
                    problem: Box::new(problem),
                });
            }
        }
        found = checkpoint.seq;
    }
    if let Some(last) = records.last() {
        if !checkpoints.iter().any(|c| c.seq == last.seq) {
            let first = checkpoints
                .iter()
                .map(|c| c.seq)
                .filter(|s| *s < last.seq)
                .max()
                .map_or(1, |s| s + 1);
            return Err(Inconsistency {
                chain: chain.clone(),
                seq: first,
                problem: Box::new(ConsistencyProblem::HeadNotCovered {
                    first,
                    last: last.seq,
                }),
            });
        }
    }
    Ok(())
}

/// The record at `seq` of a verified chain (index `seq − 1`), or by search.
fn record_at(records: &[AuditRecord], seq: u64) -> Option<&AuditRecord> {
    usize::try_from(seq.wrapping_sub(1))
        .ok()
        .and_then(|i| records.get(i))
        .filter(|r| r.seq == seq)
        .or_else(|| records.iter().find(|r| r.seq == seq))
}

/// Checks that `(seq, hash)` is still record `seq` of `records` (the chain `chain`).
fn still_there(
    chain: &ChainId,
    records: &[AuditRecord],
    seq: u64,
    hash: Hash,
    source_name: &dyn Fn() -> String,
) -> Result<(), Inconsistency> {
    let fail = |problem| Inconsistency {
        chain: chain.clone(),
        seq,
        problem: Box::new(problem),
    };
    match record_at(records, seq) {
        Some(record) if record.hash == hash => Ok(()),
        Some(record) => Err(fail(ConsistencyProblem::RecordChanged {
            seq,
            was: hash,
            now: record.hash,
            source_name: source_name(),
        })),
        None => Err(fail(ConsistencyProblem::RecordRemoved {
            seq,
            hash,
            last: records.last().map_or(0, |r| r.seq),
            source_name: source_name(),
        })),
    }
}

/// Checks every `export` record of the system chain that exported trial `trial` (whose chain
/// is `records`): the head it names (seq and hash) must still be that record of the chain.
/// Records of other kinds, and exports of other trials, are skipped; a record that does not
/// read as a system event is [`super::verify_chain`]'s and the signature checks' concern, and
/// is skipped here too.
pub fn verify_exported_heads(
    system: &[AuditRecord],
    trial: &ChainId,
    records: &[AuditRecord],
) -> Result<(), Inconsistency> {
    let Some(trial_id) = trial.trial_id() else {
        return Ok(());
    };
    for record in system.iter().filter(|r| r.kind == "export") {
        let Ok(SystemEvent::Export {
            trial: exported,
            head_seq,
            head_hash,
            ..
        }) = record.to_system_event()
        else {
            continue;
        };
        if exported != trial_id {
            continue;
        }
        still_there(trial, records, head_seq, head_hash, &|| {
            format!("the export recorded at system seq {}", record.seq)
        })?;
    }
    Ok(())
}

/// Checks that `later` (chain `chain`) extends an earlier copy of the same chain: every record
/// of `earlier` is still there with its hash, and every checkpoint of `earlier_checkpoints`
/// (those of this chain) names the hash of the later record at its seq. `source_name` names the
/// earlier copy in the report (an export file).
pub fn verify_extends(
    chain: &ChainId,
    earlier: &[AuditRecord],
    earlier_checkpoints: &[Checkpoint],
    later: &[AuditRecord],
    source_name: &str,
) -> Result<(), Inconsistency> {
    let name = || source_name.to_owned();
    for record in earlier {
        still_there(chain, later, record.seq, record.hash, &name)?;
    }
    for checkpoint in earlier_checkpoints.iter().filter(|c| c.chain == *chain) {
        still_there(chain, later, checkpoint.seq, checkpoint.head_hash, &|| {
            format!(
                "the checkpoint signed {} in {source_name}",
                checkpoint.signed_at
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::tests::{at, chain};
    use crate::audit::{Attribution, ChainHead, Purpose, ServerKey, SystemEvent};

    fn by() -> Attribution {
        Attribution {
            actor: "system".into(),
            role: "server".into(),
            recorded_at: at(0),
            reason: None,
        }
    }

    /// One linked checkpoint per record, as the server signs them.
    fn signed(records: &[AuditRecord]) -> Vec<Checkpoint> {
        let key = ServerKey::from_bytes(&[3; 32]);
        let mut previous = 0;
        records
            .iter()
            .map(|r| {
                let head = ChainHead {
                    chain: r.chain.clone(),
                    seq: r.seq,
                    hash: r.hash,
                };
                let c =
                    Checkpoint::sign_after(&key, &head, Purpose::Command, at(1), previous).unwrap();
                previous = r.seq;
                c
            })
            .collect()
    }

    #[test]
    fn linked_checkpoints_catch_a_deletion_and_an_uncovered_head() {
        let system = ChainId::system();
        let records = chain(6);
        let all = signed(&records);
        assert_eq!(verify_checkpoint_sequence(&system, &records, &all), Ok(()));

        let mut holed = all.clone();
        holed.remove(2);
        let found = verify_checkpoint_sequence(&system, &records, &holed).unwrap_err();
        assert_eq!(found.seq, 4);
        assert_eq!(
            *found.problem,
            ConsistencyProblem::PreviousMissing {
                previous: 3,
                found: 2
            }
        );

        let found = verify_checkpoint_sequence(&system, &records, &all[..4]).unwrap_err();
        assert_eq!(
            (found.seq, *found.problem),
            (5, ConsistencyProblem::HeadNotCovered { first: 5, last: 6 })
        );
        let found = verify_checkpoint_sequence(&system, &records, &[]).unwrap_err();
        assert_eq!(found.seq, 1);
        assert_eq!(verify_checkpoint_sequence(&system, &[], &[]), Ok(()));

        // Old checkpoints (no link) count as predecessors; the first linked one names the last.
        let key = ServerKey::from_bytes(&[3; 32]);
        let head = |r: &AuditRecord| ChainHead {
            chain: r.chain.clone(),
            seq: r.seq,
            hash: r.hash,
        };
        let old = Checkpoint::sign(&key, &head(&records[1]), Purpose::Look, at(1)).unwrap();
        let new =
            Checkpoint::sign_after(&key, &head(&records[5]), Purpose::Manual, at(2), 2).unwrap();
        assert_eq!(
            verify_checkpoint_sequence(&system, &records, &[new.clone(), old]),
            Ok(())
        );
        let found = verify_checkpoint_sequence(&system, &records, &[new]).unwrap_err();
        assert!(matches!(
            *found.problem,
            ConsistencyProblem::PreviousMissing { previous: 2, .. }
        ));
        assert!(
            Checkpoint::sign_after(&key, &head(&records[1]), Purpose::Manual, at(2), 3).is_err()
        );
    }

    #[test]
    fn an_exported_head_must_still_be_in_the_trial_chain() {
        let trial = ChainId::trial("T-1").unwrap();
        let mut records = chain(5);
        for r in &mut records {
            r.chain = trial.clone();
        }
        let export = |seq: u64, hash: Hash| SystemEvent::Export {
            trial: "T-1".into(),
            format: "jsonl".into(),
            unblinded: true,
            file: "T-1.jsonl".into(),
            sha256: Hash::from_bytes([1; 32]),
            bytes: 10,
            head_seq: seq,
            head_hash: hash,
            system_head_seq: None,
            os_user: None,
        };
        let system = vec![AuditRecord::system(None, &export(4, records[3].hash), &by()).unwrap()];
        assert_eq!(verify_exported_heads(&system, &trial, &records), Ok(()));
        let found = verify_exported_heads(&system, &trial, &records[..3]).unwrap_err();
        assert_eq!((found.chain.clone(), found.seq), (trial.clone(), 4));
        assert!(found.to_string().contains("system seq 1"), "{found}");
        let rewritten =
            vec![AuditRecord::system(None, &export(2, records[3].hash), &by()).unwrap()];
        let found = verify_exported_heads(&rewritten, &trial, &records).unwrap_err();
        assert!(matches!(
            *found.problem,
            ConsistencyProblem::RecordChanged { seq: 2, .. }
        ));
        // Another trial's exports are not this chain's concern.
        let other = ChainId::trial("T-2").unwrap();
        assert_eq!(verify_exported_heads(&system, &other, &[]), Ok(()));
    }

    #[test]
    fn a_later_chain_must_extend_the_earlier_copy() {
        let system = ChainId::system();
        let records = chain(6);
        let checkpoints = signed(&records[..4]);
        let earlier = &records[..4];
        assert_eq!(
            verify_extends(&system, earlier, &checkpoints, &records, "a.jsonl"),
            Ok(())
        );
        let found =
            verify_extends(&system, earlier, &checkpoints, &records[..2], "a.jsonl").unwrap_err();
        assert_eq!(found.seq, 3);
        assert!(found.to_string().contains("a.jsonl"), "{found}");
        let mut rewritten = records.clone();
        rewritten[3].hash = Hash::from_bytes([9; 32]);
        let found =
            verify_extends(&system, earlier, &checkpoints, &rewritten, "a.jsonl").unwrap_err();
        assert!(matches!(
            *found.problem,
            ConsistencyProblem::RecordChanged { seq: 4, .. }
        ));
    }
}
