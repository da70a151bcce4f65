//! The dashboard for the DMC: charts with a text alternative, empty states that are sentences,
//! decisions in words, and the committee's recommendation (signed with the password, refused for
//! other roles, shown in the look history and the printable report, notified, and exported).

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bayestrial::engine::OutcomeValue;
use bayestrial::export::{replay_export, ExportFormat, ReplayOutcome};
use bayestrial::service::{Exporter, Role};
use common::{form, page, World, PASSWORD};

/// A three-arm trial with a control, looks at 6, 12, 18 …: an arm that never responds is
/// dropped for inferiority at a look.
fn protocol(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Dashboard test trial"
design = "platform"
max_participants = 60

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "placebo"
control = true
[[arm]]
id = "low"
[[arm]]
id = "high"

[allocation]
rule = "thompson"
power = 0.5
control = "sqrt-k"
min = 0.1
burn_in = 6

[analysis]
looks = {{ first = 6, every = 6 }}

[decision]
superiority = 0.999
inferiority = 0.05
"#
    )
}

/// Enrols `n` participants and records their outcomes: `high` never responds, the others do.
fn run(world: &World, id: &str, n: u32) {
    let coord = World::actor("coord", Role::Coordinator);
    for i in 0..n {
        let subject = format!("D-{i:03}");
        let assigned = world
            .service
            .enrol(&coord, id, &subject, None)
            .expect("enrolled");
        world
            .service
            .record_outcome(
                &coord,
                id,
                &subject,
                OutcomeValue::Binary {
                    response: assigned.arm != "high",
                },
                None,
            )
            .expect("outcome recorded");
    }
}

/// Every `<svg` element of a page: its opening tag and its text up to `</svg>`.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg")
        .map(|(at, _)| {
            let end = html[at..].find("</svg>").map_or(html.len(), |e| at + e);
            &html[at..end]
        })
        .collect()
}

/// Every chart is an image with a title and a description; the little colour swatches are
/// hidden from assistive technology.
fn assert_accessible_charts(html: &str) -> usize {
    let mut charts = 0;
    for svg in svgs(html) {
        let open = &svg[..svg.find('>').expect("a closed tag")];
        if open.contains("aria-hidden=\"true\"") {
            continue;
        }
        charts += 1;
        assert!(open.contains("role=\"img\""), "{open}");
        assert!(
            open.contains("width=\"100%\""),
            "scales to the page: {open}"
        );
        assert!(open.contains("viewBox="), "{open}");
        assert!(!open.contains("width=\"720\""), "{open}");
        let title = svg.find("<title").expect("a title");
        let desc = svg.find("<desc").expect("a description");
        assert!(title < desc, "the title comes first");
        let text = &svg[desc..svg[desc..].find("</desc>").map_or(svg.len(), |e| desc + e)];
        assert!(
            text.len() > 40,
            "the description says what is shown: {text}"
        );
    }
    charts
}

/// The page's text, without tags, attributes, scripts or the SVGs' markup.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// A snake_case code (`replaced_as_control`, `p_better_than_control`, `stop_arm` …).
fn snake_case_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            let parts: Vec<&str> = w.split('_').collect();
            parts.len() > 1 && parts.iter().all(|p| !p.is_empty())
        })
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn before_any_look_the_dashboard_says_so_in_sentences() {
    let world = World::new(11);
    let id = world.started(&protocol("EMPTY"));
    let app = world.app().await;
    let (stat, _) = world.session("stat", Role::Statistician);
    let dashboard = page(&app, &stat, &format!("/trials/{id}/dashboard")).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let body = &dashboard.body;
    assert!(
        body.contains("No look has happened yet. The first look is due when 6 participants have an outcome (0 have one now)."),
        "{body}"
    );
    assert!(body.contains("No outcome has been recorded yet"), "{body}");
    assert!(
        body.contains("No participant has been randomised yet"),
        "{body}"
    );
    assert_eq!(assert_accessible_charts(body), 0, "no empty axes");
    assert!(snake_case_words(&visible_text(body)).is_empty());

    // The DMC is told why there is nothing to sign yet.
    let (dmc, _) = world.session("dmc", Role::Dmc);
    let dashboard = page(&app, &dmc, &format!("/trials/{id}/dashboard")).await;
    assert!(dashboard.body.contains("id=\"recommend-closed\""));
    assert!(!dashboard.body.contains("id=\"recommendation-form\""));
}

#[actix_web::test]
async fn the_dmc_records_a_signed_recommendation_seen_in_the_history_report_and_export() {
    let world = World::new(12);
    let id = world.started(&protocol("DMC"));
    run(&world, &id, 12);
    let app = world.app().await;
    let path = format!("/trials/{id}/recommendations");

    // The dashboard: accessible charts, decisions in words, the comparator named.
    let (dmc, dmc_csrf) = world.session("dmc", Role::Dmc);
    let dashboard = page(&app, &dmc, &format!("/trials/{id}/dashboard")).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let body = &dashboard.body;
    assert_eq!(
        assert_accessible_charts(body),
        3,
        "posteriors, looks, allocation"
    );
    assert!(body.contains("P(low better than placebo)"), "{body}");
    assert!(body.contains("Control at this look"), "{body}");
    assert!(
        body.contains("Arm high was dropped as inferior to the control placebo"),
        "{body}"
    );
    assert!(body.contains("id=\"recommendation-form\""), "{body}");
    let words = snake_case_words(&visible_text(body));
    assert!(words.is_empty(), "codes in the page's text: {words:?}");

    // Other roles may not record a recommendation: refused before anything is read.
    let (stat, stat_csrf) = world.session("stat", Role::Statistician);
    let (coord, coord_csrf) = world.session("coord", Role::Coordinator);
    for (session, csrf) in [(&stat, &stat_csrf), (&coord, &coord_csrf)] {
        let refused = form(
            &app,
            session,
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("look", "2"),
                ("action", "continue"),
                ("rationale", "not ours to say"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }

    // A wrong password: refused, the form shown again with what was typed.
    let wrong = form(
        &app,
        &dmc,
        &path,
        &[
            ("csrf", dmc_csrf.as_str()),
            ("look", "2"),
            ("action", "stop_arm"),
            ("arm", "low"),
            ("rationale", "Low responds no better than placebo so far."),
            ("password", "not the password at all"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"recommendation-form\""));
    assert!(wrong.body.contains("wrong password"), "{}", wrong.body);
    assert!(wrong
        .body
        .contains(">Low responds no better than placebo so far.</textarea>"));
    assert!(wrong.body.contains("<option value=\"stop_arm\" selected>"));
    assert!(wrong.body.contains("<option value=\"low\" selected>"));
    assert!(wrong.body.contains("<nav"), "the full layout");

    // Stopping an arm without naming it: 422 next to the arm's field.
    let no_arm = form(
        &app,
        &dmc,
        &path,
        &[
            ("csrf", dmc_csrf.as_str()),
            ("look", "2"),
            ("action", "stop_arm"),
            ("arm", ""),
            ("rationale", "Stop one."),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(no_arm.status, 422, "{}", no_arm.body);
    assert!(no_arm.body.contains("id=\"arm-error\""), "{}", no_arm.body);

    // Signed correctly: recorded, confirmed, shown after look 2.
    let recorded = form(
        &app,
        &dmc,
        &path,
        &[
            ("csrf", dmc_csrf.as_str()),
            ("look", "2"),
            ("action", "stop_arm"),
            ("arm", "low"),
            ("rationale", "Low responds no better than placebo so far."),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let dashboard = page(&app, &dmc, &format!("/trials/{id}/dashboard")).await;
    let body = &dashboard.body;
    assert!(body.contains("<strong>Stop arm low.</strong>"), "{body}");
    assert!(body.contains("Low responds no better than placebo so far."));
    assert!(body.contains("Signed by Test dmc (dmc)"), "{body}");
    let words = snake_case_words(&visible_text(body));
    assert!(words.is_empty(), "codes in the page's text: {words:?}");

    // A second recommendation for the same look is refused, the form kept.
    let again = form(
        &app,
        &dmc,
        &path,
        &[
            ("csrf", dmc_csrf.as_str()),
            ("look", "2"),
            ("action", "continue"),
            ("rationale", "Second thoughts."),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body.contains("already has the committee"),
        "{}",
        again.body
    );

    // The printable report: the look history with the recommendation, charts, no DMC form.
    let report = page(&app, &stat, &format!("/trials/{id}/report")).await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report
        .body
        .contains("Low responds no better than placebo so far."));
    assert!(report.body.contains("id=\"looks-table\""));
    assert!(!report.body.contains("id=\"recommendation-form\""));
    assert_eq!(assert_accessible_charts(&report.body), 3);

    // Statisticians and the DMC are told; coordinators are not.
    world.told_statisticians_and_dmc_only("recorded its recommendation after look 2");

    // Exported: the record is in the unblinded export, and replay re-derives the trial.
    let exported = world
        .service
        .export(&Exporter::CommandLine, &id, ExportFormat::Jsonl, true);
    let bytes = match exported {
        Ok(file) => file.bytes,
        Err(_) => {
            // A running trial is exported once it stops.
            let stat_actor = World::actor("stat", Role::Statistician);
            world
                .service
                .close(&stat_actor, &id, "enough for the test")
                .expect("closed");
            world
                .service
                .export(&Exporter::CommandLine, &id, ExportFormat::Jsonl, true)
                .expect("exported")
                .bytes
        }
    };
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.contains("dmc_recommended"));
    assert!(text.contains("Low responds no better than placebo so far."));
    assert!(matches!(
        replay_export(&bytes).expect("readable"),
        ReplayOutcome::Replayed { .. }
    ));
    let csv = world
        .service
        .export(&Exporter::CommandLine, &id, ExportFormat::Csv, true)
        .expect("exported")
        .bytes;
    let files = unzip(&csv);
    let recommendations = files
        .iter()
        .find(|(name, _)| name.ends_with("recommendations.csv"))
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .expect("recommendations.csv");
    assert!(
        recommendations
            .contains("stop_arm,low,stop arm low,Low responds no better than placebo so far."),
        "{recommendations}"
    );
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("an entry");
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("readable");
            (file.name().to_owned(), content)
        })
        .collect()
}

#[actix_web::test]
async fn each_arms_prior_is_stated_and_a_mixtures_weights_now_are_shown() {
    let world = World::new(12);
    let text = protocol("MIXED").replace(
        "[[arm]]\nid = \"placebo\"\ncontrol = true\n",
        "[[arm]]\nid = \"placebo\"\ncontrol = true\nprior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.2, beta = [1, 1] } ] }\n",
    );
    assert!(text.contains("mixture"), "the protocol carries the mixture");
    let id = world.started(&text);
    run(&world, &id, 12);
    let app = world.app().await;
    let (stat, _) = world.session("stat", Role::Statistician);
    let dashboard = page(&app, &stat, &format!("/trials/{id}/dashboard")).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let body = &dashboard.body;
    assert!(
        body.contains("0.8 × Beta(12.3, 55.9) + 0.2 × Beta(1, 1)"),
        "the placebo arm's prior, as the protocol states it: {body}"
    );
    assert!(
        body.contains("Beta(1, 1)</td>"),
        "the other arms' default prior"
    );
    assert!(
        body.contains("Prior components&#x27; weights now")
            || body.contains("Prior components' weights now"),
        "{body}"
    );
    // The placebo arm's components' weights now: two numbers that add up to 1.
    let row = body
        .split("<tr>")
        .find(|r| r.contains("<code class=\"arm\">placebo</code>"))
        .expect("the placebo row");
    let weights: Vec<f64> = row
        .split("<td class=\"n\">")
        .filter_map(|cell| cell.split("</td>").next())
        .filter(|cell| cell.contains(" + "))
        .flat_map(|cell| {
            cell.split(" + ")
                .map(|w| w.trim().parse::<f64>().expect("a weight"))
        })
        .collect();
    assert_eq!(weights.len(), 2, "{row}");
    assert!(
        (weights.iter().sum::<f64>() - 1.0).abs() < 0.011,
        "{weights:?}"
    );
    // The same through the API, unrounded.
    let token = world.token("stat", Role::Statistician);
    let reply = common::api_get(&app, &token, &format!("/api/trials/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    let arms = json["results"]["posteriors"]
        .as_array()
        .expect("posteriors");
    let placebo = arms
        .iter()
        .find(|a| a["arm"] == "placebo")
        .expect("placebo");
    let sum: f64 = placebo["posterior_weights"]
        .as_array()
        .expect("weights")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .sum();
    assert!((sum - 1.0).abs() < 1e-9, "{placebo}");
}
