//! Witnesses and the outbox, on a fresh SQLite file per test and on a fresh PostgreSQL database
//! when `BAYESTRIAL_TEST_POSTGRES` is set: signed heads appended to the witness log and mailed
//! to the trial's witnesses; a chain cut back after a witnessed look (records and checkpoints
//! deleted) caught by `audit verify --witness`; the daily witness; e-mail addresses parsed by the
//! mailer; bad messages parked and temporary failures retried after a backoff.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use actix_web::http::StatusCode;
use bayestrial::audit::{parse_witness_file, ChainId, Purpose};
use bayestrial::engine::OutcomeValue;
use bayestrial::export::ExportFormat;
use bayestrial::notify::{Mailer, SmtpSettings};
use bayestrial::service::{
    Actor, Delivery, Exporter, Meaning, NewUser, Password, Role, Service, ServiceError,
    SteppingClock, Username, WitnessLog, DAILY_SECONDS, RETRY_BASE_SECONDS,
};
use common::{form, page, platform_protocol, user, Backend, World, PASSWORD};

const START: i64 = 1_780_000_000;

/// The shared platform protocol, with looks after every 6 outcomes.
fn protocol(id: &str) -> String {
    platform_protocol(id).replace(
        "looks = { first = 25, every = 25 }",
        "looks = { first = 6, every = 6 }",
    )
}

/// A service on `backend` with a witness log in `witness_dir` and a clock the test moves.
fn open(backend: &Backend, witness_dir: &Path) -> (Service, Arc<SteppingClock>) {
    let clock = Arc::new(SteppingClock::starting_at(START));
    let mut config = backend.config();
    config.clock = clock.clone();
    config.witness_dir = Some(witness_dir.to_path_buf());
    (Service::open(config).expect("service opens"), clock)
}

/// A started trial; returns the statistician and the coordinator.
fn started(service: &Service, id: &str) -> (Actor, Actor) {
    let stat = user(service, "stat", Role::Statistician);
    let coord = user(service, "coord", Role::Coordinator);
    let approver = user(service, "approver", Role::Statistician);
    service
        .create_trial(&stat, &protocol(id), "test")
        .expect("created");
    service
        .sign(&approver, id, Meaning::Approval, PASSWORD)
        .expect("approved");
    service.start(&stat, id).expect("started");
    (stat, coord)
}

/// Enrols participants `from..to` and records an outcome for each.
fn run(service: &Service, coord: &Actor, id: &str, from: u32, to: u32) {
    for i in from..to {
        let subject = format!("S-{i:03}");
        service.enrol(coord, id, &subject, None).expect("enrolled");
        service
            .record_outcome(
                coord,
                id,
                &subject,
                OutcomeValue::Binary {
                    response: i % 3 == 0,
                },
                None,
            )
            .expect("outcome");
    }
}

fn witness_file(dir: &Path, id: &str) -> PathBuf {
    WitnessLog::new(dir.to_path_buf()).file_of(&ChainId::trial(id).expect("chain"))
}

/// Deletes the trial chain's records from `from_seq` on and their checkpoints, as someone who
/// can write the database would, bypassing the append-only triggers.
fn roll_back(backend: &Backend, id: &str, from_seq: u64) {
    let chain = format!("trial:{id}");
    let checkpoints = if backend.name() == "PostgreSQL" {
        "ALTER TABLE checkpoints DISABLE TRIGGER USER"
    } else {
        "DROP TRIGGER IF EXISTS checkpoints_no_delete"
    };
    // The checkpoints of the records cut go too; those of the records kept stay, so the
    // shortened chain's head is covered and its checkpoints are linked without a gap.
    backend.tamper(&format!(
        "{checkpoints}; DELETE FROM checkpoints WHERE chain = '{chain}' AND seq >= {from_seq}; \
         DELETE FROM audit_events WHERE chain = '{chain}' AND seq >= {from_seq}"
    ));
}

#[test]
fn a_chain_cut_back_after_a_witnessed_look_is_caught_by_the_witness() {
    for backend in Backend::all() {
        let name = backend.name();
        let witnesses = backend.dir.path().join("witness");
        let (service, _clock) = open(&backend, &witnesses);
        let (stat, coord) = started(&service, "W1");
        service
            .set_witnesses(&stat, "W1", "chair@dmc.example,\nsponsor@example.org")
            .expect("witnesses set");
        run(&service, &coord, "W1", 0, 8);

        // The look's signed head is in the log, one line per head, and in the witnesses' mail.
        let file = witness_file(&witnesses, "W1");
        let text = std::fs::read_to_string(&file).expect("witness file");
        let heads = parse_witness_file(&text).expect("witness lines");
        assert_eq!(heads.len(), 1, "{name}: one look, one line: {text}");
        assert_eq!(text.lines().count(), 1);
        let look = heads[0].checkpoint.clone();
        assert_eq!(look.purpose, Purpose::Look);
        let mail: Vec<_> = service
            .outbox(Some("W1"))
            .expect("outbox")
            .into_iter()
            .filter(|m| m.subject.contains("signed head"))
            .collect();
        let mut to: Vec<&str> = mail.iter().map(|m| m.recipient.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to, ["chair@dmc.example", "sponsor@example.org"], "{name}");
        let mailed = parse_witness_file(mail[0].body.lines().last().expect("a line"))
            .expect("the mailed line reads as a head");
        assert_eq!(
            mailed[0].checkpoint, look,
            "{name}: the mail holds the same line"
        );

        // The witness agrees with the database, through the service and the command line.
        let report = service
            .verify_witness(&text, "w1.witness", None)
            .expect("verify");
        assert_eq!(report.problem, None, "{name}");
        let ok = verify_cli(&backend, &["--witness".as_ref(), file.as_os_str()]);
        assert!(ok.0, "{name}: {}", ok.1);

        // An export witnesses its heads too, and the witness file checks against the export.
        let export = service
            .export(
                &Exporter::User(stat.clone()),
                "W1",
                ExportFormat::Jsonl,
                false,
            )
            .expect("exported");
        let export_file = backend.dir.path().join("w1.jsonl");
        std::fs::write(&export_file, &export.bytes).expect("written");
        let text = std::fs::read_to_string(&file).expect("witness file");
        assert_eq!(text.lines().count(), 2, "{name}: the look and the export");
        let offline = verify_cli(
            &backend,
            &[
                "--export".as_ref(),
                export_file.as_os_str(),
                "--witness".as_ref(),
                file.as_os_str(),
            ],
        );
        assert!(offline.0, "{name}: {}", offline.1);
        assert!(offline.1.contains("2 witnessed head(s)"), "{}", offline.1);

        // Someone with write access to the database cuts the chain back before the look and
        // deletes the checkpoints of what was cut, so the shortened chain is signed to its head.
        // Cut after the last command before the look, so that the shortened chain ends on a
        // command's signed head.
        let before_look = service
            .checkpoints(&stat)
            .expect("checkpoints")
            .iter()
            .filter(|c| c.chain == "trial:W1")
            .filter_map(|c| u64::try_from(c.seq).ok())
            .filter(|&seq| seq < look.seq)
            .max()
            .expect("a command before the look");
        roll_back(&backend, "W1", before_look + 1);
        // The database alone catches it too, since the export was recorded on the system chain
        // with the head it held (an attacker would have to cut the system chain as well)…
        let alone = service.verify(Some("W1")).expect("verify runs");
        let problem = alone.problem.expect("the export record names the old head");
        assert_eq!(problem.chain, "trial:W1", "{name}: {problem}");
        assert!(
            problem.problem.contains("export recorded at system seq"),
            "{name}: {problem}"
        );
        // …and the witness, which names the chain, the seq and the file's line.
        let report = service
            .verify_witness(&text, "w1.witness", None)
            .expect("verify");
        let problem = report.problem.expect("caught");
        assert!(
            problem.contains("w1.witness")
                && problem.contains("witness line 1")
                && problem.contains("chain trial:W1")
                && problem.contains(&format!("record {}", look.seq))
                && problem.contains("the chain was cut"),
            "{name}: {problem}"
        );
        let (passed, output) = verify_cli(&backend, &["--witness".as_ref(), file.as_os_str()]);
        assert!(!passed, "{name}: {output}");
        // The command line stops at the first finding: the export record, before the witness.
        assert!(
            output.contains("FAILED: trial:W1 seq") && output.contains("export recorded"),
            "{name}: {output}"
        );
    }
}

/// Runs `bayestrial audit verify` on the backend's database with `args`; returns whether it
/// passed, and its output.
fn verify_cli(backend: &Backend, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args([
            "audit",
            "verify",
            "--database-url",
            &backend.url,
            "--data-dir",
        ])
        .arg(backend.dir.path())
        .args(args)
        .output()
        .expect("bayestrial runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_log_only_grows_and_the_daily_witness_comes_once_a_day() {
    for backend in Backend::all() {
        let name = backend.name();
        let witnesses = backend.dir.path().join("witness");
        let (service, clock) = open(&backend, &witnesses);
        let (stat, coord) = started(&service, "W2");
        let file = witness_file(&witnesses, "W2");
        // A trial started today with no checkpoint yet: its head is witnessed once, not twice.
        assert_eq!(service.witness_due().expect("daily"), 1, "{name}");
        assert_eq!(service.witness_due().expect("daily"), 0, "{name}");
        let first = std::fs::read_to_string(&file).expect("witness file");
        assert_eq!(first.lines().count(), 1);

        // Looks add their heads; earlier lines stay byte for byte.
        run(&service, &coord, "W2", 0, 13);
        let second = std::fs::read_to_string(&file).expect("witness file");
        assert!(second.starts_with(&first), "{name}: append only");
        assert_eq!(second.lines().count(), 3, "{name}: two looks: {second}");

        // A day later the records after the last look are witnessed, once a day.
        clock.advance(DAILY_SECONDS + 10);
        assert_eq!(service.witness_due().expect("daily"), 1, "{name}");
        assert_eq!(
            service.witness_due().expect("daily"),
            0,
            "{name}: once a day"
        );
        service
            .enrol(&coord, "W2", "S-100", None)
            .expect("enrolled");
        assert_eq!(
            service.witness_due().expect("daily"),
            0,
            "{name}: once a day"
        );
        // Another day: the new record is witnessed; then a day with nothing new, nothing.
        clock.advance(DAILY_SECONDS + 10);
        assert_eq!(service.witness_due().expect("daily"), 1, "{name}");
        clock.advance(DAILY_SECONDS + 10);
        assert_eq!(
            service.witness_due().expect("daily"),
            0,
            "{name}: nothing new"
        );
        let third = std::fs::read_to_string(&file).expect("witness file");
        assert!(third.starts_with(&second));
        let heads = parse_witness_file(&third).expect("lines");
        assert_eq!(heads.len(), 5, "{name}: {third}");
        let report = service
            .verify_witness(&third, "w2.witness", None)
            .expect("verify");
        assert_eq!(report.problem, None, "{name}");

        // A stop is witnessed at once.
        service.close(&stat, "W2", "enough").expect("closed");
        let fourth = std::fs::read_to_string(&file).expect("witness file");
        assert!(fourth.starts_with(&third));
        let heads = parse_witness_file(&fourth).expect("lines");
        assert_eq!(heads.len(), 6, "{name}: the stop's head");
        assert_eq!(heads[5].checkpoint.purpose, Purpose::Command);
        assert_eq!(service.witness_due().expect("daily"), 0, "{name}: stopped");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
}

#[test]
fn addresses_are_parsed_by_the_mailer_when_entered() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let (stat, _) = started(&service, "W3");
    let refused = service.add_user(
        &Actor::command_line(),
        &NewUser {
            username: Username::parse("mallory").expect("name"),
            role: Role::Coordinator,
            printed_name: "Mallory".into(),
            email: "a@b@c.d".into(),
            password: Password::new(PASSWORD).expect("password"),
        },
    );
    assert!(
        matches!(&refused, Err(ServiceError::Invalid { field: "email", problem }) if problem.contains("a@b@c.d")),
        "{refused:?}"
    );
    let system_records = || service.verify(None).expect("verify").records;
    let before = system_records();
    let refused = service.set_witnesses(&stat, "W3", "chair@dmc.example a@b@c.d");
    assert!(
        matches!(&refused, Err(ServiceError::Invalid { field: "witnesses", problem }) if problem.contains("a@b@c.d")),
        "{refused:?}"
    );
    assert_eq!(
        service.witnesses(&stat, "W3").expect("list"),
        Vec::<String>::new(),
        "nothing half-written"
    );
    assert_eq!(system_records(), before, "nothing recorded");
    service
        .set_witnesses(&stat, "W3", "chair@dmc.example")
        .expect("set");
    assert_eq!(
        system_records(),
        before + 1,
        "the change is recorded on the system chain"
    );
    let coord = user(&service, "coord2", Role::Coordinator);
    assert!(matches!(
        service.set_witnesses(&coord, "W3", "chair@dmc.example"),
        Err(ServiceError::Forbidden(_))
    ));
}

#[test]
fn a_bad_message_is_parked_and_a_temporary_failure_retried_after_its_backoff() {
    for backend in Backend::all() {
        let name = backend.name();
        let clock = Arc::new(SteppingClock::starting_at(START));
        let mut config = backend.config();
        config.clock = clock.clone();
        let service = Service::open(config).expect("service opens");
        let admin = user(&service, "admin", Role::Admin);
        // A message queued before addresses were checked, and a good one after it.
        backend
            .plain(
                "INSERT INTO outbox (trial_id, recipient, subject, body, created_at) VALUES \
                 (NULL, 'a@b@c.d', 'bad', 'b', '2026-05-28T00:00:00.000Z'), \
                 (NULL, 'good@example.org', 'good', 'b', '2026-05-28T00:00:01.000Z')",
            )
            .expect("queued");
        let (memory, sent) = Mailer::memory();
        let done = service.deliver_outbox(&memory).expect("delivered");
        assert_eq!(
            done,
            Delivery {
                sent: 1,
                deferred: 0,
                parked: 1
            },
            "{name}"
        );
        assert_eq!(sent.lock().expect("sent")[0].to, "good@example.org");
        let parked = service.parked_mail(&admin).expect("parked");
        assert_eq!(parked.len(), 1, "{name}");
        assert_eq!(parked[0].recipient, "a@b@c.d");
        assert!(
            parked[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("a@b@c.d")),
            "{name}: {:?}",
            parked[0].last_error
        );
        // Parked means not tried again.
        assert_eq!(
            service.deliver_outbox(&memory).expect("delivered"),
            Delivery::default()
        );

        // A mail server that refuses connections: retried after the backoff, not before.
        backend
            .plain(
                "INSERT INTO outbox (trial_id, recipient, subject, body, created_at) VALUES \
                 (NULL, 'later@example.org', 'later', 'b', '2026-05-28T00:00:02.000Z')",
            )
            .expect("queued");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("address")
            .port();
        let down = Mailer::smtp(
            "bayestrial@example.org",
            SmtpSettings {
                host: "127.0.0.1".into(),
                port,
                credentials: None,
            },
        )
        .expect("mailer");
        let done = service.deliver_outbox(&down).expect("delivered");
        assert_eq!(done.deferred, 1, "{name}: {done:?}");
        let row = service
            .outbox(None)
            .expect("outbox")
            .into_iter()
            .find(|m| m.recipient == "later@example.org")
            .expect("row");
        assert_eq!(row.attempts, 1);
        assert!(row.next_attempt_at.is_some() && row.last_error.is_some());
        assert_eq!(
            service.deliver_outbox(&memory).expect("delivered"),
            Delivery::default(),
            "{name}: not before the backoff"
        );
        clock.advance(RETRY_BASE_SECONDS);
        let done = service.deliver_outbox(&memory).expect("delivered");
        assert_eq!(done.sent, 1, "{name}: retried after the backoff");
        assert_eq!(sent.lock().expect("sent").len(), 2);
    }
}

#[actix_web::test]
async fn the_trial_page_edits_the_witness_list_and_the_admin_page_lists_parked_mail() {
    let world = World::new(11);
    let id = world.started(&protocol("W4"));
    let app = world.app().await;
    let (session, csrf) = world.session("stat", Role::Statistician);
    let path = format!("/trials/{id}/witnesses");
    let bad = form(
        &app,
        &session,
        &path,
        &[("csrf", &csrf), ("witnesses", "chair@dmc.example, a@b@c.d")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("witnesses") && bad.body.contains("a@b@c.d"),
        "{}",
        bad.body
    );
    let good = form(
        &app,
        &session,
        &path,
        &[("csrf", &csrf), ("witnesses", "chair@dmc.example")],
    )
    .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    let trial = page(&app, &session, &format!("/trials/{id}")).await;
    assert!(trial.body.contains("chair@dmc.example"), "{}", trial.body);

    // A coordinator may not change it.
    let (coord, coord_csrf) = world.session("coord", Role::Coordinator);
    let refused = form(
        &app,
        &coord,
        &path,
        &[("csrf", &coord_csrf), ("witnesses", "x@example.org")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let (admin, _) = world.session("admin", Role::Admin);
    let users = page(&app, &admin, "/admin/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.body.contains("Parked e-mail"), "{}", users.body);
}
