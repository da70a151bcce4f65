//! Witnessed heads: signed checkpoints kept outside the database (the idea of Certificate
//! Transparency's witnesses, RFC 9162), so that whoever can write the database cannot roll a
//! chain back, or rewrite it, without the heads it had handed out failing to match.
//!
//! # Witness line format
//!
//! A witness file holds one line per witnessed head: the canonical JSON of the [`Checkpoint`]
//! (every field, the signature included; see [`super::checkpoint`] for what the signature covers)
//! and a newline. Each line is self-contained: it can be checked on its own, copied out of an
//! e-mail, or appended to any other witness file. Blank lines are ignored.
//!
//! This module parses lines and checks heads against records. It reads and writes no files,
//! sends no mail and reads no clock: the service writes the log and queues the mail.

use super::chain::{AuditRecord, Hash};
use super::chain_id::ChainId;
use super::checkpoint::{Checkpoint, CheckpointProblem, PublicKey};
use super::AuditError;
use crate::canonical::canonical;

/// The longest witness line accepted, in bytes (a checkpoint line is about 400 bytes).
pub const MAX_WITNESS_LINE: usize = 4096;

/// One head read from a witness file, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedHead {
    /// The 1-based line number in the witness file.
    pub line: usize,
    /// The signed head.
    pub checkpoint: Checkpoint,
}

/// A witness file line that does not read as a signed head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct WitnessLineError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong and what would be valid.
    pub problem: String,
}

/// A witnessed head that the chain does not hold, or whose signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("witness line {line}: head of chain {chain} at record {seq}: {problem}")]
pub struct WitnessBreak {
    /// The 1-based line number in the witness file.
    pub line: usize,
    /// The head's chain.
    pub chain: ChainId,
    /// The head's sequence number.
    pub seq: u64,
    /// What is wrong.
    pub problem: CheckpointProblem,
}

/// The witness line of `checkpoint`: its canonical JSON and a newline (module docs).
pub fn witness_line(checkpoint: &Checkpoint) -> Result<String, AuditError> {
    let mut line = canonical(checkpoint)?;
    line.push('\n');
    Ok(line)
}

/// Reads a witness file's text: every non-blank line must be one signed head of at most
/// [`MAX_WITNESS_LINE`] bytes. Fails on the first line that is not, naming it.
pub fn parse_witness_file(text: &str) -> Result<Vec<WitnessedHead>, WitnessLineError> {
    let mut heads = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if raw.len() > MAX_WITNESS_LINE {
            return Err(WitnessLineError {
                line,
                problem: format!(
                    "{} bytes long; a witness line is at most {MAX_WITNESS_LINE} bytes",
                    raw.len()
                ),
            });
        }
        let checkpoint: Checkpoint = serde_json::from_str(raw).map_err(|e| WitnessLineError {
            line,
            problem: format!(
                "not a signed head (the JSON of a checkpoint: chain, seq, head_hash, \
                     signed_at, purpose, public_key, signature): {e}"
            ),
        })?;
        heads.push(WitnessedHead { line, checkpoint });
    }
    Ok(heads)
}

/// Checks the witnessed heads of one chain against its records, given as the `(seq, hash)` of
/// each record in sequence order (from a chain that passed [`super::verify_chain`], or from a
/// verified export): each head's signature must verify under `trusted`, and the record at its
/// sequence number must exist and have its hash. Heads of other chains are ignored (the caller
/// checks each chain's). Reports the first failing head in file order.
pub fn check_witnessed(
    chain: &ChainId,
    records: &[(u64, Hash)],
    heads: &[WitnessedHead],
    trusted: &PublicKey,
) -> Result<(), WitnessBreak> {
    let last_seq = records.last().map_or(0, |r| r.0);
    for head in heads.iter().filter(|h| h.checkpoint.chain == *chain) {
        let checkpoint = &head.checkpoint;
        let fail = |problem| WitnessBreak {
            line: head.line,
            chain: checkpoint.chain.clone(),
            seq: checkpoint.seq,
            problem,
        };
        checkpoint.verify_signature(trusted).map_err(fail)?;
        match records.binary_search_by_key(&checkpoint.seq, |r| r.0) {
            Ok(i) if records[i].1 == checkpoint.head_hash => {}
            Ok(i) => {
                return Err(fail(CheckpointProblem::HeadMismatch {
                    record_hash: records[i].1,
                }))
            }
            Err(_) if checkpoint.seq > last_seq => {
                return Err(fail(CheckpointProblem::ChainCut { last_seq }))
            }
            Err(_) => return Err(fail(CheckpointProblem::RecordMissing)),
        }
    }
    Ok(())
}

/// The `(seq, hash)` pairs [`check_witnessed`] reads, from records.
pub fn record_hashes(records: &[AuditRecord]) -> Vec<(u64, Hash)> {
    records.iter().map(|r| (r.seq, r.hash)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::tests::{at, chain};
    use crate::audit::{verify_chain, ChainHead, Purpose, ServerKey};

    fn signed(key: &ServerKey, records: &[AuditRecord], seq: usize) -> Checkpoint {
        let head: ChainHead = verify_chain(&records[..seq]).unwrap().unwrap();
        Checkpoint::sign(key, &head, Purpose::Look, at(seq as u32)).unwrap()
    }

    #[test]
    fn lines_round_trip_and_are_self_contained() {
        let key = ServerKey::from_bytes(&[3; 32]);
        let records = chain(5);
        let a = signed(&key, &records, 2);
        let b = signed(&key, &records, 5);
        let text = format!(
            "{}\n{}",
            witness_line(&a).unwrap(),
            witness_line(&b).unwrap()
        );
        assert_eq!(witness_line(&a).unwrap().matches('\n').count(), 1);
        let heads = parse_witness_file(&text).unwrap();
        assert_eq!(heads.len(), 2);
        assert_eq!(heads[0].line, 1);
        assert_eq!(heads[1].line, 3);
        assert_eq!(heads[1].checkpoint, b);
        assert_eq!(
            check_witnessed(
                &ChainId::system(),
                &record_hashes(&records),
                &heads,
                &key.public_key()
            ),
            Ok(())
        );
    }

    #[test]
    fn a_cut_or_rewritten_chain_or_a_forged_head_is_named_by_line() {
        let key = ServerKey::from_bytes(&[3; 32]);
        let records = chain(6);
        let text = [2, 6]
            .iter()
            .map(|&s| witness_line(&signed(&key, &records, s)).unwrap())
            .collect::<String>();
        let heads = parse_witness_file(&text).unwrap();
        let system = ChainId::system();

        let cut = check_witnessed(
            &system,
            &record_hashes(&records[..4]),
            &heads,
            &key.public_key(),
        )
        .unwrap_err();
        assert_eq!((cut.line, cut.seq), (2, 6));
        assert_eq!(cut.problem, CheckpointProblem::ChainCut { last_seq: 4 });

        let gone = check_witnessed(&system, &[], &heads, &key.public_key()).unwrap_err();
        assert_eq!((gone.line, gone.seq), (1, 2));

        let other = ServerKey::from_bytes(&[4; 32]);
        let foreign = check_witnessed(
            &system,
            &record_hashes(&records),
            &heads,
            &other.public_key(),
        )
        .unwrap_err();
        assert!(matches!(
            foreign.problem,
            CheckpointProblem::UntrustedKey { .. }
        ));

        let forged = text.replacen("\"seq\":2", "\"seq\":3", 1);
        let heads = parse_witness_file(&forged).unwrap();
        let bad = check_witnessed(&system, &record_hashes(&records), &heads, &key.public_key())
            .unwrap_err();
        assert_eq!(bad.line, 1);
        assert_eq!(bad.problem, CheckpointProblem::BadSignature);
        assert!(bad
            .to_string()
            .starts_with("witness line 1: head of chain system at record 3"));
    }

    #[test]
    fn hostile_lines_are_refused_with_their_number() {
        let error = parse_witness_file("\n{\"chain\":\"system\"}\n").unwrap_err();
        assert_eq!(error.line, 2);
        let long = "x".repeat(MAX_WITNESS_LINE + 1);
        let error = parse_witness_file(&long).unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.problem.contains("at most 4096 bytes"), "{error}");
        assert_eq!(parse_witness_file("").unwrap(), Vec::new());
    }
}
