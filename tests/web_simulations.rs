//! Simulation reports that justify a protocol version, through the web app: a finished
//! simulation is stored with its version, scenario and seed, listed on the trial page, kept
//! across a restart, carried by the regulatory package; an amendment is approved only after a
//! simulation of its version; the simulate form shows its mistakes next to their fields.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use bayestrial::export::{ExportFormat, Manifest};
use bayestrial::service::{Amendment, Meaning, Role, ServiceError};
use bayestrial::web::jobs::JobState;
use common::*;

/// A small three-arm protocol with two scenarios: a simulation of a few replicates is quick.
fn protocol(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Simulated before signing"
design = "platform"
max_participants = 60

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "a"
name = "Arm A"
[[arm]]
id = "b"
name = "Arm B"
[[arm]]
id = "c"
name = "Arm C"

[allocation]
rule = "thompson"
power = 0.5
min = 0.10
max = 0.80
burn_in = 15

[analysis]
looks = {{ first = 30, every = 15 }}

[decision]
superiority = 0.975
inferiority = 0.02

[[scenario]]
name = "null"
truth = {{ a = 0.30, b = 0.30, c = 0.30 }}
accrual_per_week = 15
outcome_delay_weeks = 1

[[scenario]]
name = "b-best"
truth = {{ a = 0.30, b = 0.60, c = 0.30 }}
accrual_per_week = 15
outcome_delay_weeks = 1
"#
    )
}

/// Waits until the newest job of `trial` has ended; returns its state.
fn wait_for_job(world: &World, trial: &str) -> JobState {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = world
            .jobs
            .of_trial(trial)
            .into_iter()
            .next()
            .expect("a job of the trial");
        let state = job.state();
        if state.ended() {
            return state;
        }
        assert!(Instant::now() < deadline, "the simulation did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a simulation through the form and waits for it; returns the stored report's number.
async fn simulate<B: actix_web::body::MessageBody>(
    world: &World,
    app: &impl TestApp<B>,
    session: &(String, String),
    trial: &str,
    fields: &[(&str, &str)],
) -> i64 {
    let mut all = vec![("csrf", session.1.as_str())];
    all.extend_from_slice(fields);
    let started = form(
        app,
        &session.0,
        &format!("/trials/{trial}/simulations"),
        &all,
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    match wait_for_job(world, trial) {
        JobState::Finished {
            stored: Some(number),
            ..
        } => number,
        other => panic!("the simulation did not finish stored: {other:?}"),
    }
}

#[actix_web::test]
async fn a_finished_simulation_is_stored_listed_and_kept_across_a_restart() {
    let world = World::new(41);
    let trial = world.started(&protocol("SIM-1"));
    let app = world.app().await;
    let stat = world.session("stat", Role::Statistician);

    let number = simulate(
        &world,
        &app,
        &stat,
        &trial,
        &[("scenario", "b-best"), ("reps", "6"), ("seed", "77")],
    )
    .await;
    assert_eq!(number, 1);

    // Listed on the trial page with its version, scenario and seed, linking to the report.
    let page_text = page(&app, &stat.0, &format!("/trials/{trial}")).await;
    assert_eq!(page_text.status, StatusCode::OK);
    let body = &page_text.body;
    assert!(body.contains(r#"id="simulation-report-list""#), "{body}");
    assert!(
        body.contains(&format!(r#"href="/trials/{trial}/simulation-reports/1""#)),
        "the entry links to the stored report"
    );
    let row = body
        .split(r#"id="simulation-report-list""#)
        .nth(1)
        .expect("the list");
    assert!(row.contains(">b-best<") && row.contains(">77<") && row.contains(">6<"));

    // The stored report page and the report itself.
    let stored = page(
        &app,
        &stat.0,
        &format!("/trials/{trial}/simulation-reports/1"),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK);
    assert!(stored.body.contains("b-best") && stored.body.contains("77"));
    let html = page(
        &app,
        &stat.0,
        &format!("/trials/{trial}/simulation-reports/1/report.html"),
    )
    .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.starts_with("<!DOCTYPE html>") && html.body.contains("<svg"));

    // A regulator sees the list; a coordinator does not.
    let reg = world.session("reg", Role::Regulator);
    let reg_page = page(&app, &reg.0, &format!("/trials/{trial}")).await;
    assert!(reg_page.body.contains(r#"id="simulation-report-list""#));
    let coord = world.session("coord", Role::Coordinator);
    let coord_page = page(&app, &coord.0, &format!("/trials/{trial}")).await;
    assert!(!coord_page.body.contains("simulation-report"));
    let refused = page(
        &app,
        &coord.0,
        &format!("/trials/{trial}/simulation-reports/1"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A restart of the app on the same database: the report is still there, byte for byte.
    drop(app);
    let world = world.restarted(141);
    let app = world.app().await;
    let stat = world.session("stat", Role::Statistician);
    let again = page(
        &app,
        &stat.0,
        &format!("/trials/{trial}/simulation-reports/1/report.html"),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body, html.body,
        "the stored page survives the restart"
    );
    let listed = page(&app, &stat.0, &format!("/trials/{trial}")).await;
    assert!(listed
        .body
        .contains(&format!(r#"href="/trials/{trial}/simulation-reports/1""#)));
}

#[actix_web::test]
async fn the_regulatory_package_carries_the_reports_with_version_scenario_and_seed() {
    let world = World::new(42);
    let trial = world.started(&protocol("SIM-2"));
    let stat = World::actor("stat", Role::Statistician);
    let number = store_simulation(&world.service, &stat, &trial, 1);
    let package = world
        .service
        .export(
            &bayestrial::service::Exporter::CommandLine,
            &trial,
            ExportFormat::Package,
            false,
        )
        .expect("package");
    let mut zip = zip::ZipArchive::new(Cursor::new(package.bytes)).expect("zip");
    let mut manifest = String::new();
    zip.by_name("MANIFEST.json")
        .expect("manifest")
        .read_to_string(&mut manifest)
        .expect("read");
    let manifest: Manifest = serde_json::from_str(&manifest).expect("manifest reads");
    let listed = manifest
        .simulations
        .iter()
        .find(|s| s.number == number)
        .expect("the report is in the manifest");
    assert_eq!(listed.version, 1);
    assert_eq!(listed.scenario, "null");
    assert_eq!(listed.seed, "1");
    for path in [&listed.report, &listed.result] {
        assert!(
            manifest.files.iter().any(|f| &f.path == path),
            "{path} is hashed in the manifest"
        );
        let mut text = String::new();
        zip.by_name(path)
            .expect("the file is in the package")
            .read_to_string(&mut text)
            .expect("read");
        assert!(!text.is_empty());
    }
    let mut summary = String::new();
    zip.by_name("summary.html")
        .expect("summary")
        .read_to_string(&mut summary)
        .expect("read");
    assert!(summary.contains("simulation/report-1.html"), "{summary}");
}

#[actix_web::test]
async fn an_amendment_is_approved_only_after_a_simulation_of_its_version() {
    let world = World::new(43);
    let trial = world.started(&protocol("SIM-3"));
    let stat = World::actor("stat", Role::Statistician);
    // Four eyes: another statistician approves what `stat` proposed.
    let approver = World::actor("stat2", Role::Statistician);
    let service = &world.service;
    // A simulation of version 1 does not justify version 2.
    store_simulation(service, &stat, &trial, 1);
    let version = service
        .amend(
            &stat,
            &trial,
            &Amendment::MaxParticipants(90),
            PASSWORD,
            "recruitment is faster than planned",
        )
        .expect("amendment proposed");
    assert_eq!(version, 2);
    assert_eq!(
        service.trial_state(&trial).expect("state").max_participants,
        60,
        "nothing changes before the approval"
    );
    let refused = service.sign(&approver, &trial, Meaning::Approval, PASSWORD);
    match refused {
        Err(ServiceError::Conflict(message)) => {
            assert!(message.contains("version 2"), "{message}");
            assert!(
                message.contains(&format!("/trials/{trial}/simulate?version=2")),
                "{message}"
            );
        }
        other => panic!("the approval was not refused: {other:?}"),
    }

    // The simulate page offers the pending version; a simulation through it justifies it.
    let app = world.app().await;
    let session = world.session("stat", Role::Statistician);
    let trial_page = page(&app, &session.0, &format!("/trials/{trial}")).await;
    assert!(trial_page.body.contains(r#"id="pending-version""#));
    let form_page = page(
        &app,
        &session.0,
        &format!("/trials/{trial}/simulate?version=2"),
    )
    .await;
    assert_eq!(form_page.status, StatusCode::OK);
    assert!(form_page.body.contains(r#"name="version" value="2""#));
    let number = simulate(
        &world,
        &app,
        &session,
        &trial,
        &[
            ("version", "2"),
            ("scenario", "null"),
            ("reps", "4"),
            ("seed", "5"),
        ],
    )
    .await;
    let stored = service
        .simulation_report(&stat, &trial, number)
        .expect("stored");
    assert_eq!(stored.info.version, 2);

    service
        .sign(&approver, &trial, Meaning::Approval, PASSWORD)
        .expect("approved after the simulation");
    assert_eq!(
        service.trial_state(&trial).expect("state").max_participants,
        90
    );
    let view = service
        .trial_view(&stat, &trial, false)
        .expect("trial view");
    assert_eq!(view.version, 2);
    assert!(view.approved);
}

#[actix_web::test]
async fn a_new_trial_starts_without_a_simulation() {
    let world = World::new(44);
    // `World::started` signs and starts version 1 with no simulation stored.
    let trial = world.started(&protocol("SIM-4"));
    let stat = World::actor("stat", Role::Statistician);
    let shelf = world
        .service
        .simulation_shelf(&stat, &trial)
        .expect("shelf");
    assert!(shelf.reports.is_empty() && shelf.pending.is_none());
}

#[actix_web::test]
async fn the_simulate_form_shows_its_mistakes_next_to_the_fields_with_the_values_kept() {
    let world = World::new(45);
    let trial = world.started(&protocol("SIM-5"));
    let app = world.app().await;
    let (session, csrf) = world.session("stat", Role::Statistician);
    let path = format!("/trials/{trial}/simulations");

    let bad_reps = form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "b-best"),
            ("reps", "12,5"),
            ("seed", "9"),
        ],
    )
    .await;
    assert_eq!(bad_reps.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = &bad_reps.body;
    assert!(body.contains(r#"id="reps-error""#), "{body}");
    assert!(body.contains(r#"aria-describedby="reps-error""#));
    assert!(body.contains(r#"value="12,5""#) && body.contains(r#"value="9""#));
    assert!(body.contains(r#"<option value="b-best" selected>"#));
    assert!(body.contains(r#"<nav aria-label="Main">"#), "full layout");

    let too_many = form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "null"),
            ("reps", "100000000"),
            ("seed", "1"),
        ],
    )
    .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_many.body.contains(r#"id="reps-error""#));

    let unknown = form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "no-such-scenario"),
            ("reps", "3"),
            ("seed", "1"),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.body.contains(r#"id="scenario-error""#),
        "{}",
        unknown.body
    );
    assert!(unknown.body.contains(r#"value="3""#));

    let bad_seed = form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "null"),
            ("reps", "3"),
            ("seed", "-1"),
        ],
    )
    .await;
    assert_eq!(bad_seed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_seed.body.contains(r#"id="seed-error""#));
    assert!(world.jobs.of_trial(&trial).is_empty(), "no job was started");
}

#[actix_web::test]
async fn a_report_of_another_hash_or_too_large_is_refused() {
    let world = World::new(46);
    let trial = world.started(&protocol("SIM-6"));
    let stat = World::actor("stat", Role::Statistician);
    let base = bayestrial::service::NewSimulationReport {
        trial_id: trial.clone(),
        version: 1,
        protocol_hash: "00".repeat(32),
        scenario: "null".into(),
        seed: 1,
        reps: 1,
        summary: String::new(),
        result_json: "{}".into(),
        report_html: "<!DOCTYPE html>".into(),
    };
    let wrong_hash = world.service.store_simulation_report(&stat, &base);
    assert!(
        matches!(wrong_hash, Err(ServiceError::Conflict(ref m)) if m.contains("hash")),
        "{wrong_hash:?}"
    );
    let (loaded, _) = world
        .service
        .protocol_to_simulate(&stat, &trial, None)
        .expect("protocol");
    let huge = bayestrial::service::NewSimulationReport {
        protocol_hash: loaded.hash.to_hex(),
        report_html: "x".repeat(bayestrial::service::MAX_REPORT_HTML_BYTES + 1),
        ..base.clone()
    };
    let refused = world.service.store_simulation_report(&stat, &huge);
    assert!(
        matches!(
            refused,
            Err(ServiceError::Invalid {
                field: "report_html",
                ..
            })
        ),
        "{refused:?}"
    );
    let no_version = bayestrial::service::NewSimulationReport { version: 7, ..base };
    assert!(matches!(
        world.service.store_simulation_report(&stat, &no_version),
        Err(ServiceError::NotFound(_))
    ));
    let coord = World::actor("coord", Role::Coordinator);
    assert!(matches!(
        world.service.simulation_shelf(&coord, &trial),
        Err(ServiceError::Forbidden(_))
    ));
}
