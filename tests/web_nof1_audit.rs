//! The n-of-1 report and the regulator's audit trail, through the web app in process: the
//! report's table, chart and counts come from one analysis and its headline states the
//! patient's conclusion first; the series' forest plot draws the MCID band; the audit trail
//! shows readable fields with subject ids, counts with thousands separators and page jumps; the
//! export form offers only what can be exported and says why the rest cannot.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bayestrial::engine::OutcomeValue;
use bayestrial::service::{Role, Service};
use common::World;

/// The shipped n-of-1 protocol (paracetamol, then ibuprofen; lower pain is better; MCID 1).
fn nof1_protocol() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/protocols/nof1-pain.toml"
    ))
    .expect("protocol file")
}

const TRIAL: &str = "NOF1-PAIN";

fn coord() -> bayestrial::service::Actor {
    World::actor("coord", Role::Coordinator)
}

/// Enrols `subject` with study day 1 on 2026-01-01 (well before the test clock's today).
fn enrol(service: &Service, subject: &str) {
    service
        .enrol_starting(&coord(), TRIAL, subject, None, Some("2026-01-01"))
        .expect("enrolled");
}

/// Records the planned measurements of `periods` (1-based) for `subject`: `value(treatment,
/// day)`; at most `limit` of them. Returns how many were recorded.
fn measure(
    service: &Service,
    subject: &str,
    periods: std::ops::RangeInclusive<usize>,
    limit: usize,
    value: impl Fn(&str, u32) -> f64,
) -> usize {
    let report = service
        .patient_report(&coord(), TRIAL, subject)
        .expect("report");
    let mut recorded = 0;
    for period in &report.periods[periods.start() - 1..*periods.end()] {
        let treatment = period.treatment.clone().expect("assigned");
        for planned in &period.planned {
            if recorded == limit {
                return recorded;
            }
            service
                .record_measurement(
                    &coord(),
                    TRIAL,
                    subject,
                    planned.day,
                    OutcomeValue::Continuous {
                        value: value(&treatment, planned.day),
                    },
                    None,
                    None,
                )
                .expect("measurement recorded");
            recorded += 1;
        }
    }
    recorded
}

/// Ibuprofen lowers pain by about 1.5 points, with some noise.
fn ibuprofen_better(treatment: &str, day: u32) -> f64 {
    let base = if treatment == "ibuprofen" { 3.5 } else { 5.0 };
    let noise = 0.9 * (f64::from(day) * 1.3).sin();
    ((base + noise) * 100.0).round() / 100.0
}

/// Both treatments alike, with little noise.
fn alike(_: &str, day: u32) -> f64 {
    5.0 + 0.1 * (f64::from(day) * 0.7).sin()
}

/// The text between `start` (found after `after`) and the next `end`.
fn between<'a>(html: &'a str, after: &str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in {html}"));
    let rest = &html[from..];
    let at = rest
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {rest}"))
        + start.len();
    let rest = &rest[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[actix_web::test]
async fn an_in_progress_report_shows_one_analysis_in_its_table_chart_and_counts() {
    let world = World::new(11);
    world.started(&nof1_protocol());
    enrol(&world.service, "P-1");
    // Cycle 1 complete (its look runs), and three measurements of cycle 2 after it.
    let cycle1 = measure(&world.service, "P-1", 1..=2, usize::MAX, ibuprofen_better);
    let since = measure(&world.service, "P-1", 3..=3, 3, ibuprofen_better);
    assert_eq!((cycle1, since), (14, 3));

    let report = world
        .service
        .patient_report(&coord(), TRIAL, "P-1")
        .expect("report");
    let effect = report.effects.first().expect("an effect after cycle 1");
    assert_eq!(report.cycles_looked, 1);
    assert_eq!(report.analysed_in_latest, 14);
    assert_eq!(report.awaiting_analysis, 3);
    assert_eq!(
        effect.n.iter().map(|&n| n as usize).sum::<usize>(),
        report.analysed_in_latest,
        "the effect's counts are the analysis' measurements"
    );
    // The density drawn is the table's posterior: its peak sits at the effect's mean.
    let peak = report
        .curve
        .iter()
        .fold([f64::NAN, f64::NEG_INFINITY], |best, &p| {
            if p[1] > best[1] {
                p
            } else {
                best
            }
        });
    let step = report.curve[1][0] - report.curve[0][0];
    assert!(
        (peak[0] - effect.mean).abs() <= step,
        "the density peaks at {} and the table says {}",
        peak[0],
        effect.mean
    );

    let app = world.app().await;
    let (session, _) = world.session("coord", Role::Coordinator);
    let page = common::page(&app, &session, "/trials/NOF1-PAIN/participants/P-1/report").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    let mean = format!("{:.2}", effect.mean);
    let row_mean = between(html, "id=\"effects\"", "<td class=\"n\">", "<");
    assert_eq!(row_mean, mean, "the table's mean");
    let caption = between(html, "id=\"effect-caption\"", ">", "</figcaption>");
    assert!(
        caption.contains(&format!("after cycle 1, 14 measurements (mean {mean},")),
        "{caption}"
    );
    let label = between(html, "<title id=\"chart-", ">Posterior density", "</title>");
    assert!(
        label.contains("after cycle 1 (14 measurements analysed)")
            && label.contains(&format!("mean {mean},")),
        "{label}"
    );
    assert_eq!(
        between(html, "id=\"analysed-count\"", ">", "<"),
        "14",
        "the count beside the table"
    );
    assert_eq!(between(html, "id=\"awaiting-count\"", ">", "<"), "3");
    let per_treatment = between(html, "id=\"effects\"", "paracetamol: ", "<");
    let counts: usize = per_treatment
        .split(", ibuprofen: ")
        .map(|n| n.trim().parse::<usize>().expect("a count"))
        .sum();
    assert_eq!(counts, 14, "{per_treatment}");
    // The headline comes first and says the answer is not known yet.
    let headline = between(html, "id=\"headline\"", ">", "</p>");
    assert!(headline.starts_with("Not yet known"), "{headline}");
    assert!(html.find("id=\"headline\"") < html.find("id=\"sentence\""));
}

#[actix_web::test]
async fn after_a_stop_for_equivalence_the_headline_says_equivalence() {
    let world = World::new(12);
    world.started(&nof1_protocol());
    enrol(&world.service, "P-EQ");
    measure(&world.service, "P-EQ", 1..=4, usize::MAX, alike);
    let report = world
        .service
        .patient_report(&coord(), TRIAL, "P-EQ")
        .expect("report");
    assert!(
        matches!(
            report.end,
            Some(bayestrial::engine::PatientEnd::Equivalence { .. })
        ),
        "{:?}",
        report.end
    );
    let app = world.app().await;
    let (session, _) = world.session("stat", Role::Statistician);
    let page = common::page(&app, &session, "/trials/NOF1-PAIN/participants/P-EQ/report").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let headline = between(&page.body, "id=\"headline\"", ">", "</p>");
    assert!(
        headline.contains("work equally well for P-EQ")
            && headline.contains("differ by less than the MCID of 1"),
        "{headline}"
    );
    let sentence = between(&page.body, "id=\"sentence\"", ">", "</p>");
    assert!(
        sentence.contains("differ by less than 1") && !sentence.contains("lowers"),
        "{sentence}"
    );
}

#[actix_web::test]
async fn the_series_forest_plot_draws_the_mcid_band() {
    let world = World::new(13);
    world.started(&nof1_protocol());
    for subject in ["S-1", "S-2"] {
        enrol(&world.service, subject);
        measure(&world.service, subject, 1..=2, usize::MAX, ibuprofen_better);
    }
    enrol(&world.service, "S-3");
    measure(&world.service, "S-3", 1..=4, usize::MAX, alike);
    let app = world.app().await;
    let (session, _) = world.session("stat", Role::Statistician);
    let page = common::page(&app, &session, "/trials/NOF1-PAIN/series").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"series\""), "{}", page.body);
    assert!(
        page.body.contains("with the MCID band (±1)") && page.body.contains("within the MCID (±1)"),
        "{}",
        page.body
    );
    for subject in ["S-1", "S-2", "S-3"] {
        assert!(page.body.contains(&format!(">{subject}</a>")), "{subject}");
    }
}

#[actix_web::test]
async fn the_audit_trail_reads_as_fields_with_subject_ids_and_pages() {
    let world = World::new(14);
    world.started(&nof1_protocol());
    // Three patients, each through cycle 1 and period 3: more than one page of records.
    for subject in ["P-AUD", "P-AUE", "P-AUF"] {
        enrol(&world.service, subject);
        measure(&world.service, subject, 1..=3, usize::MAX, ibuprofen_better);
    }
    let app = world.app().await;
    let (session, _) = world.session("reg", Role::Regulator);
    let page = common::page(&app, &session, "/audit?chain=trial:NOF1-PAIN&order=asc").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    let total = world
        .service
        .audit_page(
            &World::actor("reg", Role::Regulator),
            &bayestrial::store::AuditQuery {
                chain: Some("trial:NOF1-PAIN".into()),
                limit: 1,
                ..Default::default()
            },
        )
        .expect("audit")
        .total;
    assert!(total > 50, "{total}");
    assert!(
        html.contains(&format!("Records 1–50 of {total}.")),
        "{}",
        between(html, "id=\"audit-count\"", ">", "<")
    );
    let cells = between(html, "id=\"audit-records\"", "<tbody>", "</tbody>");
    assert!(!cells.contains("{\"") && !cells.contains("\":"), "{cells}");
    assert!(cells.contains("<dt>subject</dt><dd>P-AUD</dd>"), "{cells}");
    assert!(!cells.contains("<dt>participant</dt>"), "{cells}");
    // Short hashes that open to the full value.
    assert!(cells.contains("<details class=\"hash\">"), "{cells}");
    let full = between(cells, "id=\"hash-1\"", "value=\"", "\"");
    assert_eq!(full.len(), 64, "{full}");
    assert!(cells.contains(&format!("<code>{}…</code>", &full[..12])));
    // Page jumps: page 2 and the last page, with the filter kept.
    let pages = (total + 49) / 50;
    assert!(
        html.contains("order=asc&amp;page=2\" rel=\"next\""),
        "{}",
        between(html, "class=\"pager\"", "", "</nav>")
    );
    assert!(html.contains(&format!("page={pages}\" aria-label=\"last page\"")));
    let second = common::page(
        &app,
        &session,
        "/audit?chain=trial:NOF1-PAIN&order=asc&page=2",
    )
    .await;
    let shown = (total - 50).min(50);
    assert!(
        second
            .body
            .contains(&format!("Records 51–{} of {total}.", 50 + shown)),
        "{}",
        second.body
    );
    assert!(second
        .body
        .contains("<span aria-current=\"page\" class=\"current\">2</span>"));
    // Beyond the last page: the last page; not a number: the first.
    let beyond = common::page(&app, &session, "/audit?page=99999999999").await;
    assert_eq!(beyond.status, 200, "{}", beyond.body);
    let junk = common::page(&app, &session, "/audit?page=abc").await;
    assert_eq!(junk.status, 200, "{}", junk.body);
    // One record: singular (a statistician: a kind filter leaves out the chains with records
    // sealed for the viewer, and the regulator's view of a running trial has some).
    let (stat, _) = world.session("stat", Role::Statistician);
    let one = common::page(
        &app,
        &stat,
        "/audit?chain=trial:NOF1-PAIN&kind=trial_started",
    )
    .await;
    assert!(one.body.contains("1 record matches."), "{}", one.body);
    // A filter to fix: the form again with the value kept and the message beside it.
    let bad = common::page(&app, &session, "/audit?from=2026-13-45&actor=coord").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("id=\"from-error\""), "{}", bad.body);
    assert!(bad.body.contains("value=\"2026-13-45\""));
    assert!(bad.body.contains(
        "id=\"filter-actor\" name=\"actor\" type=\"text\" maxlength=\"200\" value=\"coord\""
    ));
}

#[actix_web::test]
async fn the_export_form_offers_only_exportable_trials_and_says_why_not() {
    let world = World::new(15);
    world.started(&nof1_protocol());
    let stat = World::actor("stat", Role::Statistician);
    world
        .service
        .create_trial(&stat, &common::platform_protocol("DRAFT-1"), "draft")
        .expect("draft");
    let app = world.app().await;

    // The regulator: the running trial is not exportable yet; no button answers 409.
    let (reg, _) = world.session("reg", Role::Regulator);
    let page = common::page(&app, &reg, "/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("id=\"export-trial\""), "{}", page.body);
    assert!(!page.body.contains("name=\"format\""), "{}", page.body);
    let refused = between(&page.body, "id=\"export-refused\"", ">", "</ul>");
    assert!(
        refused.contains("<li>trial NOF1-PAIN is still running"),
        "{refused}"
    );
    assert!(refused.contains("<li>trial DRAFT-1 has no audit records yet"));

    // The statistician: the running trial is offered, the draft is not.
    let (session, _) = world.session("stat", Role::Statistician);
    let page = common::page(&app, &session, "/audit").await;
    let select = between(&page.body, "id=\"export-trial\"", ">", "</select>");
    assert!(select.contains("value=\"NOF1-PAIN\""), "{select}");
    assert!(!select.contains("DRAFT-1"), "{select}");
    assert!(page
        .body
        .contains("<li>trial DRAFT-1 has no audit records yet"));
}
