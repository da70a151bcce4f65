//! The live service end to end on a fresh SQLite file per test, and on a fresh PostgreSQL
//! database per test when `BAYESTRIAL_TEST_POSTGRES` holds a server URL: commands, bad input,
//! idempotency, looks with signed checkpoints, concurrency (threads and processes), tampering
//! and a crash under load.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bayestrial::engine::{OutcomeValue, TrialStatus};
use bayestrial::protocol::ArmId;
use bayestrial::service::{
    Actor, Amendment, Meaning, NewUser, Password, Role, Service, ServiceConfig, ServiceError,
    Username,
};
use bayestrial::store::DatabaseUrl;

mod common;

use common::{Backend, PASSWORD};

fn protocol(id: &str, max: u32, every: u32) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Service test trial"
design = "platform"
max_participants = {max}

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "control"
control = true
[[arm]]
id = "a"
[[arm]]
id = "b"

[allocation]
rule = "thompson"
power = 0.5
control = "sqrt-k"
min = 0.05

[analysis]
looks = {{ first = {every}, every = {every} }}

[decision]
superiority = 0.999
inferiority = 0.001

[[scenario]]
name = "null"
truth = {{ control = 0.3, a = 0.3, b = 0.3 }}
accrual_per_week = 20
outcome_delay_weeks = 0
"#
    )
}

fn user(service: &Service, name: &str, role: Role) -> Actor {
    service
        .add_user(
            &Actor::command_line(),
            &NewUser {
                username: Username::parse(name).expect("user name"),
                role,
                printed_name: format!("Test {name}"),
                email: format!("{name}@example.org"),
                password: Password::new(PASSWORD).expect("password"),
            },
        )
        .expect("user added");
    Actor {
        username: name.to_owned(),
        role,
    }
}

/// A started trial with a statistician and a coordinator.
fn started_trial(service: &Service, id: &str, max: u32, every: u32) -> (Actor, Actor) {
    let stat = user(
        service,
        &format!("stat-{}", id.to_lowercase()),
        Role::Statistician,
    );
    let coord = user(
        service,
        &format!("coord-{}", id.to_lowercase()),
        Role::Coordinator,
    );
    let approver = user(
        service,
        &format!("approver-{}", id.to_lowercase()),
        Role::Statistician,
    );
    service
        .create_trial(&stat, &protocol(id, max, every), "test")
        .expect("trial created");
    service
        .sign(&approver, id, Meaning::Approval, PASSWORD)
        .expect("approved");
    service.start(&stat, id).expect("started");
    (stat, coord)
}

fn binary(response: bool) -> OutcomeValue {
    OutcomeValue::Binary { response }
}

fn head_seq(service: &Service, trial: &str) -> usize {
    service.verify(Some(trial)).expect("verify").records
}

fn assert_verified(service: &Service, what: &str) {
    let report = service.verify(None).expect("verify runs");
    assert_eq!(report.problem, None, "{what}: audit verify");
    let replayed = service.replay(None).expect("replay runs");
    assert!(replayed.is_ok(), "{what}: replay {replayed:?}");
    let projections = service
        .check_projections(None)
        .expect("projections re-derived");
    assert_eq!(
        projections.differences,
        vec![],
        "{what}: projection rows differ from the chains"
    );
}

#[test]
fn a_trial_runs_and_bad_input_appends_nothing() {
    for backend in Backend::all() {
        let service = backend.service();
        let stat = user(&service, "stat", Role::Statistician);
        let coord = user(&service, "coord", Role::Coordinator);
        service
            .create_trial(&stat, &protocol("T1", 500, 10), "test")
            .expect("created");
        // Starting without approval is refused and appends nothing.
        let before = head_seq(&service, "T1");
        let refused = service.start(&stat, "T1");
        assert!(
            matches!(refused, Err(ServiceError::Conflict(ref m)) if m.contains("approval")),
            "{refused:?}"
        );
        assert_eq!(head_seq(&service, "T1"), before);
        // A wrong password is refused and logged on the system chain.
        let system_before = service.verify(None).expect("verify").records;
        let wrong = service.sign(&stat, "T1", Meaning::Approval, "not the password at all");
        assert!(
            matches!(wrong, Err(ServiceError::Unauthorized(_))),
            "{wrong:?}"
        );
        assert_eq!(
            service.verify(None).expect("verify").records,
            system_before + 1
        );
        // A coordinator may not approve; nor may the protocol's author (four eyes), who may
        // sign it for authorship.
        assert!(matches!(
            service.sign(&coord, "T1", Meaning::Approval, PASSWORD),
            Err(ServiceError::Forbidden(_))
        ));
        let own = service.sign(&stat, "T1", Meaning::Approval, PASSWORD);
        assert!(
            matches!(own, Err(ServiceError::Forbidden(ref m)) if m.contains("four eyes")),
            "{own:?}"
        );
        service
            .sign(&stat, "T1", Meaning::Authorship, PASSWORD)
            .expect("authorship");
        let approver = user(&service, "approver", Role::Statistician);
        service
            .sign(&approver, "T1", Meaning::Approval, PASSWORD)
            .expect("approved");
        service.start(&stat, "T1").expect("started");

        // Enrolment with an idempotency key: the retry returns the first answer.
        let first = service
            .enrol(&coord, "T1", "S-001", Some("key-1"))
            .expect("enrolled");
        let records = head_seq(&service, "T1");
        let retry = service
            .enrol(&coord, "T1", "S-001", Some("key-1"))
            .expect("retried");
        assert_eq!(first, retry, "{}", backend.name());
        assert_eq!(head_seq(&service, "T1"), records, "a retry appends nothing");
        // The same subject without the key is a duplicate.
        assert!(matches!(
            service.enrol(&coord, "T1", "S-001", None),
            Err(ServiceError::Conflict(_))
        ));

        // Outcomes: unknown participant, wrong type, second outcome without a reason.
        let unknown = service.record_outcome(&coord, "T1", "S-999", binary(true), None);
        assert!(
            matches!(unknown, Err(ServiceError::NotFound(ref m)) if m.contains("S-999")),
            "{unknown:?}"
        );
        let wrong_type = service.record_outcome(
            &coord,
            "T1",
            "S-001",
            OutcomeValue::Continuous { value: 3.5 },
            None,
        );
        assert!(
            matches!(wrong_type, Err(ServiceError::Invalid { .. })),
            "{wrong_type:?}"
        );
        let receipt = service
            .record_outcome(&coord, "T1", "S-001", binary(true), None)
            .expect("outcome");
        let again = service.record_outcome(&coord, "T1", "S-001", binary(false), None);
        // A correction without a reason is a value to fix in the form (422 naming the field).
        assert!(
            matches!(again, Err(ServiceError::Invalid { field: "reason", ref problem }) if problem.contains("reason")),
            "{again:?}"
        );
        let corrected = service
            .record_outcome(
                &coord,
                "T1",
                "S-001",
                binary(false),
                Some("transcription error"),
            )
            .expect("corrected");
        assert!(receipt.seq.is_some(), "an open-label site sees seqs");
        assert_eq!(corrected.corrects, receipt.seq);
        assert_eq!(head_seq(&service, "T1"), records + 2);

        // Pause: enrolment refused; resume; amend with a signature; close.
        service.pause(&stat, "T1", "DSMB review").expect("paused");
        let paused = service.enrol(&coord, "T1", "S-002", None);
        assert!(
            matches!(paused, Err(ServiceError::Conflict(ref m)) if m.contains("paused")),
            "{paused:?}"
        );
        service.resume(&stat, "T1").expect("resumed");
        let wrong_amend = service.amend(
            &stat,
            "T1",
            &Amendment::MaxParticipants(600),
            "wrong password here",
            "more power",
        );
        assert!(matches!(wrong_amend, Err(ServiceError::Unauthorized(_))));
        let version = service
            .amend(
                &stat,
                "T1",
                &Amendment::AddArm {
                    id: ArmId::parse("c").expect("arm id"),
                    name: "Drug C".into(),
                    ratio: 1,
                },
                PASSWORD,
                "new compound available",
            )
            .expect("amendment proposed");
        assert_eq!(version, 2);
        // Pending until another statistician approves it: nothing changed yet.
        let arms = service.trial_state("T1").expect("state").arms.len();
        let own = service.sign(&stat, "T1", Meaning::Approval, PASSWORD);
        assert!(matches!(own, Err(ServiceError::Forbidden(_))), "{own:?}");
        assert_eq!(service.trial_state("T1").expect("state").arms.len(), arms);
        // Not before a stored simulation of the pending version.
        let unsimulated = service.sign(&approver, "T1", Meaning::Approval, PASSWORD);
        assert!(
            matches!(unsimulated, Err(ServiceError::Conflict(_))),
            "{unsimulated:?}"
        );
        common::store_simulation(&service, &stat, "T1", version);
        service
            .sign(&approver, "T1", Meaning::Approval, PASSWORD)
            .expect("amendment approved");
        assert_eq!(
            service.trial_state("T1").expect("state").arms.len(),
            arms + 1,
            "the arm is added once the amendment is approved"
        );
        for i in 2..30 {
            service
                .enrol(&coord, "T1", &format!("S-{i:03}"), None)
                .expect("enrolled");
            service
                .record_outcome(&coord, "T1", &format!("S-{i:03}"), binary(i % 3 == 0), None)
                .expect("outcome");
        }
        service
            .close(&stat, "T1", "sponsor decision")
            .expect("closed");
        let closed = service.enrol(&coord, "T1", "S-100", None);
        assert!(
            matches!(closed, Err(ServiceError::Conflict(_))),
            "{closed:?}"
        );
        let state = service.trial_state("T1").expect("state");
        assert!(matches!(state.status, TrialStatus::Stopped { .. }));
        assert!(state.looks_done >= 2, "looks ran as outcomes arrived");
        let report = service.verify(Some("T1")).expect("verify");
        assert!(report.checkpoints >= 2, "a signed checkpoint at every look");
        // Notifications were queued with the events, to the statistician (and the coordinator
        // for start, pauses and the stop); a look without a decision sends nothing.
        let outbox = service.outbox(Some("T1")).expect("outbox");
        let subjects: Vec<&str> = outbox.iter().map(|m| m.subject.as_str()).collect();
        for expected in [
            "awaits approval",
            "trial started",
            "enrolment paused",
            "trial stopped",
        ] {
            assert!(
                subjects.iter().any(|s| s.contains(expected)),
                "{expected}: {subjects:?}"
            );
        }
        assert!(
            subjects.iter().all(|s| !s.contains("performed")),
            "{subjects:?}"
        );
        assert!(
            outbox.iter().all(|m| !m.body.contains("p_best")),
            "no results in e-mail"
        );
        // Logins, failed ones too, are on the system chain.
        let records = service.verify(None).expect("verify").records;
        assert!(matches!(
            service.login("stat", "wrong password!!", None),
            Err(ServiceError::Unauthorized(_))
        ));
        assert!(matches!(
            service.login("nobody", PASSWORD, None),
            Err(ServiceError::Unauthorized(_))
        ));
        let actor = service.login("coord", PASSWORD, None).expect("login");
        assert_eq!(actor.role, Role::Coordinator);
        assert_eq!(service.verify(None).expect("verify").records, records + 3);
        assert_verified(&service, backend.name());
    }
}

#[test]
fn eight_threads_enrol_1600_participants_into_one_linear_chain() {
    for backend in Backend::all() {
        let service = Arc::new(backend.service());
        let (_, coord) = started_trial(&service, "CONC", 5000, 1000);
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (service, coord) = (Arc::clone(&service), coord.clone());
                scope.spawn(move || {
                    for i in 0..200 {
                        service
                            .enrol(&coord, "CONC", &format!("T{t}-{i}"), None)
                            .expect("enrolled");
                    }
                });
            }
        });
        let state = service.trial_state("CONC").expect("state");
        assert_eq!(state.enrolled(), 1600, "{}", backend.name());
        let subjects: HashSet<_> = state
            .participants
            .iter()
            .map(|p| p.subject_id.clone())
            .collect();
        assert_eq!(subjects.len(), 1600);
        assert_verified(&service, backend.name());
    }
}

/// Child process for the multi-process and crash tests; does nothing unless the parent set
/// its environment.
#[test]
fn child_enrols_when_asked() {
    let Ok(url) = std::env::var("BT_CHILD_URL") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("BT_CHILD_DIR").expect("dir"));
    let prefix = std::env::var("BT_CHILD_PREFIX").expect("prefix");
    let count: u32 = std::env::var("BT_CHILD_COUNT")
        .expect("count")
        .parse()
        .expect("count");
    let mut config = ServiceConfig::new(DatabaseUrl::parse(&url).expect("url"));
    config.data_dir = dir;
    let service = Service::open(config).expect("service");
    let coord = Actor {
        username: std::env::var("BT_CHILD_USER").expect("user"),
        role: Role::Coordinator,
    };
    for i in 0..count {
        let subject = format!("{prefix}-{i}");
        service
            .enrol(&coord, "PROC", &subject, Some(&subject))
            .expect("enrolled");
        // Acknowledged only once committed: the parent counts these lines.
        println!("ACK {subject}");
    }
}

fn spawn_child(backend: &Backend, user: &str, prefix: &str, count: u32) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_enrols_when_asked",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BT_CHILD_URL", &backend.url)
        .env("BT_CHILD_DIR", backend.dir.path())
        .env("BT_CHILD_PREFIX", prefix)
        .env("BT_CHILD_COUNT", count.to_string())
        .env("BT_CHILD_USER", user)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child process")
}

#[test]
fn two_processes_enrol_into_one_trial_on_postgres() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let service = backend.service();
    let (_, coord) = started_trial(&service, "PROC", 5000, 1000);
    let mut children = [
        spawn_child(&backend, &coord.username, "A", 150),
        spawn_child(&backend, &coord.username, "B", 150),
    ];
    for child in &mut children {
        assert!(child.wait().expect("child").success());
    }
    let state = service.trial_state("PROC").expect("state");
    assert_eq!(state.enrolled(), 300);
    assert_verified(&service, "two processes");
}

#[test]
fn a_killed_writer_loses_no_acknowledged_enrolment() {
    for backend in Backend::all() {
        let service = backend.service();
        let (_, coord) = started_trial(&service, "PROC", 100_000, 100_000);
        drop(service);
        let mut child = spawn_child(&backend, &coord.username, "K", 50_000);
        let stdout = child.stdout.take().expect("stdout");
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if let Some(subject) = line.strip_prefix("ACK ") {
                acknowledged.push(subject.to_owned());
            }
            if acknowledged.len() >= 150 {
                break;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let service = backend.service();
        let state = service.trial_state("PROC").expect("state after restart");
        let enrolled: HashSet<String> = state
            .participants
            .iter()
            .map(|p| p.subject_id.to_string())
            .collect();
        assert_eq!(enrolled.len(), state.participants.len(), "no duplicates");
        for subject in &acknowledged {
            assert!(
                enrolled.contains(subject),
                "{}: acknowledged {subject} is lost",
                backend.name()
            );
        }
        assert_verified(&service, backend.name());
    }
}

#[test]
fn tampering_is_found_at_the_right_record() {
    type Case = (&'static str, fn(&str) -> String, u64);
    // (what, SQL given the chain, seq that verify must name)
    let cases: [Case; 5] = [
        (
            "edited payload",
            |c| {
                format!("UPDATE audit_events SET payload = payload || ' ' WHERE chain = '{c}' AND seq = 12")
            },
            12,
        ),
        (
            "edited hash",
            |c| {
                format!(
                    "UPDATE audit_events SET hash = '{}' WHERE chain = '{c}' AND seq = 9",
                    "0".repeat(64)
                )
            },
            9,
        ),
        (
            "deleted row",
            |c| format!("DELETE FROM audit_events WHERE chain = '{c}' AND seq = 7"),
            7,
        ),
        (
            "swapped rows",
            |c| {
                format!(
                    "UPDATE audit_events SET seq = -1 WHERE chain = '{c}' AND seq = 5; \
             UPDATE audit_events SET seq = 5 WHERE chain = '{c}' AND seq = 6; \
             UPDATE audit_events SET seq = 6 WHERE chain = '{c}' AND seq = -1"
                )
            },
            5,
        ),
        (
            "tail cut after a checkpoint",
            |c| {
                format!(
            "DELETE FROM audit_events WHERE chain = '{c}' AND seq >= (SELECT MAX(seq) FROM checkpoints WHERE chain = '{c}')")
            },
            0,
        ),
    ];
    for backend in Backend::all() {
        for (index, (what, sql, seq)) in cases.iter().enumerate() {
            let service = backend.service();
            let trial = format!("TAMPER{index}");
            let (_, coord) = started_trial(&service, &trial, 1000, 10);
            for i in 0..12 {
                let subject = format!("S-{i}");
                service
                    .enrol(&coord, &trial, &subject, None)
                    .expect("enrolled");
                service
                    .record_outcome(&coord, &trial, &subject, binary(i % 2 == 0), None)
                    .expect("outcome");
            }
            assert_eq!(service.verify(Some(&trial)).expect("verify").problem, None);
            let chain = format!("trial:{trial}");
            if index == 0 {
                // Without bypassing the triggers, no UPDATE or DELETE gets through.
                assert!(backend
                    .plain(&format!(
                        "UPDATE audit_events SET kind = 'x' WHERE chain = '{chain}'"
                    ))
                    .is_err());
                assert!(backend
                    .plain(&format!("DELETE FROM audit_events WHERE chain = '{chain}'"))
                    .is_err());
                assert!(backend.plain("DELETE FROM checkpoints").is_err());
            }
            backend.tamper(&sql(&chain));
            let report = service.verify(Some(&trial)).expect("verify runs");
            let problem = report
                .problem
                .unwrap_or_else(|| panic!("{}: {what} was not found", backend.name()));
            assert_eq!(problem.chain, chain, "{what}");
            if *seq > 0 {
                assert_eq!(problem.seq, *seq, "{}: {what}: {problem}", backend.name());
            } else {
                assert!(problem.problem.contains("checkpoint"), "{what}: {problem}");
            }
        }
    }
}

#[test]
fn edited_projection_rows_are_each_reported() {
    for backend in Backend::all() {
        let service = backend.service();
        let trial = "PROJ";
        let (_, coord) = started_trial(&service, trial, 1000, 4);
        for i in 0..9 {
            let subject = format!("S-{i}");
            service
                .enrol(&coord, trial, &subject, None)
                .expect("enrolled");
            service
                .record_outcome(&coord, trial, &subject, binary(i % 3 == 0), None)
                .expect("outcome");
        }
        let clean = service
            .check_projections(Some(trial))
            .expect("projections re-derived");
        assert_eq!(clean.differences, vec![], "{}", backend.name());
        // trial, 9 participants, 9 outcomes, 2 looks, the trial status, at least 2 arms
        assert!(clean.rows >= 23, "{} rows", clean.rows);
        backend
            .plain(
                "UPDATE trials SET title = 'Forged title' WHERE id = 'PROJ'; \
                 UPDATE participants SET subject_id = 'S-X' WHERE trial_id = 'PROJ' AND participant = 2; \
                 UPDATE outcomes SET value = 'forged' WHERE trial_id = 'PROJ' AND participant = 4; \
                 DELETE FROM looks WHERE trial_id = 'PROJ' AND look = 1; \
                 UPDATE trial_status SET status = 'stopped' WHERE trial_id = 'PROJ'",
            )
            .expect("projection tables have no triggers");
        let report = service
            .check_projections(Some(trial))
            .expect("projections re-derived");
        let found: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
        let expected = [
            "trial PROJ table trials id PROJ: title: stored \"Forged title\"",
            "trial PROJ table participants participant 2: subject_id: stored \"S-X\", the chain says \"S-2\"",
            "trial PROJ table outcomes seq ",
            "trial PROJ table looks look 1: missing",
            "trial PROJ table trial_status trial PROJ: status: stored \"stopped\", the chain says \"running\"",
        ];
        for want in expected {
            assert!(
                found.iter().any(|f| f.starts_with(want)),
                "{}: {want} not in {found:#?}",
                backend.name()
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }
}

#[test]
fn audit_verify_and_replay_commands_report_by_exit_code() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let (_, coord) = started_trial(&service, "CLI", 1000, 10);
    for i in 0..11 {
        let subject = format!("S-{i}");
        service
            .enrol(&coord, "CLI", &subject, None)
            .expect("enrolled");
        service
            .record_outcome(&coord, "CLI", &subject, binary(i % 2 == 1), None)
            .expect("outcome");
    }
    drop(service);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(args)
            .args(["--database-url", &backend.url])
            .env("BAYESTRIAL_DATA_DIR", backend.dir.path())
            .output()
            .expect("runs")
    };
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let ok = verify(&[]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let replay = run(&["replay"]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replay.stdout)
    );
    // A projection row edited without touching a record: the pages would show it.
    backend
        .plain("UPDATE participants SET arm = 'forged' WHERE trial_id = 'CLI' AND participant = 3")
        .expect("projection tables have no triggers");
    let edited = verify(&[]);
    let text = String::from_utf8_lossy(&edited.stdout);
    assert_eq!(edited.status.code(), Some(1), "{text}");
    assert!(
        text.contains("trial CLI table participants participant 3: arm: stored \"forged\""),
        "{text}"
    );
    backend.tamper(
        "UPDATE audit_events SET payload = payload || ' ' WHERE chain = 'trial:CLI' AND seq = 8",
    );
    let bad = verify(&["--trial", "CLI"]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("trial:CLI seq 8"), "{text}");
}

#[test]
fn outcome_values_are_checked_for_range_and_connection_errors_name_the_backend() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let stat = user(&service, "stat", Role::Statistician);
    let coord = user(&service, "coord", Role::Coordinator);
    let source = std::fs::read_to_string("protocols/continuous-2arm.toml").expect("protocol");
    let trial = service
        .create_trial(&stat, &source, "protocols/continuous-2arm.toml")
        .expect("created")
        .id;
    let approver = user(&service, "approver", Role::Statistician);
    service
        .sign(&approver, &trial, Meaning::Approval, PASSWORD)
        .expect("approved");
    service.start(&stat, &trial).expect("started");
    service
        .enrol(&coord, &trial, "P-1", None)
        .expect("enrolled");
    let before = head_seq(&service, &trial);
    for bad in [f64::NAN, 401.0, -400.5] {
        let refused = service.record_outcome(
            &coord,
            &trial,
            "P-1",
            OutcomeValue::Continuous { value: bad },
            None,
        );
        assert!(
            matches!(refused, Err(ServiceError::Invalid { field: "value", .. })),
            "{bad}: {refused:?}"
        );
    }
    assert_eq!(
        head_seq(&service, &trial),
        before,
        "refused values append nothing"
    );
    service
        .record_outcome(
            &coord,
            &trial,
            "P-1",
            OutcomeValue::Continuous { value: 35.0 },
            None,
        )
        .expect("in range");

    // A connection error says which backend failed and why.
    let run = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(["migrate", "--database-url", url])
            .output()
            .expect("runs")
    };
    let postgres = run("postgres://nobody@127.0.0.1:1/none");
    assert_eq!(postgres.status.code(), Some(2));
    let message = String::from_utf8_lossy(&postgres.stderr);
    assert!(
        message.contains("PostgreSQL") && message.contains("127.0.0.1"),
        "{message}"
    );
    let sqlite = run("/proc/no-such-dir/x.db");
    let message = String::from_utf8_lossy(&sqlite.stderr);
    assert_eq!(sqlite.status.code(), Some(2), "{message}");
    assert!(
        message.contains("SQLite") && message.contains("/proc/no-such-dir"),
        "{message}"
    );
}

#[test]
fn hostile_ids_find_nothing_write_nothing_and_are_refused_by_name() {
    for backend in Backend::all() {
        let what = backend.name();
        let service = backend.service();
        let (stat, coord) = started_trial(&service, "H1", 100, 10);
        let before = head_seq(&service, "H1");
        // Ids no trial can have (a NUL byte, which PostgreSQL would refuse in text, control
        // characters, 300 characters) find no trial, on every path, instead of failing.
        for bad in ["a\0b", "\u{1}x", "x\n", &"x".repeat(300)] {
            let results = [
                service.start(&stat, bad).err(),
                service.enrol(&coord, bad, "S1", Some("k")).err(),
                service.participants(&coord, bad).err(),
                service.trial_events(&stat, bad, 0).err(),
            ];
            for (i, result) in results.into_iter().enumerate() {
                assert!(
                    matches!(result, Some(ServiceError::NotFound(_))),
                    "{what}: {bad:?} call {i}: {result:?}"
                );
            }
        }
        // A new trial's id must be URL-safe; a subject id must hold no invisible character.
        let refused = service.create_trial(&stat, &protocol("a/b", 100, 10), "test");
        assert!(
            matches!(
                &refused,
                Err(ServiceError::Invalid {
                    field: "trial.id",
                    ..
                })
            ),
            "{what}: {refused:?}"
        );
        let refused = service.enrol(&coord, "H1", "S\u{200b}1", Some("k2"));
        assert!(
            matches!(
                &refused,
                Err(ServiceError::Invalid {
                    field: "subject_id",
                    ..
                })
            ),
            "{what}: {refused:?}"
        );
        assert_eq!(head_seq(&service, "H1"), before, "{what}: nothing written");
        assert_verified(&service, what);
    }
}
