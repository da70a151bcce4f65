//! Witnesses: every signed head (the checkpoint of a look, a stop, an export, and a running
//! trial's daily one) is also sent outside the database, so that whoever can write the database
//! cannot roll a chain back unnoticed (`audit verify --witness FILE`).
//!
//! - The **witness log** (`serve --witness-dir DIR`): one file per chain (`DIR/system.witness`,
//!   `DIR/trial-<id>.witness`, the id percent-encoded), opened for appending only (never
//!   truncated or rewritten), one line per head ([`crate::audit::witness_line`]), flushed to disk
//!   after each line; files 0600 in a 0700 folder. Lines are appended after the commit that
//!   stored the checkpoint.
//! - The **witness mail**: each of a trial's witness addresses gets the same line by e-mail,
//!   queued in the outbox in the transaction that stores the checkpoint.
//! - The **daily witness** ([`Service::witness_due`], run by [`spawn_witness_worker`]): a running
//!   trial whose chain has had no checkpoint for a day gets one of its head.
//!
//! The pure part (the line format, checking heads against records) is `audit::witness`; this
//! module writes files and queues mail, and renders nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tracing::instrument;

use super::clock::shifted;
use super::outbox::spawn_every;
use super::trial::chain_of;
use super::verify::{chain_records, checkpoint_from_row};
use super::{Actor, Permission, Service, ServiceError};
use crate::audit::{
    check_witnessed, parse_witness_file, record_hashes, verify_chain, witness_line, ChainId,
    Checkpoint, Hash, PublicKey, SystemEvent,
};
use crate::notify::parse_address;
use crate::store::{self, CheckpointRow, NewOutboxRow, OutboxRow, TrialRow, WitnessRow, WriteLock};

/// The most witness addresses a trial may have.
pub const MAX_WITNESSES: usize = 20;

/// The longest witness list accepted, in bytes.
pub const MAX_WITNESS_LIST: usize = 8 * 1024;

/// The longest witness file `audit verify --witness` reads, in bytes (64 MiB: some 150,000
/// heads).
pub const MAX_WITNESS_FILE: u64 = 64 * 1024 * 1024;

/// A running trial's head is witnessed when its chain has had no checkpoint for this long.
pub const DAILY_SECONDS: i64 = 24 * 60 * 60;

/// The append-only witness log in a folder (module docs).
#[derive(Debug, Clone)]
pub struct WitnessLog {
    dir: PathBuf,
}

impl WitnessLog {
    /// The log in `dir` (created 0700 at the first append when missing).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file of `chain`: `system.witness` or `trial-<id>.witness`, the id percent-encoded
    /// but for letters, digits, `-` and `_`, so that no id can name another path.
    pub fn file_of(&self, chain: &ChainId) -> PathBuf {
        let name = match chain.trial_id() {
            None => "system.witness".to_owned(),
            Some(id) => {
                let mut name = String::from("trial-");
                for byte in id.bytes() {
                    if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                        name.push(char::from(byte));
                    } else {
                        name.push_str(&format!("%{byte:02X}"));
                    }
                }
                name.push_str(".witness");
                name
            }
        };
        self.dir.join(name)
    }

    /// Appends `checkpoint`'s line to its chain's file (opened with `O_APPEND`, created 0600)
    /// and flushes it to disk. Returns the file.
    pub fn append(&self, checkpoint: &Checkpoint) -> Result<PathBuf, ServiceError> {
        let path = self.file_of(&checkpoint.chain);
        let io = |source| {
            ServiceError::Store(store::StoreError::Io {
                path: path.clone(),
                source,
            })
        };
        store::create_private_dir(&self.dir).map_err(io)?;
        let line = witness_line(checkpoint)?;
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(path)
    }
}

/// A witness address list as entered (separated by commas, semicolons, spaces or new lines),
/// each address parsed by the mailer's own parser; an address given twice is kept once; sorted.
pub fn parse_witness_list(text: &str) -> Result<Vec<String>, ServiceError> {
    let invalid = |problem: String| ServiceError::Invalid {
        field: "witnesses",
        problem,
    };
    if text.len() > MAX_WITNESS_LIST {
        return Err(invalid(format!(
            "{} bytes; the list is at most {MAX_WITNESS_LIST} bytes",
            text.len()
        )));
    }
    let mut addresses = Vec::new();
    for item in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let address = parse_address(item).map_err(|e| invalid(e.to_string()))?;
        addresses.push(address.to_string());
    }
    addresses.sort();
    addresses.dedup();
    if addresses.len() > MAX_WITNESSES {
        return Err(invalid(format!(
            "{} addresses; a trial has at most {MAX_WITNESSES} witnesses",
            addresses.len()
        )));
    }
    Ok(addresses)
}

/// The witness e-mails of `checkpoint` (a trial chain's), one per witness of the trial, queued
/// by the caller in the transaction that stores the checkpoint; records the head as the
/// chain's last witnessed one (the daily witness starts from it).
pub(crate) fn witness_mail(
    conn: &mut store::DbConn,
    checkpoint: &Checkpoint,
) -> Result<Vec<NewOutboxRow>, ServiceError> {
    let seq = i64::try_from(checkpoint.seq).map_err(|e| {
        ServiceError::Integrity(format!("{} checkpoint seq: {e}", checkpoint.chain))
    })?;
    store::mark_witnessed(
        conn,
        &checkpoint.chain.to_string(),
        seq,
        checkpoint.signed_at.as_str(),
    )?;
    let Some(trial_id) = checkpoint.chain.trial_id() else {
        return Ok(Vec::new());
    };
    let line = witness_line(checkpoint)?;
    let subject = format!(
        "[{trial_id}] signed head: record {} ({})",
        checkpoint.seq, checkpoint.purpose
    );
    Ok(WitnessRow::of_trial(conn, trial_id)?
        .into_iter()
        .map(|witness| NewOutboxRow {
            trial_id: Some(trial_id.to_owned()),
            recipient: witness.email,
            subject: subject.clone(),
            body: format!(
                "You are a witness of trial {trial_id}. The server signed the head of the \
                 trial's audit chain: record {seq}, signed {at}.\n\nKeep the line below: append \
                 it to a witness file (one line per head) and check the trial with \
                 `bayestrial audit verify --witness FILE`; a chain rolled back or rewritten \
                 after this head fails that check.\n\n{line}",
                seq = checkpoint.seq,
                at = checkpoint.signed_at,
            ),
            created_at: checkpoint.signed_at.as_str().to_owned(),
        })
        .collect())
}

/// What checking one witness file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessReport {
    /// Heads read from the file.
    pub heads: usize,
    /// The first problem: the chain, the seq and the witness file line, and what is wrong.
    pub problem: Option<String>,
}

/// Checks a witness file's text chain by chain with `records_of`, which gives a chain's records
/// as `(seq, hash)` in sequence order, already verified (or a problem naming them): from the
/// database, or from a verified export file.
pub fn check_witness_text(
    text: &str,
    trusted: &PublicKey,
    mut records_of: impl FnMut(&ChainId) -> Result<Result<Vec<(u64, Hash)>, String>, ServiceError>,
) -> Result<WitnessReport, ServiceError> {
    let heads = match parse_witness_file(text) {
        Ok(heads) => heads,
        Err(e) => {
            return Ok(WitnessReport {
                heads: 0,
                problem: Some(e.to_string()),
            })
        }
    };
    let mut chains: Vec<&ChainId> = heads.iter().map(|h| &h.checkpoint.chain).collect();
    chains.sort_by_key(|c| c.to_string());
    chains.dedup();
    for chain in chains {
        let problem = match records_of(chain)? {
            Ok(records) => check_witnessed(chain, &records, &heads, trusted)
                .err()
                .map(|broken| broken.to_string()),
            Err(problem) => Some(problem),
        };
        if problem.is_some() {
            return Ok(WitnessReport {
                heads: heads.len(),
                problem,
            });
        }
    }
    Ok(WitnessReport {
        heads: heads.len(),
        problem: None,
    })
}

impl Service {
    /// Appends `checkpoints` to the witness log, when there is one. Called after the commit
    /// that stored them; a failure is logged (the daily witness writes the next head) and does
    /// not undo the command.
    pub(crate) fn log_witnessed(&self, checkpoints: &[Checkpoint]) {
        let Some(log) = &self.witness_log else {
            return;
        };
        for checkpoint in checkpoints {
            match log.append(checkpoint) {
                Ok(path) => tracing::info!(
                    chain = %checkpoint.chain, seq = checkpoint.seq, file = %path.display(),
                    "head witnessed"
                ),
                Err(error) => tracing::error!(
                    chain = %checkpoint.chain, seq = checkpoint.seq, %error,
                    "cannot append the head to the witness log"
                ),
            }
        }
    }

    /// The witness addresses of `trial_id` (whoever may read the audit trail or direct trials).
    pub fn witnesses(&self, actor: &Actor, trial_id: &str) -> Result<Vec<String>, ServiceError> {
        if !actor.may(Permission::DirectTrials) {
            actor.require(Permission::ReadAudit)?;
        }
        let mut conn = self.conn()?;
        TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        Ok(WitnessRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|w| w.email)
            .collect())
    }

    /// Replaces the witness addresses of `trial_id` with the list `text` (see
    /// [`parse_witness_list`]), recorded on the system chain; whoever may direct trials may.
    /// Returns whether the list changed: the list already stored records nothing.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn set_witnesses(
        &self,
        actor: &Actor,
        trial_id: &str,
        text: &str,
    ) -> Result<bool, ServiceError> {
        actor.require(Permission::DirectTrials)?;
        let addresses = parse_witness_list(text)?;
        let by = self.attribution(actor, None);
        let at = by.recorded_at.clone();
        let mut conn = self.conn()?;
        let changed =
            self.write_transaction(&mut conn, WriteLock::TrialAndSystem(trial_id), |conn| {
                TrialRow::find(conn, trial_id)?
                    .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
                let mut stored: Vec<String> = WitnessRow::of_trial(conn, trial_id)?
                    .into_iter()
                    .map(|w| w.email)
                    .collect();
                stored.sort();
                let mut wanted = addresses.clone();
                wanted.sort();
                if stored == wanted {
                    return Ok(false);
                }
                // Who receives the heads is recorded on the system chain.
                self.append_system(
                    conn,
                    &SystemEvent::WitnessesChanged {
                        trial: trial_id.to_owned(),
                        witnesses: addresses.clone(),
                    },
                    &by,
                )?;
                let rows: Vec<WitnessRow> = addresses
                    .iter()
                    .map(|email| WitnessRow {
                        trial_id: trial_id.to_owned(),
                        email: email.clone(),
                        added_by: actor.username.clone(),
                        added_at: at.as_str().to_owned(),
                    })
                    .collect();
                WitnessRow::replace(conn, trial_id, &rows)?;
                Ok::<_, ServiceError>(true)
            })?;
        if changed {
            tracing::info!(witnesses = addresses.len(), "witness list changed");
        }
        Ok(changed)
    }

    /// The daily witness: signs and witnesses the head of every running trial whose chain has
    /// had no checkpoint for [`DAILY_SECONDS`] (by the injected clock) and has records past its
    /// last one. Returns how many heads were witnessed.
    #[instrument(skip_all)]
    pub fn witness_due(&self) -> Result<usize, ServiceError> {
        let mut conn = self.conn()?;
        let running: Vec<String> = TrialRow::all_with_status(&mut conn)?
            .into_iter()
            .filter(|(_, status)| status == "running" || status == "paused")
            .map(|(trial, _)| trial.id)
            .collect();
        drop(conn);
        let mut witnessed = 0;
        for trial_id in running {
            if let Some(checkpoint) = self.witness_if_due(&trial_id)? {
                self.log_witnessed(std::slice::from_ref(&checkpoint));
                witnessed += 1;
            }
        }
        Ok(witnessed)
    }

    /// Witnesses (queues the mail of, and returns for the log) the checkpoint of `trial_id`'s
    /// head if one is due: the chain grew past the head last witnessed, and that was more than
    /// a day ago. Every command's head is signed already; nothing is signed here.
    #[instrument(skip_all, fields(trial = %trial_id))]
    fn witness_if_due(&self, trial_id: &str) -> Result<Option<Checkpoint>, ServiceError> {
        let chain = chain_of(trial_id)?;
        let now = self.clock.now();
        let day_ago = shifted(&now, -DAILY_SECONDS);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::Trial(trial_id), |conn| {
            let name = chain.to_string();
            let mark = store::witness_mark(conn, &name)?;
            if mark
                .as_ref()
                .is_some_and(|(_, at)| at.as_str() > day_ago.as_str())
            {
                return Ok(None);
            }
            let Some(latest) = CheckpointRow::latest(conn, &name)? else {
                return Ok(None);
            };
            if mark.is_some_and(|(seq, _)| seq >= latest.seq) {
                return Ok(None);
            }
            let checkpoint = checkpoint_from_row(&latest).map_err(|problem| {
                ServiceError::Integrity(format!(
                    "{name} checkpoint at seq {}: {problem}",
                    latest.seq
                ))
            })?;
            let mail = witness_mail(conn, &checkpoint)?;
            OutboxRow::queue(conn, &mail)?;
            // Witnessed now, whenever it was signed.
            store::mark_witnessed(conn, &name, latest.seq, now.as_str())?;
            Ok::<_, ServiceError>(Some(checkpoint))
        })
    }

    /// Checks a witness file's text (`file` names it in the report) against the database:
    /// every head must be on its chain with the same hash, signed by this server's key (or
    /// `pinned`).
    pub fn verify_witness(
        &self,
        text: &str,
        file: &str,
        pinned: Option<&PublicKey>,
    ) -> Result<WitnessReport, ServiceError> {
        let trusted = pinned.copied().unwrap_or_else(|| self.public_key());
        let mut conn = self.conn()?;
        let mut report = check_witness_text(text, &trusted, |chain| {
            Ok(match chain_records(&mut conn, &chain.to_string())? {
                Ok(records) => match verify_chain(&records) {
                    Ok(_) => Ok(record_hashes(&records)),
                    Err(broken) => Err(broken.to_string()),
                },
                Err(problem) => Err(problem.to_string()),
            })
        })?;
        if let Some(problem) = &mut report.problem {
            *problem = format!("{file}: {problem}");
        }
        Ok(report)
    }
}

/// Runs [`Service::witness_due`] every `every` on its own thread until `stop` is set.
pub fn spawn_witness_worker(
    service: Arc<Service>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    spawn_every("witness", every, stop, move || {
        match service.witness_due() {
            Ok(0) => {}
            Ok(n) => tracing::info!(heads = n, "daily witness: heads witnessed"),
            Err(error) => tracing::warn!(%error, "daily witness failed"),
        }
    })
}

/// Reads a witness file, refusing one larger than [`MAX_WITNESS_FILE`].
pub fn read_witness_file(path: &Path) -> Result<String, ServiceError> {
    let io = |source| {
        ServiceError::Store(store::StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_WITNESS_FILE {
        return Err(ServiceError::Invalid {
            field: "--witness",
            problem: format!(
                "{}: {size} bytes; a witness file is at most {MAX_WITNESS_FILE} bytes",
                path.display()
            ),
        });
    }
    std::fs::read_to_string(path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_lists_parse_with_the_mailer_and_are_bounded() {
        assert_eq!(
            parse_witness_list("chair@dmc.example, sponsor@example.org;\nchair@dmc.example")
                .unwrap(),
            vec![
                "chair@dmc.example".to_owned(),
                "sponsor@example.org".to_owned()
            ]
        );
        assert_eq!(parse_witness_list("  ").unwrap(), Vec::<String>::new());
        let bad = parse_witness_list("ok@example.org a@b@c.d").unwrap_err();
        assert!(
            matches!(
                bad,
                ServiceError::Invalid {
                    field: "witnesses",
                    ..
                }
            ),
            "{bad}"
        );
        assert!(bad.to_string().contains("a@b@c.d"), "{bad}");
        let many = (0..=MAX_WITNESSES)
            .map(|i| format!("w{i}@example.org"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_witness_list(&many)
            .unwrap_err()
            .to_string()
            .contains("at most 20 witnesses"));
        assert!(parse_witness_list(&"x".repeat(MAX_WITNESS_LIST + 1)).is_err());
    }

    #[test]
    fn witness_files_cannot_name_another_path() {
        let log = WitnessLog::new(PathBuf::from("/w"));
        assert_eq!(
            log.file_of(&ChainId::trial("../T 1").unwrap()),
            PathBuf::from("/w/trial-%2E%2E%2FT%201.witness")
        );
        assert_eq!(
            log.file_of(&ChainId::system()),
            PathBuf::from("/w/system.witness")
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_log_appends_one_line_per_head_privately() {
        use crate::audit::{ChainHead, Purpose, ServerKey, UtcTimestamp};
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = WitnessLog::new(dir.path().join("witness"));
        let key = ServerKey::from_bytes(&[9; 32]);
        let sign = |seq| {
            Checkpoint::sign(
                &key,
                &ChainHead {
                    chain: ChainId::trial("T1").unwrap(),
                    seq,
                    hash: Hash::from_bytes([seq as u8; 32]),
                },
                Purpose::Look,
                UtcTimestamp::parse("2026-12-07T10:00:00.000Z").unwrap(),
            )
            .unwrap()
        };
        let path = log.append(&sign(3)).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        log.append(&sign(7)).unwrap();
        let both = std::fs::read_to_string(&path).unwrap();
        assert!(
            both.starts_with(&first),
            "earlier lines are kept as they were"
        );
        assert_eq!(both.lines().count(), 2);
        let heads = parse_witness_file(&both).unwrap();
        assert_eq!(heads[1].checkpoint, sign(7));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("witness")), 0o700);
    }
}
