//! Offline verification and replay of an export (a JSON Lines file or a package), with no
//! database: what `bayestrial audit verify --export FILE` and `bayestrial replay FILE` run.
//!
//! Verification checks, and names the first place where one fails:
//! - every line reads (a line that does not is reported at the seq it stands in for);
//! - each chain (the trial's and the system chain) from seq 1: one chain id, seqs without gaps,
//!   each `prev_hash` the previous record's `hash`, the chain's record format kept (on a salted
//!   trial chain every record that is not sealed carries its salt; no salt on a chain whose
//!   first record has none, nor on the system chain), and each record's `hash` recomputed from
//!   its fields, salt included; a sealed record (blinded exports) carries neither payload nor
//!   salt, so its own hash cannot be recomputed and is taken as written, but the next record's
//!   hash covers it;
//! - every checkpoint: signed by the trusted key (the file's, or one pinned with
//!   `--public-key`), of one of the chains, and naming the hash of the record at its seq; each
//!   linked checkpoint names its chain's previous one (none deleted); and each chain's last
//!   record is covered by a checkpoint, so the end of each chain is bound to the server (a copy
//!   without checkpoints fails here);
//! - every `export` record of the file's system chain that exported this trial names a head
//!   (seq, hash) that is still in the file's trial chain (a chain cut or rewritten since an
//!   earlier export fails here, when the file holds that export's record);
//! - with `--against EARLIER` ([`EarlierExport`]): every record and checkpoint of the earlier
//!   export is still in this one, unchanged;
//! - the header's heads are the chains' last records;
//! - every protocol version's text has its hash, and the hash is bound to the chains: version
//!   1 by the trial's `trial_started` record, later ones by their approval signatures on the
//!   system chain;
//! - an unblinded export holds the seed; the revealed seed matches the commitment in
//!   `trial_started`, and every salt is the one the seed derives for its record (so no salt was
//!   chosen: [`crate::audit::verify_salts`]);
//! - for a package: the manifest's signature (by the same key) and every file's SHA-256, with
//!   no file left out of the manifest.
//!
//! Replay needs the seed: it folds the trial's inputs through the engine
//! ([`crate::engine::replay`]) and reports the first event that differs. A blinded export has
//! no seed and sealed records, so it cannot be replayed ([`ReplayOutcome::Blinded`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::jsonl::{ExportLine, Header, ProtocolLine, RecordLine, SeedLine, READABLE_VERSIONS};
use super::package::{self, PackageContents};
pub use super::problem::{OfflineProblem, ReadError};
use crate::audit::{
    signatures_of, verify_checkpoint_sequence, verify_checkpoints, verify_exported_heads,
    verify_extends, verify_salts, AuditRecord, ChainId, Checkpoint, Hash, Inconsistency, PublicKey,
    RecordFormat, SystemEvent,
};
use crate::engine::{replay, Event, TrialSeed};
use crate::protocol::LoadedProtocol;

/// One chain as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// `trial:<id>` or `system`.
    pub chain: String,
    /// Records.
    pub records: usize,
    /// Of which sealed.
    pub sealed: usize,
    /// The chain's record format: 1 (no salts) or 2 (salted).
    pub record_format: u32,
    /// Checkpoints that verified.
    pub checkpoints: usize,
    /// The last record's seq.
    pub head_seq: u64,
}

/// What offline verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineReport {
    /// `jsonl` or `package`.
    pub kind: &'static str,
    /// The trial.
    pub trial: String,
    /// Whether the export is unblinded.
    pub unblinded: bool,
    /// The key the checkpoints were checked against.
    pub public_key: Option<String>,
    /// The chains.
    pub chains: Vec<ChainSummary>,
    /// Protocol versions checked.
    pub protocols: usize,
    /// Files checked against a package's manifest.
    pub files: usize,
    /// The first problem, if any.
    pub problem: Option<OfflineProblem>,
}

/// What replay found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ReplayOutcome {
    /// Every allocation probability, draw and decision re-derived as logged.
    Replayed {
        /// The trial.
        trial: String,
        /// Events replayed.
        events: usize,
    },
    /// The export is blinded: no seed, sealed records.
    Blinded {
        /// The trial.
        trial: String,
    },
    /// The first event that differs, or a record or protocol that cannot be used.
    Failed(OfflineProblem),
}

/// An export file read into its lines.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub header: Header,
    pub protocols: Vec<ProtocolLine>,
    pub records: Vec<RecordLine>,
    pub checkpoints: Vec<Checkpoint>,
    pub seed: Option<SeedLine>,
    /// The first line that did not read.
    pub broken: Option<OfflineProblem>,
}

/// Reads a JSON Lines export. Only a missing or unreadable header makes the file unreadable;
/// a later line that does not read is kept as the first problem, at the seq it stands in for.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ReadError> {
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let header = match lines.next() {
        Some((_, first)) => match serde_json::from_slice::<ExportLine>(first) {
            Ok(ExportLine::Header(header)) => header,
            Ok(_) => {
                return Err(ReadError::Unreadable(
                    "not a bayestrial export: the first line is not its header".into(),
                ))
            }
            Err(e) => {
                return Err(ReadError::Unreadable(format!(
                    "not a bayestrial export: the first line is not a header: {e}"
                )))
            }
        },
        None => return Err(ReadError::Unreadable("the file is empty".into())),
    };
    if header.format != "bayestrial-export" || !READABLE_VERSIONS.contains(&header.format_version) {
        return Err(ReadError::Unreadable(format!(
            "not a bayestrial export of a format version this program reads ({READABLE_VERSIONS:?}): \
             {} version {}",
            header.format, header.format_version
        )));
    }
    let mut parsed = Parsed {
        header,
        protocols: Vec::new(),
        records: Vec::new(),
        checkpoints: Vec::new(),
        seed: None,
        broken: None,
    };
    for (index, line) in lines {
        let number = index + 1;
        match serde_json::from_slice::<ExportLine>(line) {
            Ok(ExportLine::Header(_)) => {
                parsed.broken.get_or_insert(OfflineProblem {
                    place: format!("line {number}"),
                    seq: None,
                    problem: "a second header".into(),
                });
            }
            Ok(ExportLine::Protocol(p)) => parsed.protocols.push(p),
            Ok(ExportLine::Record(r)) => parsed.records.push(r),
            Ok(ExportLine::Checkpoint(c)) => parsed.checkpoints.push(c),
            Ok(ExportLine::Seed(s)) => parsed.seed = Some(s),
            Err(problem) => {
                if parsed.broken.is_none() {
                    // Name the record this line stands in for: its own chain and seq when they
                    // still read, else the one after the previous record.
                    let value = serde_json::from_slice::<Value>(line);
                    let own = value.as_ref().ok().and_then(|v| {
                        Some((
                            v.get("chain")?.as_str()?.to_owned(),
                            v.get("seq")?.as_u64()?,
                        ))
                    });
                    let (place, seq) = match (own, parsed.records.last()) {
                        (Some((chain, seq)), _) => (chain, Some(seq)),
                        (None, Some(prev)) => (prev.chain.to_string(), Some(prev.seq + 1)),
                        (None, None) => (format!("trial:{}", parsed.header.trial), Some(1)),
                    };
                    parsed.broken = Some(OfflineProblem {
                        place,
                        seq,
                        problem: format!("line {number} does not read: {problem}"),
                    });
                }
            }
        }
    }
    Ok(parsed)
}

/// A package or a JSON Lines file.
enum Input {
    Jsonl(Parsed),
    Package(Box<PackageContents>, Parsed),
}

fn open(bytes: &[u8]) -> Result<Input, ReadError> {
    if bytes.starts_with(b"PK\x03\x04") {
        let contents = package::read(bytes)?;
        let parsed = parse(&contents.jsonl)?;
        Ok(Input::Package(Box::new(contents), parsed))
    } else {
        Ok(Input::Jsonl(parse(bytes)?))
    }
}

fn problem(place: impl Into<String>, seq: Option<u64>, what: impl Into<String>) -> OfflineProblem {
    OfflineProblem {
        place: place.into(),
        seq,
        problem: what.into(),
    }
}

/// One chain's records as verified: in the form `verify_checkpoints` reads (sealed ones with an
/// empty payload and no salt), how many are sealed, and the chain's record format.
struct VerifiedRecords {
    records: Vec<AuditRecord>,
    sealed: usize,
    format: RecordFormat,
}

/// Verifies one chain's record lines from seq 1 (module docs).
fn verify_records(
    chain: &ChainId,
    lines: &[&RecordLine],
) -> Result<VerifiedRecords, OfflineProblem> {
    let place = chain.to_string();
    let mut prev = Hash::GENESIS;
    let mut records = Vec::with_capacity(lines.len());
    let mut sealed = 0;
    // The format is the first record's; a sealed record shows no salt, so the first record in
    // full decides (the first record of a trial, `trial_started`, is never sealed).
    let format = RecordFormat::of_first(
        lines
            .iter()
            .find(|l| !l.sealed)
            .is_some_and(|l| l.salt.is_some()),
    );
    for (index, line) in lines.iter().enumerate() {
        let seq = index as u64 + 1;
        let fail = |what: String| problem(place.clone(), Some(seq), what);
        if line.seq != seq {
            return Err(fail(if line.seq < seq {
                format!(
                    "out of order or duplicated: record {} is in its place",
                    line.seq
                )
            } else {
                format!("missing: the next record is {}", line.seq)
            }));
        }
        if line.prev_hash != prev {
            return Err(fail(format!(
                "prev_hash is {}, but the previous record's hash is {prev}",
                line.prev_hash
            )));
        }
        if line.sealed {
            if line.payload.is_some() || line.salt.is_some() {
                return Err(fail(
                    "sealed, yet it carries its payload or its salt (a blinded export must carry \
                     neither: with the salt, its hash would reveal which payload it holds)"
                        .into(),
                ));
            }
        } else if let Err(kind) = format.check(chain, line.salt.is_some()) {
            return Err(fail(kind.to_string()));
        }
        let record = match line.to_record() {
            Ok(Some(record)) => {
                let computed = record
                    .compute_hash()
                    .map_err(|e| fail(format!("cannot be encoded: {e}")))?;
                if computed != record.hash {
                    return Err(fail(format!(
                        "altered: the stated hash is {}, the hash of its fields is {computed}",
                        record.hash
                    )));
                }
                record
            }
            Ok(None) if line.sealed => {
                sealed += 1;
                AuditRecord {
                    chain: line.chain.clone(),
                    seq: line.seq,
                    kind: line.kind.clone(),
                    payload: String::new(),
                    actor: line.actor.clone(),
                    role: line.role.clone(),
                    recorded_at: line.recorded_at.clone(),
                    reason: line.reason.clone(),
                    salt: None,
                    prev_hash: line.prev_hash,
                    hash: line.hash,
                }
            }
            Ok(None) => {
                return Err(fail(
                    "the payload is missing (and the record is not sealed)".into(),
                ))
            }
            Err(e) => return Err(fail(format!("the payload cannot be encoded: {e}"))),
        };
        prev = record.hash;
        records.push(record);
    }
    Ok(VerifiedRecords {
        records,
        sealed,
        format,
    })
}

/// The record lines by chain, each chain's in file order.
fn records_by_chain(parsed: &Parsed) -> BTreeMap<String, (ChainId, Vec<&RecordLine>)> {
    let mut by_chain: BTreeMap<String, (ChainId, Vec<&RecordLine>)> = BTreeMap::new();
    for line in &parsed.records {
        by_chain
            .entry(line.chain.to_string())
            .or_insert_with(|| (line.chain.clone(), Vec::new()))
            .1
            .push(line);
    }
    by_chain
}

fn from_inconsistency(found: Inconsistency) -> OfflineProblem {
    problem(
        found.chain.to_string(),
        Some(found.seq),
        found.problem.to_string(),
    )
}

/// Verifies a parsed export (module docs); `trusted` pins the key; `against` are earlier
/// exports it must extend.
fn verify_parsed(
    parsed: &Parsed,
    trusted: Option<&PublicKey>,
    against: &[EarlierExport],
    report: &mut OfflineReport,
) {
    let header = &parsed.header;
    let key = match trusted {
        Some(pinned) if *pinned != header.public_key => {
            report.problem = Some(problem(
                "header",
                None,
                format!(
                    "the export names public key {}, not the pinned key {pinned}",
                    header.public_key
                ),
            ));
            return;
        }
        Some(pinned) => *pinned,
        None => header.public_key,
    };
    report.public_key = Some(key.to_hex());
    if let Some(broken) = &parsed.broken {
        report.problem = Some(broken.clone());
        return;
    }
    let Ok(trial_chain) = ChainId::trial(&header.trial) else {
        report.problem = Some(problem("header", None, "the trial id is not valid"));
        return;
    };
    let by_chain = records_by_chain(parsed);
    for chain in by_chain.keys() {
        if *chain != trial_chain.to_string() && chain != "system" {
            report.problem = Some(problem(
                chain.clone(),
                None,
                format!(
                    "records of another chain than trial:{} and system",
                    header.trial
                ),
            ));
            return;
        }
    }
    let mut order = vec![trial_chain.clone()];
    if by_chain.contains_key("system") || header.system_head.is_some() {
        order.push(ChainId::system());
    }
    let (mut trial_records, mut system_records): (Vec<AuditRecord>, Vec<AuditRecord>) =
        (Vec::new(), Vec::new());
    for chain in &order {
        let name = chain.to_string();
        let lines = by_chain
            .get(&name)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[]);
        let VerifiedRecords {
            records,
            sealed,
            format,
        } = match verify_records(chain, lines) {
            Ok(done) => done,
            Err(found) => {
                report.problem = Some(found);
                return;
            }
        };
        let checkpoints: Vec<Checkpoint> = parsed
            .checkpoints
            .iter()
            .filter(|c| c.chain == *chain)
            .cloned()
            .collect();
        if let Err(broken) = verify_checkpoints(&records, &checkpoints, &key) {
            report.problem = Some(problem(
                name,
                Some(broken.seq),
                format!("checkpoint signed {}: {}", broken.signed_at, broken.problem),
            ));
            return;
        }
        let head = records.last().map(|r| (r.seq, r.hash));
        let stated = if chain.is_system() {
            header.system_head.as_ref().map(|h| (h.seq, h.hash))
        } else {
            Some((header.trial_head.seq, header.trial_head.hash))
        };
        if head != stated {
            report.problem = Some(problem(
                name,
                head.map(|h| h.0),
                format!(
                    "the chain ends at {} but the header names {}",
                    head.map_or("no record".into(), |(s, h)| format!("seq {s} ({h})")),
                    stated.map_or("no record".into(), |(s, h)| format!("seq {s} ({h})"))
                ),
            ));
            return;
        }
        if let Err(found) = verify_checkpoint_sequence(chain, &records, &checkpoints) {
            report.problem = Some(from_inconsistency(found));
            return;
        }
        report.chains.push(ChainSummary {
            chain: name,
            records: records.len(),
            sealed,
            record_format: format.number(),
            checkpoints: checkpoints.len(),
            head_seq: head.map_or(0, |h| h.0),
        });
        if chain.is_system() {
            system_records = records;
        } else {
            trial_records = records;
        }
    }
    let unknown = parsed
        .checkpoints
        .iter()
        .find(|c| !order.contains(&c.chain));
    if let Some(c) = unknown {
        report.problem = Some(problem(
            c.chain.to_string(),
            Some(c.seq),
            "a checkpoint of a chain the export does not hold",
        ));
        return;
    }
    if let Err(found) = verify_exported_heads(&system_records, &trial_chain, &trial_records) {
        report.problem = Some(from_inconsistency(found));
        return;
    }
    for earlier in against {
        let later = |chain: &ChainId| {
            if chain.is_system() {
                system_records.as_slice()
            } else if *chain == trial_chain {
                trial_records.as_slice()
            } else {
                &[]
            }
        };
        if let Err(found) = earlier.extended_by(later) {
            report.problem = Some(from_inconsistency(found));
            return;
        }
    }
    if let Some(found) = check_protocols(parsed, &trial_records, &system_records) {
        report.problem = Some(found);
        return;
    }
    report.protocols = parsed.protocols.len();
    if let Some(found) = check_seed(parsed, &trial_chain, &trial_records) {
        report.problem = Some(found);
    }
}

/// The revealed seed: present when the header says unblinded, matching the commitment in
/// `trial_started`, and the one every salt of the trial's chain is derived from.
fn check_seed(
    parsed: &Parsed,
    trial_chain: &ChainId,
    trial_records: &[AuditRecord],
) -> Option<OfflineProblem> {
    let place = trial_chain.to_string();
    let Some(line) = &parsed.seed else {
        return parsed.header.unblinded.then(|| {
            problem(
                "header",
                None,
                "the export says it is unblinded but holds no seed: its salts and allocations \
                 cannot be checked",
            )
        });
    };
    let commitment = first_started(trial_records).map(|(_, c)| c);
    let seed = TrialSeed::from_hex(&line.seed)
        .ok()
        .filter(|seed| Some(seed.commitment()) == commitment);
    let Some(seed) = seed else {
        return Some(problem(
            place,
            Some(1),
            "the revealed seed does not match the commitment in trial_started",
        ));
    };
    verify_salts(trial_records, &seed)
        .err()
        .map(|broken| problem(place, Some(broken.seq), broken.problem.to_string()))
}

/// The protocol hash and seed commitment of the trial's first record, when it is a start.
fn first_started(records: &[AuditRecord]) -> Option<(String, String)> {
    let first = records.first()?.to_event().ok()?;
    first
        .body
        .started_with()
        .map(|(protocol_hash, seed_commitment)| {
            (protocol_hash.to_owned(), seed_commitment.to_owned())
        })
}

fn check_protocols(
    parsed: &Parsed,
    trial_records: &[AuditRecord],
    system_records: &[AuditRecord],
) -> Option<OfflineProblem> {
    let trial = &parsed.header.trial;
    let started = first_started(trial_records);
    let signatures = match signatures_of(system_records, trial) {
        Ok(found) => found,
        Err(e) => {
            return Some(problem(
                e.chain.to_string(),
                Some(e.seq),
                format!(
                    "a {} record that is not a system event: {}",
                    e.kind, e.problem
                ),
            ))
        }
    };
    if parsed.protocols.is_empty() {
        return Some(problem(
            "protocols",
            None,
            "the export holds no protocol version",
        ));
    }
    for p in &parsed.protocols {
        let place = format!("protocol version {}", p.version);
        match LoadedProtocol::from_toml(&p.source, &place) {
            Ok(loaded) if loaded.binds(&p.hash) => {}
            Ok(loaded) => {
                return Some(problem(
                    place,
                    None,
                    format!(
                        "its text hashes to {}, not to the stated {}",
                        loaded.hash.to_hex(),
                        p.hash
                    ),
                ))
            }
            Err(e) => return Some(problem(place, None, format!("does not validate: {e}"))),
        }
        // A version is bound to the chains by the start that names it, a signature on it, or
        // the system record that wrote it (`trial_created` for version 1, a saved draft or a
        // proposed amendment after).
        let bound = started.as_ref().is_some_and(|(hash, _)| *hash == p.hash)
            || signatures
                .iter()
                .any(|(_, s)| s.version == p.version && s.protocol_hash.to_hex() == p.hash)
            || system_records.iter().any(|r| match r.to_system_event() {
                Ok(SystemEvent::TrialCreated {
                    id, protocol_hash, ..
                }) => p.version == 1 && id == *trial && protocol_hash.to_hex() == p.hash,
                Ok(SystemEvent::ProtocolVersionAdded {
                    trial: named,
                    version,
                    protocol_hash,
                    ..
                }) => named == *trial && version == p.version && protocol_hash.to_hex() == p.hash,
                _ => false,
            });
        if !bound {
            return Some(problem(
                place,
                None,
                "no record binds its hash (trial_started, a signature, or the record that \
                 wrote it)",
            ));
        }
    }
    None
}

/// Verifies an export file (JSON Lines or package) with no database. `pinned` is a public key
/// the checkpoints (and a package's manifest) must be signed with. Returns the report, whose
/// `problem` is the first failure; an error only when the file is not an export at all.
pub fn verify_export(bytes: &[u8], pinned: Option<&PublicKey>) -> Result<OfflineReport, ReadError> {
    verify_export_against(bytes, pinned, &[])
}

/// [`verify_export`], and the export must extend each of `against` (earlier exports, read with
/// [`EarlierExport::read`]): every record and checkpoint they hold is still in it, unchanged.
pub fn verify_export_against(
    bytes: &[u8],
    pinned: Option<&PublicKey>,
    against: &[EarlierExport],
) -> Result<OfflineReport, ReadError> {
    let input = open(bytes)?;
    let parsed = match &input {
        Input::Jsonl(parsed) | Input::Package(_, parsed) => parsed,
    };
    let mut report = OfflineReport {
        kind: match input {
            Input::Jsonl(_) => "jsonl",
            Input::Package(..) => "package",
        },
        trial: parsed.header.trial.clone(),
        unblinded: parsed.header.unblinded,
        public_key: None,
        chains: Vec::new(),
        protocols: 0,
        files: 0,
        problem: None,
    };
    if let Input::Package(contents, parsed) = &input {
        match package::verify(contents, pinned, &parsed.header) {
            Ok(files) => report.files = files,
            Err(found) => {
                report.problem = Some(found);
                return Ok(report);
            }
        }
    }
    verify_parsed(parsed, pinned, against, &mut report);
    Ok(report)
}

/// The chain, seq and hash of every record line of an export (JSON Lines or package), for
/// checking witnessed heads against the export once [`verify_export`] passed.
pub fn export_record_hashes(bytes: &[u8]) -> Result<Vec<(ChainId, u64, Hash)>, ReadError> {
    let parsed = match open(bytes)? {
        Input::Jsonl(parsed) | Input::Package(_, parsed) => parsed,
    };
    Ok(parsed
        .records
        .iter()
        .map(|r| (r.chain.clone(), r.seq, r.hash))
        .collect())
}

/// An earlier export, verified, kept to check that a later state of the same chains extends it
/// (`audit verify --against FILE`).
#[derive(Debug, Clone)]
pub struct EarlierExport {
    /// Where it came from (the file name), for the report.
    pub source: String,
    /// Its chains' records (sealed ones with their hash as written).
    pub chains: Vec<(ChainId, Vec<AuditRecord>)>,
    /// Its checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

impl EarlierExport {
    /// Reads and verifies an earlier export (with the pinned key, if any): one that does not
    /// verify cannot vouch for anything, and is refused as unreadable, naming `source`.
    pub fn read(bytes: &[u8], source: &str, pinned: Option<&PublicKey>) -> Result<Self, ReadError> {
        let report = verify_export(bytes, pinned)?;
        if let Some(found) = report.problem {
            return Err(ReadError::Unreadable(format!(
                "{source} does not verify, so it cannot serve as an earlier export: {found}"
            )));
        }
        let parsed = match open(bytes)? {
            Input::Jsonl(parsed) | Input::Package(_, parsed) => parsed,
        };
        let by_chain = records_by_chain(&parsed);
        let mut chains = Vec::new();
        for (chain, lines) in by_chain.into_values() {
            let verified = verify_records(&chain, &lines)
                .map_err(|found| ReadError::Unreadable(format!("{source}: {found}")))?;
            chains.push((chain, verified.records));
        }
        Ok(Self {
            source: source.to_owned(),
            chains,
            checkpoints: parsed.checkpoints,
        })
    }

    /// Checks that `later` (a chain's records now, by chain) extends every chain of this
    /// export: the first record or checkpoint of it that is gone or changed.
    pub fn extended_by<'a>(
        &self,
        later: impl Fn(&ChainId) -> &'a [AuditRecord],
    ) -> Result<(), Inconsistency> {
        for (chain, records) in &self.chains {
            verify_extends(
                chain,
                records,
                &self.checkpoints,
                later(chain),
                &self.source,
            )?;
        }
        Ok(())
    }
}

/// Replays an export's trial through the engine with its revealed seed (module docs). It does
/// not verify hashes or signatures: run [`verify_export`] for that.
pub fn replay_export(bytes: &[u8]) -> Result<ReplayOutcome, ReadError> {
    let parsed = match open(bytes)? {
        Input::Jsonl(parsed) | Input::Package(_, parsed) => parsed,
    };
    let trial = parsed.header.trial.clone();
    let chain = ChainId::trial(&trial).map_err(|e| ReadError::Unreadable(e.to_string()))?;
    let Some(seed_line) = &parsed.seed else {
        return Ok(ReplayOutcome::Blinded { trial });
    };
    if parsed.records.iter().any(|r| r.sealed) {
        return Ok(ReplayOutcome::Blinded { trial });
    }
    let fail = |seq: Option<u64>, what: String| {
        Ok(ReplayOutcome::Failed(problem(chain.to_string(), seq, what)))
    };
    if let Some(broken) = &parsed.broken {
        return Ok(ReplayOutcome::Failed(broken.clone()));
    }
    // The version the trial started on (trials from before drafts could be saved again
    // started on version 1).
    let started = first_started(
        &parsed
            .records
            .iter()
            .filter(|r| r.chain == chain)
            .take(1)
            .filter_map(|line| line.to_record().ok().flatten())
            .collect::<Vec<_>>(),
    );
    let Some(version) = parsed
        .protocols
        .iter()
        .rev()
        .find(|p| started.as_ref().is_some_and(|(hash, _)| *hash == p.hash))
        .or_else(|| parsed.protocols.iter().find(|p| p.version == 1))
    else {
        return fail(None, "the export holds no protocol version 1".into());
    };
    let place = format!("protocol version {}", version.version);
    let loaded = match LoadedProtocol::from_toml(&version.source, &place) {
        Ok(loaded) => loaded,
        Err(e) => return fail(None, format!("{place} does not validate: {e}")),
    };
    let seed = match TrialSeed::from_hex(&seed_line.seed) {
        Ok(seed) => seed,
        Err(e) => return fail(None, format!("the seed: {e}")),
    };
    let mut events: Vec<Event> = Vec::new();
    for line in parsed.records.iter().filter(|r| r.chain == chain) {
        let event = line
            .to_record()
            .map_err(|e| e.to_string())
            .and_then(|r| r.ok_or_else(|| "the payload is missing".to_owned()))
            .and_then(|r| r.to_event().map_err(|e| e.to_string()));
        match event {
            Ok(event) => events.push(event),
            Err(e) => return fail(Some(line.seq), e),
        }
    }
    let first = events.first();
    match first.map(|e| (e.seq, e.body.started_with())) {
        Some((seq, Some((protocol_hash, seed_commitment)))) => {
            if seed_commitment != seed.commitment() {
                return fail(
                    Some(seq),
                    "the revealed seed does not match its commitment".into(),
                );
            }
            if !loaded.binds(protocol_hash) {
                return fail(
                    Some(seq),
                    "the trial started on a protocol none of the export's versions has".into(),
                );
            }
        }
        Some((seq, None)) => {
            return fail(
                Some(seq),
                format!(
                    "the chain starts with {}, not trial_started",
                    first.map_or("nothing", |e| e.body.kind())
                ),
            )
        }
        None => return fail(None, "the export holds no record of the trial".into()),
    }
    match replay(&loaded.protocol, seed, &events) {
        Ok(_) => Ok(ReplayOutcome::Replayed {
            trial,
            events: events.len(),
        }),
        Err(mismatch) => fail(Some(mismatch.seq), mismatch.problem),
    }
}
