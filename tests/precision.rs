//! A precision trial live, through the web API on a fresh SQLite file: enrolment with
//! biomarkers (and the refusal of a missing, unknown or ineligible value, with nothing
//! appended), outcomes, looks, a graduation and its e-mail, the ODM export with the biomarkers
//! and strata as clinical data of the enrolment form (XSD-valid where the schema is installed),
//! offline verification and replay of the export.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use actix_web::http::StatusCode;
use bayestrial::export::{replay_export, verify_export, ExportFormat, ReplayOutcome};
use bayestrial::service::{Exporter, Role};
use common::{api_post, page, World};
use serde_json::json;

/// Two biomarkers (HR+/HER2+ ineligible), a control and two arms (`a` in HR-negative subtypes
/// only), looks every 40 outcomes, graduation at 85 % after 20 outcomes of the arm.
const PROTOCOL: &str = r#"[trial]
id = "PREC-LIVE"
title = "A live precision trial"
design = "platform"
max_participants = 240

[outcome]
kind = "binary"
name = "pCR"

[[biomarker]]
id = "HR"
name = "Hormone receptor"
levels = ["pos", "neg"]

[[biomarker]]
id = "HER2"
name = "HER2"
levels = ["pos", "neg"]

[strata]
ineligible = ["HR = pos and HER2 = pos"]

[[arm]]
id = "ctl"
name = "Control"
control = true

[[arm]]
id = "a"
name = "Drug A"
strata = ["HR = neg"]

[[arm]]
id = "b"
name = "Drug B"

[allocation]
rule = "thompson"
control = 0.25
burn_in = 30

[analysis]
looks = { first = 40, every = 40 }

[[signature]]
id = "all"
name = "All"
strata = ["all"]

[[signature]]
id = "hr-neg"
name = "HR-negative"
strata = ["HR = neg"]

[graduation]
future_n = 100
threshold = 0.85
futility = 0.05
min_participants = 20

[[scenario]]
name = "null"
truth = { ctl = 0.2, a = 0.2, b = 0.2 }
accrual_per_week = 5
prevalence = [{ strata = "all", share = 1 }]
"#;

const SUBTYPES: [(&str, &str); 3] = [("neg", "pos"), ("neg", "neg"), ("pos", "neg")];

fn trial_records(world: &World, id: &str) -> usize {
    let admin = World::actor("admin", Role::Admin);
    world
        .service
        .audit_page(
            &admin,
            &bayestrial::store::AuditQuery {
                chain: Some(format!("trial:{id}")),
                limit: 10_000,
                ..Default::default()
            },
        )
        .expect("trial chain")
        .entries
        .len()
}

#[actix_web::test]
async fn a_precision_trial_runs_live_through_the_api() {
    let world = World::new(61);
    let app = world.app().await;
    let id = world.started(PROTOCOL);
    let coord = world.token("coord", Role::Coordinator);
    let enrol_path = format!("/api/trials/{id}/participants");

    // Bad biomarker input: 422 naming what is wrong, and nothing appended.
    let before = trial_records(&world, &id);
    let bad = [
        (json!({ "HR": "neg" }), "HER2"),
        (json!({ "HR": "neg", "HER2": "pos", "ER": "pos" }), "ER"),
        (json!({ "HR": "neg", "HER2": "equivocal" }), "equivocal"),
        (json!({ "HR": "pos", "HER2": "pos" }), "HR=pos HER2=pos"),
        (json!(null), "biomarkers"),
    ];
    for (k, (values, named)) in bad.into_iter().enumerate() {
        let mut body =
            json!({ "subject_id": format!("X-{k}"), "idempotency_key": format!("bad-{k}") });
        if !values.is_null() {
            body["biomarkers"] = values;
        }
        let reply = api_post(&app, &coord, &enrol_path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert!(reply.body.contains(named), "{named}: {}", reply.body);
    }
    let oversized: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("B{i}"), json!("x"))).collect();
    let reply = api_post(
        &app,
        &coord,
        &enrol_path,
        json!({ "subject_id": "X-9", "idempotency_key": "bad-9", "biomarkers": oversized }),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(
        trial_records(&world, &id),
        before,
        "refused input appends nothing"
    );

    // Enrolment with biomarkers, then outcomes: drug B works in HR-negative subtypes.
    for i in 0..200_usize {
        let (hr, her2) = SUBTYPES[i % SUBTYPES.len()];
        let subject = format!("P-{i:03}");
        let reply = api_post(
            &app,
            &coord,
            &enrol_path,
            json!({
                "subject_id": subject,
                "idempotency_key": format!("k-{i}"),
                "biomarkers": { "HR": hr, "HER2": her2 },
            }),
        )
        .await;
        if reply.status == StatusCode::CONFLICT {
            break; // every experimental arm closed
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let assigned: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
        let arm = assigned["arm"]
            .as_str()
            .expect("open label: the arm")
            .to_owned();
        assert!(
            !(arm == "a" && hr == "pos"),
            "arm a enrols HR-negative subtypes only"
        );
        let response = match (arm.as_str(), hr) {
            ("b", "neg") => i % 10 != 0,
            _ => i % 5 == 0,
        };
        let reply = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants/{subject}/outcomes"),
            json!({ "value": response }),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    // The graduation is on the record and the statisticians and the DMC are told.
    let bytes = world
        .service
        .export(&Exporter::CommandLine, &id, ExportFormat::Jsonl, true)
        .expect("exported")
        .bytes;
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.contains("arm_graduated"), "a graduation is logged");
    assert!(
        text.contains("stratum") && text.contains("biomarkers"),
        "biomarkers and strata are logged"
    );
    world.told_statisticians_and_dmc_only("graduated in signature");

    // The statistician's dashboard shows each stratum and signature; a coordinator has none.
    let (stat, _) = world.session("stat", Role::Statistician);
    let dashboard = page(&app, &stat, &format!("/trials/{id}/dashboard")).await;
    assert_eq!(dashboard.status, StatusCode::OK, "{}", dashboard.body);
    for part in [
        "id=\"strata-table\"",
        "id=\"signatures-table\"",
        "HR=neg HER2=pos",
    ] {
        assert!(dashboard.body.contains(part), "{part}");
    }
    assert!(
        dashboard.body.contains("graduated at look"),
        "a graduation on the dashboard"
    );
    let (coordinator, _) = world.session("coord", Role::Coordinator);
    let refused = page(&app, &coordinator, &format!("/trials/{id}/dashboard")).await;
    assert!(
        !refused.body.contains("strata-table"),
        "no per-stratum result for a coordinator"
    );
    let trial_page = page(&app, &coordinator, &format!("/trials/{id}")).await;
    assert!(
        !trial_page.body.contains("graduated"),
        "{}",
        trial_page.body
    );

    // Offline: the export verifies and replays.
    let report = verify_export(&bytes, None).expect("readable");
    assert_eq!(report.problem, None, "{report:?}");
    match replay_export(&bytes).expect("readable") {
        ReplayOutcome::Replayed { events, .. } => assert!(events > 200),
        other => panic!("replay: {other:?}"),
    }

    // ODM: biomarkers and strata are clinical data of the enrolment form.
    let xml = String::from_utf8(
        world
            .service
            .export(&Exporter::CommandLine, &id, ExportFormat::Odm, true)
            .expect("ODM")
            .bytes,
    )
    .expect("UTF-8");
    assert!(
        xml.contains("ItemOID=\"IT.BIOMARKERS\" Value=\"HER2=pos HR=neg\""),
        "biomarkers"
    );
    assert!(
        xml.contains("ItemOID=\"IT.STRATUM\" Value=\"HR=neg HER2=pos\""),
        "strata"
    );
    if std::env::var_os("BAYESTRIAL_TEST_ODM").is_some() {
        let path = world.dir.path().join("precision.xml");
        std::fs::write(&path, &xml).expect("written");
        let output = std::process::Command::new("python3")
            .arg("tests/odm/validate.py")
            .arg(&path)
            .output()
            .expect("python3 runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "ODM 1.3.2: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
