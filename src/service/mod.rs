//! The live trial: each command is one database transaction that takes the trial's write lock,
//! brings the trial's state up to the stored head, runs the engine, chains the new events into
//! the audit trail, updates the read projections, queues notifications and commits
//! (ARCHITECTURE §3). Only after the commit is an answer returned.
//!
//! The service joins `engine`, `store` and `audit`; it holds no trial rule of its own (the
//! engine decides) and renders nothing (that is `web`). Clock, randomness and storage are
//! injected through [`ServiceConfig`].

mod access;
mod bench;
pub mod clock;
mod demo;
mod error;
mod export;
mod export_bench;
mod nof1;
mod outbox;
mod permission;
mod simulations;
mod subject;
mod trial;
mod users;
mod verify;
mod views;
mod witness;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::instrument;

pub use access::{
    ApiToken, ApiTokenDays, NewSession, SessionActor, TokenListing, LOCKOUT_FAILURES,
    LOCKOUT_SECONDS, SESSION_SECONDS,
};
pub use bench::{bench_randomise, BenchReport};
pub use clock::{Clock, Randomness, SteppingClock, SystemClock};
pub use demo::{DemoPlan, DemoReport};
pub use error::ServiceError;
pub use export::{ExportFile, Exporter};
pub use export_bench::{bench_export, ExportBenchReport};
pub use nof1::{
    conclusion_of, effect_sentence, equivalence_sentence, MeasurementReceipt, MeasurementView,
    Nof1Conclusion, PatientReport, PeriodView, PlannedMeasurement, SeriesReport,
};
pub use outbox::{
    retry_delay, spawn_outbox_worker, Delivery, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS,
};
pub use permission::{Permission, Sight};
pub use simulations::{
    NewSimulationReport, PendingVersion, SimulationReport, SimulationReportInfo, SimulationShelf,
    MAX_REPORT_HTML_BYTES, MAX_RESULT_JSON_BYTES, MAX_SCENARIO_CHARS, MAX_SUMMARY_CHARS,
};
pub use trial::{
    parse_recommendation, Amendment, Assignment, CodeBreak, Meaning, OutcomeReceipt,
    ProjectionDifference, ProjectionReport, RecommendationInput, SavedVersion, TrialSummary,
    RECOMMENDATION_ACTIONS,
};
pub use users::{Actor, NewUser, Password, Role, Username};
pub use verify::{ChainProblem, ReplayProblem, VerifyOptions, VerifyReport};
pub use views::{
    kit_code, outcome_form_text, outcome_text, parse_outcome_text, period_kit_code,
    AllocationPoint, ArmPosterior, ArmView, AssignmentView, AuditEntry, AuditField, AuditPage,
    DiffHunk, DiffLine, ExportChoice, LineChange, LookResult, MeasurementDue, NoEnrolment,
    OutcomeDue, OutcomeFilter, ParticipantDetail, ParticipantList, ParticipantQuery,
    ParticipantView, PrecisionResults, RecommendationView, SignatureArm, SignatureResult,
    SignatureView, StatusTone, StratumArm, StratumResult, ThresholdLine, TimelineEntry,
    TrialListing, TrialResults, TrialView, VersionDetail, VersionState, VersionView, WorkList,
    MAX_SEARCH_CHARS, PARTICIPANTS_PER_PAGE, WORK_LIST_ROWS,
};
pub use witness::{
    check_witness_text, parse_witness_list, read_witness_file, spawn_witness_worker, WitnessLog,
    WitnessReport, DAILY_SECONDS, MAX_WITNESSES, MAX_WITNESS_FILE, MAX_WITNESS_LIST,
};

use crate::audit::{
    Attribution, AuditRecord, ChainHead, ChainId, Checkpoint, Hash, PublicKey, Purpose, ServerKey,
    SystemEvent,
};
use crate::engine::TrialState;
use crate::protocol::LoadedProtocol;
use crate::store::{
    self, AuditRow, CheckpointRow, DatabaseUrl, DbConn, DbPool, UserRow, WriteLock,
};

/// The file in the data directory that holds the server's Ed25519 signing key (hex).
pub const SERVER_KEY_FILE: &str = "server-key.hex";

/// Everything the service is built from: no globals.
pub struct ServiceConfig {
    /// The database.
    pub database: DatabaseUrl,
    /// Where the server key lives (and, by default, the SQLite file and the outbox).
    pub data_dir: PathBuf,
    /// Connections in the pool.
    pub pool_size: u32,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Secret seeds, salts and keys.
    pub randomness: Randomness,
    /// The folder of the append-only witness log (`serve --witness-dir`), if any.
    pub witness_dir: Option<PathBuf>,
    /// How long an API token lasts.
    pub api_token_days: ApiTokenDays,
}

impl ServiceConfig {
    /// The defaults for `database`: the system clock, the operating system's randomness, the
    /// data directory next to an SQLite file (or `./data`), 8 connections.
    pub fn new(database: DatabaseUrl) -> Self {
        let data_dir = store::data_dir_of(&database, Path::new("./data"));
        Self {
            database,
            data_dir,
            pool_size: 8,
            clock: Arc::new(SystemClock),
            randomness: Randomness::Os,
            witness_dir: None,
            api_token_days: ApiTokenDays::default(),
        }
    }
}

/// A trial's state as of a stored head, kept between commands.
pub(crate) struct CachedTrial {
    /// The trial's row (read again after an amendment changes it).
    trial: Option<crate::store::TrialRow>,
    /// The engine's numerical workspace, reused by the next command.
    quadrature: Option<crate::stats::Quadrature>,
    protocol: Arc<LoadedProtocol>,
    seed: crate::engine::TrialSeed,
    state: TrialState,
    /// The engine's history of the trial (shared with views; copied only when a view holds it
    /// while a command changes it).
    history: Arc<crate::engine::History<u64>>,
    head: Option<AuditRecord>,
    /// The seq of the chain's latest checkpoint, when this process signed it (the next
    /// checkpoint's link, without a query); `None` when unknown.
    checkpointed: Option<u64>,
}

/// The live-trial service.
pub struct Service {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    randomness: Randomness,
    key: ServerKey,
    /// Whether [`Service::open`] generated the key (the server's first start).
    key_created: bool,
    database: DatabaseUrl,
    cache: Mutex<HashMap<String, CachedTrial>>,
    /// Writers of this process queue here before `BEGIN IMMEDIATE` on SQLite, which allows
    /// one writer at a time anyway: waiting on a mutex wakes the next writer at once, where
    /// SQLite's busy handler would sleep and poll (tens of milliseconds under load).
    sqlite_writer: Arc<Mutex<()>>,
    /// On PostgreSQL, one turn per trial for this process's commands on it (see
    /// [`Service::command_turn`]).
    trial_turns: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Where signed heads are appended after their commit (`None`: no witness log).
    witness_log: Option<WitnessLog>,
    /// How long an API token lasts.
    api_token_days: ApiTokenDays,
    /// Passwords evaluated since the service opened ([`Service::password_evaluations`]).
    password_evaluations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Service({})", self.database.display_target())
    }
}

impl Service {
    /// Connects (creating and migrating the database when needed) and loads the server key,
    /// generating it on first start.
    pub fn open(config: ServiceConfig) -> Result<Self, ServiceError> {
        let pool = store::open_pool(&config.database, config.pool_size)?;
        let (key, key_created) = load_or_create_key(&config.data_dir, &config.randomness)?;
        Ok(Self {
            pool,
            clock: config.clock,
            randomness: config.randomness,
            key,
            key_created,
            database: config.database,
            cache: Mutex::new(HashMap::new()),
            sqlite_writer: Arc::new(Mutex::new(())),
            trial_turns: Mutex::new(HashMap::new()),
            witness_log: config.witness_dir.map(WitnessLog::new),
            api_token_days: config.api_token_days,
            password_evaluations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The public key that verifies this server's checkpoints.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Whether opening this service generated the server key (its first start): `serve` then
    /// prints the key for the regulator to record (`audit verify --public-key`).
    pub fn created_key(&self) -> bool {
        self.key_created
    }

    /// Upgrades a database last written before checkpoint links: signs a linked `manual`
    /// checkpoint of the head of every chain, so that from then on every head is covered and
    /// every checkpoint linked. It runs only while no checkpoint of the database carries a link
    /// (the first start after the upgrade): after that, a chain without a linked checkpoint is
    /// never signed again but reported by `audit verify`, so deleting a chain's checkpoints
    /// cannot get its rewritten head signed by a restart. Returns the chains whose heads it
    /// signed; `serve` runs it at start and prints them.
    ///
    /// A database whose every checkpoint was deleted looks like one to upgrade: run `audit
    /// verify` (against an earlier export, and with the witness log) before starting a server
    /// on a database that may have been written by someone else.
    #[instrument(skip_all)]
    pub fn cover_heads_of_old_chains(&self) -> Result<Vec<String>, ServiceError> {
        let mut conn = self.conn()?;
        let mut signed = Vec::new();
        if CheckpointRow::any_linked(&mut conn)? {
            return Ok(signed);
        }
        for chain in AuditRow::chains(&mut conn)? {
            let id: ChainId = chain.parse()?;
            let lock = match id.trial_id() {
                Some(trial) => WriteLock::Trial(trial),
                None => WriteLock::System,
            };
            let done = self.write_transaction(&mut conn, lock, |conn| {
                let linked = CheckpointRow::of_chain(conn, &chain)?
                    .iter()
                    .any(|c| c.previous.is_some());
                match AuditRow::head(conn, &chain)? {
                    Some(head) if !linked => {
                        self.sign_head(conn, &record_from_row(head)?, Purpose::Manual)?;
                        Ok::<_, ServiceError>(true)
                    }
                    _ => Ok(false),
                }
            })?;
            if done {
                tracing::warn!(%chain, "signed the head of a chain without linked checkpoints");
                signed.push(chain);
            }
        }
        Ok(signed)
    }

    /// The database this service uses.
    pub fn database(&self) -> &DatabaseUrl {
        &self.database
    }

    fn conn(&self) -> Result<store::PooledConn, ServiceError> {
        self.pool
            .get()
            .map_err(|e| ServiceError::Store(store::StoreError::Pool(e.to_string())))
    }

    /// The lock a trial command holds from before its transaction until its state is cached:
    /// SQLite's single writer lock of this process, or the trial's own on PostgreSQL (other
    /// trials go on in parallel; other processes are kept out by the row lock).
    fn command_turn(&self, trial_id: &str) -> Arc<Mutex<()>> {
        match self.database {
            DatabaseUrl::Sqlite(_) => Arc::clone(&self.sqlite_writer),
            _ => {
                let mut turns = self
                    .trial_turns
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::clone(turns.entry(trial_id.to_owned()).or_default())
            }
        }
    }

    /// [`store::write_transaction`], queued behind this process's other SQLite writers.
    fn write_transaction<T, E>(
        &self,
        conn: &mut DbConn,
        lock: WriteLock<'_>,
        work: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<store::StoreError>,
    {
        let _queued = match self.database {
            DatabaseUrl::Sqlite(_) => Some(
                self.sqlite_writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
            _ => None,
        };
        store::write_transaction(conn, lock, work)
    }

    fn attribution(&self, actor: &Actor, reason: Option<&str>) -> Attribution {
        Attribution {
            actor: actor.username.clone(),
            role: actor.role.as_str().to_owned(),
            recorded_at: self.clock.now(),
            reason: reason.map(|r| r.trim().to_owned()),
        }
    }

    /// Appends one event to the system chain and signs the new head (the caller holds the
    /// system lock).
    fn append_system(
        &self,
        conn: &mut DbConn,
        event: &SystemEvent,
        by: &Attribution,
    ) -> Result<AuditRecord, ServiceError> {
        self.append_system_as(conn, event, by, Purpose::Command)
    }

    /// [`Self::append_system`], with the purpose its checkpoint names.
    fn append_system_as(
        &self,
        conn: &mut DbConn,
        event: &SystemEvent,
        by: &Attribution,
        purpose: Purpose,
    ) -> Result<AuditRecord, ServiceError> {
        Ok(self.append_system_signed(conn, event, by, purpose)?.0)
    }

    /// [`Self::append_system_as`], also giving the checkpoint that covers the new record.
    fn append_system_signed(
        &self,
        conn: &mut DbConn,
        event: &SystemEvent,
        by: &Attribution,
        purpose: Purpose,
    ) -> Result<(AuditRecord, Checkpoint), ServiceError> {
        let chain = ChainId::system();
        let head = AuditRow::head(conn, &chain.to_string())?
            .map(record_from_row)
            .transpose()?;
        let record = AuditRecord::system(head.as_ref(), event, by)?;
        AuditRow::append(conn, &[row_from_record(&record)])?;
        let checkpoint = self.sign_head(conn, &record, purpose)?;
        Ok((record, checkpoint))
    }

    /// Signs a checkpoint of `head` (the record just appended, in the caller's transaction),
    /// linked to its chain's latest checkpoint, and stores it.
    fn sign_head(
        &self,
        conn: &mut DbConn,
        head: &AuditRecord,
        purpose: Purpose,
    ) -> Result<Checkpoint, ServiceError> {
        self.sign_head_after(conn, head, purpose, None)
    }

    /// [`Self::sign_head`], with the seq of the chain's latest checkpoint when the caller knows
    /// it (a trial's cached state), or read from the database.
    fn sign_head_after(
        &self,
        conn: &mut DbConn,
        head: &AuditRecord,
        purpose: Purpose,
        previous: Option<u64>,
    ) -> Result<Checkpoint, ServiceError> {
        let previous = match previous {
            Some(seq) => i64::try_from(seq).map_err(|_| {
                ServiceError::Integrity(format!("{} has a checkpoint at seq {seq}", head.chain))
            })?,
            None => CheckpointRow::last_seq(conn, &head.chain.to_string())?,
        };
        let checkpoint = Checkpoint::sign_after(
            &self.key,
            &ChainHead {
                chain: head.chain.clone(),
                seq: head.seq,
                hash: head.hash,
            },
            purpose,
            self.clock.now(),
            u64::try_from(previous).map_err(|_| {
                ServiceError::Integrity(format!(
                    "{} has a checkpoint at seq {previous}",
                    head.chain
                ))
            })?,
        )?;
        trial::checkpoint_row(&checkpoint).insert(conn)?;
        Ok(checkpoint)
    }

    /// Adds a user account (admin, or the server's command line). Recorded on the system chain.
    #[instrument(skip_all, fields(username = %user.username.as_str(), role = %user.role))]
    pub fn add_user(&self, actor: &Actor, user: &NewUser) -> Result<(), ServiceError> {
        actor.require(Permission::ManageUsers)?;
        user.validate()?;
        let hash = user.password.hash(&self.randomness.bytes32())?;
        let by = self.attribution(actor, None);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            if UserRow::find(conn, user.username.as_str())?.is_some() {
                return Err(ServiceError::Conflict(format!(
                    "user {} exists already",
                    user.username.as_str()
                )));
            }
            let row = UserRow {
                username: user.username.as_str().to_owned(),
                printed_name: user.printed_name.trim().to_owned(),
                email: user.email.trim().to_owned(),
                password_hash: hash.clone(),
                active: true,
                created_at: by.recorded_at.as_str().to_owned(),
                must_change_password: false,
            };
            UserRow::insert(conn, &row, user.role.as_str())?;
            self.append_system(
                conn,
                &SystemEvent::UserAdded {
                    username: row.username.clone(),
                    role: user.role.as_str().to_owned(),
                    printed_name: row.printed_name.clone(),
                    email: row.email.clone(),
                },
                &by,
            )?;
            Ok(())
        })
    }

    /// E-mail queued for `trial_id` (every trial when `None`), oldest first.
    pub fn outbox(
        &self,
        trial_id: Option<&str>,
    ) -> Result<Vec<crate::store::OutboxRow>, ServiceError> {
        let mut conn = self.conn()?;
        Ok(crate::store::OutboxRow::list(&mut conn, trial_id)?)
    }
}

/// A user name as given, made safe to record (a failed login may carry anything).
pub(crate) fn printable(text: &str) -> String {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    if cleaned.trim().is_empty() {
        "(blank)".to_owned()
    } else {
        cleaned.trim().to_owned()
    }
}

/// The server key, and whether it was generated now.
fn load_or_create_key(
    dir: &Path,
    randomness: &Randomness,
) -> Result<(ServerKey, bool), ServiceError> {
    let path = dir.join(SERVER_KEY_FILE);
    let io = |source| {
        ServiceError::Store(store::StoreError::Io {
            path: path.clone(),
            source,
        })
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => ServerKey::from_hex(text.trim())
            .map(|key| (key, false))
            .map_err(|e| {
                ServiceError::Integrity(format!("{}: not a server key: {e}", path.display()))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            store::create_private_dir(dir).map_err(io)?;
            let key = ServerKey::from_bytes(&randomness.bytes32());
            write_private(&path, &key.to_hex()).map_err(io)?;
            tracing::info!(path = %path.display(), "generated the server's signing key");
            Ok((key, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file readable by its owner only, without replacing one that exists.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// An audit record as a row.
pub(crate) fn row_from_record(record: &AuditRecord) -> AuditRow {
    AuditRow {
        chain: record.chain.to_string(),
        seq: record.seq as i64,
        kind: record.kind.clone(),
        payload: record.payload.clone(),
        actor: record.actor.clone(),
        role: record.role.clone(),
        recorded_at: record.recorded_at.as_str().to_owned(),
        reason: record.reason.clone(),
        salt: record.salt.as_ref().map(crate::audit::Salt::to_hex),
        prev_hash: record.prev_hash.to_hex(),
        hash: record.hash.to_hex(),
    }
}

/// A stored row as an audit record (untrusted until its chain verifies).
pub(crate) fn record_from_row(row: AuditRow) -> Result<AuditRecord, ServiceError> {
    let at = |field: &str, problem: String| {
        ServiceError::Integrity(format!(
            "{} record {}: {field}: {problem}",
            row.chain, row.seq
        ))
    };
    Ok(AuditRecord {
        chain: row
            .chain
            .parse::<ChainId>()
            .map_err(|e| at("chain", e.to_string()))?,
        seq: u64::try_from(row.seq).map_err(|e| at("seq", e.to_string()))?,
        kind: row.kind.clone(),
        payload: row.payload.clone(),
        actor: row.actor.clone(),
        role: row.role.clone(),
        recorded_at: crate::audit::UtcTimestamp::parse(&row.recorded_at)
            .map_err(|e| at("recorded_at", e.to_string()))?,
        reason: row.reason.clone(),
        salt: row
            .salt
            .as_deref()
            .map(str::parse::<crate::audit::Salt>)
            .transpose()
            .map_err(|e| at("salt", e.to_string()))?,
        prev_hash: row
            .prev_hash
            .parse::<Hash>()
            .map_err(|e| at("prev_hash", e.to_string()))?,
        hash: row
            .hash
            .parse::<Hash>()
            .map_err(|e| at("hash", e.to_string()))?,
    })
}
