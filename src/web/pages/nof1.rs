//! The n-of-1 pages: a patient's calendar, what to measure today and the measurement and
//! correction forms (coordinators); the patient's report with its charts, for the patient and
//! their clinician; and the series' pooled results (statisticians and the DMC).
//!
//! Thin handlers over the service's n-of-1 API (the JSON API calls the same methods): they
//! format what the service decided and draw it; they compute no statistics.

use super::{call, done, fixable, form_again, html, Chrome, FormError, Page};
use crate::engine::nof1::MIN_SERIES_PATIENTS;
use crate::engine::{Nof1Effect, PatientEnd, SeriesSummary};
use crate::protocol::OutcomeKind;
use crate::service::Permission;
use crate::service::{
    MeasurementView, Nof1Conclusion, ParticipantDetail, PatientReport, PlannedMeasurement,
    ServiceError, TrialView,
};
use crate::web::auth::LoggedIn;
use crate::web::notice::Notice;
use crate::web::{charts, path_segment, AppState};
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;

/// A period of the patient's calendar, formatted.
pub struct PeriodLine {
    /// 1-based period.
    pub period: u32,
    /// 1-based cycle.
    pub cycle: u32,
    /// The treatment, or why there is none yet.
    pub treatment: String,
    /// Whether the treatment is assigned.
    pub assigned: bool,
    /// First and last study day.
    pub days: String,
    /// First and last date.
    pub dates: String,
    /// Planned measurement days.
    pub planned: Vec<PlannedMeasurement>,
    /// How many of them are measured.
    pub measured: usize,
    /// The washout after the period, in study days (empty if none).
    pub washout: String,
    /// Whether today falls in this period.
    pub current: bool,
}

/// A recorded measurement, formatted.
pub struct MeasurementLine {
    /// Seq of the event holding the current value.
    pub seq: u64,
    /// Study day.
    pub day: u32,
    /// Date.
    pub date: String,
    /// The value.
    pub value: String,
    /// The period and treatment, or the phase that is not analysed.
    pub phase: String,
    /// Whether the analysis uses it.
    pub analysed: bool,
    /// Why it is left out of the analysis (empty when analysed).
    pub why_not: String,
    /// Whether it is the one just saved.
    pub saved: bool,
}

/// One contrast of the patient's latest look, formatted.
pub struct EffectLine {
    /// The treatment compared with the first.
    pub treatment: String,
    /// The first treatment.
    pub first: String,
    /// Posterior mean.
    pub mean: String,
    /// Posterior SD.
    pub sd: String,
    /// 95% credible interval.
    pub ci: String,
    /// P(effect > 0).
    pub p_positive: String,
    /// P(the treatment better than the first by at least the MCID).
    pub p_beyond: String,
    /// P(the first better by at least the MCID).
    pub p_worse_beyond: String,
    /// P(|effect| < MCID).
    pub p_within: String,
    /// Measurements analysed per treatment.
    pub n: String,
    /// The AR(1) coefficient, when modelled.
    pub rho: Option<String>,
}

/// A pooled patient of the series, formatted.
pub struct ShrunkenLine {
    /// Subject id.
    pub subject: String,
    /// 1-based participant number.
    pub number: u32,
    /// The patient's own posterior mean.
    pub own: String,
    /// Shrunken posterior mean.
    pub mean: String,
    /// Its 95% interval.
    pub ci: String,
}

fn number(x: f64) -> String {
    format!("{:.2}", x)
}

fn probability(p: f64) -> String {
    format!("{p:.3}")
}

fn interval([lo, hi]: [f64; 2]) -> String {
    format!("{lo:.2} to {hi:.2}")
}

/// How a patient's n-of-1 trial ended, in words.
fn end_text(end: &PatientEnd) -> String {
    match end {
        PatientEnd::Benefit {
            treatment,
            probability,
            threshold,
        } => format!(
            "Stopped early for benefit: {treatment} is better by at least the MCID \
             (probability {probability:.3}, threshold {threshold})."
        ),
        PatientEnd::Equivalence {
            probability,
            threshold,
        } => format!(
            "Stopped early: the treatments are within the MCID of each other \
             (probability {probability:.3}, threshold {threshold})."
        ),
        PatientEnd::Completed => "Completed: every planned cycle was done.".to_owned(),
        PatientEnd::Withdrawn { reason } => format!("Withdrawn: {reason}."),
    }
}

fn effect_line(report: &PatientReport, effect: &Nof1Effect) -> EffectLine {
    let first = report.treatments.first().cloned().unwrap_or_default();
    EffectLine {
        treatment: effect.treatment.to_string(),
        first,
        mean: number(effect.mean),
        sd: number(effect.sd),
        ci: interval(effect.ci95),
        p_positive: probability(effect.p_positive),
        p_beyond: probability(effect.p_beyond_mcid),
        p_worse_beyond: probability(effect.p_worse_beyond_mcid),
        p_within: probability(effect.p_within_mcid),
        n: report
            .treatments
            .iter()
            .zip(&effect.n)
            .map(|(t, n)| format!("{t}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        rho: effect.rho.map(number),
    }
}

fn period_lines(report: &PatientReport) -> Vec<PeriodLine> {
    report
        .periods
        .iter()
        .map(|p| PeriodLine {
            period: p.period,
            cycle: p.cycle,
            assigned: p.treatment.is_some() || p.kit.is_some(),
            treatment: match (&p.treatment, &p.kit) {
                (Some(treatment), Some(kit)) => format!("{treatment} (kit {kit})"),
                (Some(treatment), None) => treatment.clone(),
                (None, Some(kit)) => format!("kit {kit}"),
                (None, None) => format!(
                    "assigned when cycle {} is complete",
                    p.cycle.saturating_sub(1)
                ),
            },
            days: format!("{}–{}", p.days[0], p.days[1]),
            dates: format!("{} to {}", p.dates[0], p.dates[1]),
            measured: p.planned.iter().filter(|m| m.measured).count(),
            planned: p.planned.clone(),
            washout: p
                .washout
                .map_or_else(String::new, |[a, b]| format!("days {a}–{b}")),
            current: (i64::from(p.days[0])..=i64::from(p.days[1])).contains(&report.today_day),
        })
        .collect()
}

/// A measured value as shown: a binary one in the outcome's own words.
fn value_text(trial: &TrialView, value: f64) -> String {
    match trial.outcome_kind {
        OutcomeKind::Binary if value == 1.0 => trial.outcome_labels[0].clone(),
        OutcomeKind::Binary if value == 0.0 => trial.outcome_labels[1].clone(),
        OutcomeKind::Binary | OutcomeKind::Continuous | OutcomeKind::Count => format!("{value}"),
    }
}

fn measurement_line(trial: &TrialView, m: &MeasurementView, saved: Option<u64>) -> MeasurementLine {
    MeasurementLine {
        seq: m.seq,
        day: m.day,
        date: m.date.clone(),
        value: value_text(trial, m.value),
        phase: match &m.treatment {
            Some(t) => format!("{}: {t}", m.phase),
            None => m.phase.clone(),
        },
        analysed: m.analysed,
        why_not: if m.analysed {
            String::new()
        } else {
            m.phase.clone()
        },
        saved: saved == Some(m.seq),
    }
}

/// What the value field takes.
fn value_hint(trial: &TrialView) -> String {
    match trial.outcome_kind {
        OutcomeKind::Binary => format!(
            "{} or {}.",
            trial.outcome_labels[0], trial.outcome_labels[1]
        ),
        OutcomeKind::Count => "A number of events, or events/exposure.".to_owned(),
        OutcomeKind::Continuous => match (trial.outcome_min, trial.outcome_max) {
            (Some(lo), Some(hi)) => format!("A number from {lo} to {hi}."),
            (Some(lo), None) => format!("A number, at least {lo}."),
            (None, Some(hi)) => format!("A number, at most {hi}."),
            (None, None) => "A number.".to_owned(),
        },
    }
}

/// How to read the effect's chart: which side favours which treatment.
fn reading(report: &PatientReport) -> String {
    let (first, second) = match report.treatments.as_slice() {
        [first, second, ..] => (first, second),
        _ => return String::new(),
    };
    let m = report.mcid;
    let (below, above) = if report.better == "lower" {
        (second, first)
    } else {
        (first, second)
    };
    format!(
        "Values below −{m} mean that {below} is better by at least the MCID, values above +{m} \
         that {above} is; the shaded band holds differences smaller than the MCID."
    )
}

/// What today is for the patient, and the next planned measurement.
fn today_lines(report: &PatientReport) -> (String, String) {
    let when = if report.today_day < 1 {
        format!(
            "Today, {}: before the patient's study day 1 ({})",
            report.today, report.start_date
        )
    } else {
        format!(
            "Today, {}: study day {}, {}",
            report.today, report.today_day, report.today_phase
        )
    };
    let next = report
        .periods
        .iter()
        .flat_map(|p| &p.planned)
        .find(|m| !m.measured && i64::from(m.day) > report.today_day)
        .map_or_else(String::new, |m| {
            format!(
                "Next planned measurement: study day {} ({}).",
                m.day, m.date
            )
        });
    (when, next)
}

#[derive(Template)]
#[template(path = "nof1_participant.html")]
struct ParticipantPage {
    chrome: Chrome,
    trial: TrialView,
    detail: ParticipantDetail,
    report: PatientReport,
    subject_path: String,
    periods: Vec<PeriodLine>,
    measurements: Vec<MeasurementLine>,
    last_day: u32,
    today: String,
    next: String,
    end: Option<String>,
    kind: &'static str,
    value_hint: String,
    saved: Option<String>,
    look: Option<u32>,
    entered: Entered,
}

/// A participant page's form sent back after a mistake the user can fix: which form, the
/// error, and the values typed (never a password). Empty on a fresh page.
#[derive(Debug, Default)]
pub(super) struct Entered {
    /// The form sent back: `outcome`, `measurement`, `correction` or `unblind` (empty: none).
    pub failed: &'static str,
    /// What is wrong.
    pub form_error: Option<FormError>,
    /// The value typed.
    pub value: String,
    /// The reason typed.
    pub reason: String,
    /// n-of-1: the date typed.
    pub date: String,
    /// n-of-1: the study day typed.
    pub day: String,
    /// n-of-1: the measurement chosen for a correction.
    pub corrects: String,
}

impl Entered {
    /// The message for `field` of `form`, if the error is there.
    pub fn error_on(&self, form: &str, field: &str) -> Option<&str> {
        self.form_error
            .as_ref()
            .filter(|e| self.failed == form && e.on(field))
            .map(|e| e.message.as_str())
    }

    /// The message for `form` that names none of its fields (shown above it).
    pub fn error_above(&self, form: &str) -> Option<&str> {
        let fields: &[&str] = match form {
            "outcome" => &["value", "reason"],
            "measurement" => &["value", "date", "day"],
            "correction" => &["value", "reason", "corrects"],
            "unblind" => &["reason", "password"],
            _ => &[],
        };
        self.form_error
            .as_ref()
            .filter(|e| self.failed == form && !fields.iter().any(|f| e.on(f)))
            .map(|e| e.message.as_str())
    }

    /// Whether `form` is the one sent back.
    pub fn is(&self, form: &str) -> bool {
        self.failed == form
    }
}

/// After a POST: what was saved, and the look it triggered.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Saved {
    /// Seq of the measurement or correction saved.
    pub saved: Option<u64>,
    /// The cycle whose look it ran.
    pub look: Option<u32>,
}

fn kind_word(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "binary",
        OutcomeKind::Count => "count",
        OutcomeKind::Continuous => "continuous",
    }
}

/// The participant page of an n-of-1 trial (called by the participant page's handler).
pub(super) fn participant_page(
    user: &LoggedIn,
    trial: TrialView,
    detail: ParticipantDetail,
    report: PatientReport,
    saved: &Saved,
    entered: Entered,
) -> Page {
    let (today, next) = today_lines(&report);
    let last_day = report.periods.last().map_or(1, |p| p.days[1]);
    let saved_line = saved.saved.and_then(|seq| {
        report.measurements.iter().find(|m| m.seq == seq).map(|m| {
            format!(
                "Saved: study day {} ({}), value {}.",
                m.day,
                m.date,
                value_text(&trial, m.value)
            )
        })
    });
    let measurements = report
        .measurements
        .iter()
        .map(|m| measurement_line(&trial, m, saved.saved))
        .collect();
    let page = ParticipantPage {
        chrome: Chrome::of(user),
        kind: kind_word(trial.outcome_kind),
        value_hint: value_hint(&trial),
        trial,
        detail,
        subject_path: path_segment(&report.subject_id),
        periods: period_lines(&report),
        measurements,
        last_day,
        today,
        next,
        end: report.end.as_ref().map(end_text),
        saved: saved_line,
        look: saved.look,
        report,
        entered,
    };
    match &page.entered.form_error {
        Some(error) => form_again(error, &page),
        None => html(&page),
    }
}

#[derive(Deserialize)]
struct MeasurementForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    corrects: String,
    #[serde(default)]
    reason: String,
}

fn whole<T: std::str::FromStr>(field: &'static str, text: &str) -> Result<Option<T>, ServiceError> {
    match text.trim() {
        "" => Ok(None),
        text => text.parse().map(Some).map_err(|_| ServiceError::Invalid {
            field,
            problem: format!("{text:?} is not a whole number ≥ 1"),
        }),
    }
}

/// Records a measurement (by date or study day) or, with `corrects` and a reason, corrects
/// one; then back to the participant page, which confirms it. A mistake shows the page again
/// with the form's values.
#[post("/trials/{id}/participants/{subject}/measurements")]
pub(super) async fn record_measurement_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
    form: web::Form<MeasurementForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::Enrol)?;
    let (id, subject) = path.into_inner();
    let form = form.into_inner();
    let (actor, trial, who) = (user.actor.clone(), id.clone(), subject.clone());
    let (value, date, day_text, corrects_text, reason) = (
        form.value.clone(),
        form.date.clone(),
        form.day.clone(),
        form.corrects.clone(),
        form.reason.clone(),
    );
    let receipt = fixable(
        call(&state, move |s| {
            let corrects: Option<u64> = whole("corrects", &corrects_text)?;
            let day: Option<u32> = whole("day", &day_text)?;
            let value = s.parse_outcome(&trial, &value)?;
            let day = match (corrects, day, date.trim()) {
                (Some(_), _, _) => 0,
                (None, Some(day), _) => day,
                (None, None, date) if !date.is_empty() => s.study_day(&trial, &who, date)?,
                (None, None, _) => {
                    return Err(ServiceError::Invalid {
                        field: "date",
                        problem: "give the date of the measurement or its study day".into(),
                    })
                }
            };
            let reason = Some(reason.trim()).filter(|r| !r.is_empty());
            s.record_measurement(&actor, &trial, &who, day, value, corrects, reason)
        })
        .await,
    )?;
    let correction = !form.corrects.trim().is_empty();
    let receipt = match receipt {
        Ok(receipt) => receipt,
        Err(error) => {
            let entered = Entered {
                failed: if correction {
                    "correction"
                } else {
                    "measurement"
                },
                form_error: Some(error),
                value: form.value,
                reason: form.reason,
                date: form.date,
                day: form.day,
                corrects: form.corrects,
            };
            let actor = user.actor.clone();
            let (trial, detail, report) = call(&state, move |s| {
                Ok((
                    s.trial_view(&actor, &id, false)?,
                    s.participant(&actor, &id, &subject)?,
                    s.patient_report(&actor, &id, &subject)?,
                ))
            })
            .await?;
            return participant_page(&user, trial, detail, report, &Saved::default(), entered);
        }
    };
    let mut location = format!(
        "/trials/{}/participants/{}?saved={}",
        path_segment(&id),
        path_segment(&subject),
        receipt.seq
    );
    if let Some(cycle) = receipt.looks.last() {
        location.push_str(&format!("&look={cycle}"));
    }
    let notice = if correction {
        Notice::MeasurementCorrected
    } else {
        Notice::MeasurementRecorded
    };
    Ok(done(&user, &location, notice))
}

#[derive(Template)]
#[template(path = "nof1_report.html")]
struct ReportPage {
    chrome: Chrome,
    trial: TrialView,
    report: PatientReport,
    subject_path: String,
    contrast: String,
    reading: String,
    effects: Vec<EffectLine>,
    end: Option<String>,
    /// The headline's style: `benefit`, `equivalence`, `unknown`.
    conclusion_class: &'static str,
    measurements_svg: String,
    effect_svg: String,
}

/// A patient's report, for the patient and their clinician: the measurements by period, the
/// posterior of the effect with the MCID band, and one plain-language sentence.
#[get("/trials/{id}/participants/{subject}/report")]
pub(super) async fn report_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<(String, String)>,
) -> Page {
    let (id, subject) = path.into_inner();
    let actor = user.actor.clone();
    let (trial, report) = call(&state, move |s| {
        let report = s.patient_report(&actor, &id, &subject)?;
        Ok((s.trial_view(&actor, &id, false)?, report))
    })
    .await?;
    html(&ReportPage {
        chrome: Chrome::of(&user),
        subject_path: path_segment(&report.subject_id),
        contrast: charts::contrast(&report.treatments),
        reading: reading(&report),
        effects: report
            .effects
            .iter()
            .map(|e| effect_line(&report, e))
            .collect(),
        end: report.end.as_ref().map(end_text),
        conclusion_class: match report.conclusion {
            Some(Nof1Conclusion::Benefit) => "benefit",
            Some(Nof1Conclusion::Equivalence) => "equivalence",
            Some(Nof1Conclusion::NotYetKnown | Nof1Conclusion::Inconclusive) | None => "unknown",
        },
        measurements_svg: charts::nof1_measurements(
            &report,
            (trial.outcome_min, trial.outcome_max),
        ),
        effect_svg: charts::nof1_effect(&report),
        trial,
        report,
    })
}

#[derive(Template)]
#[template(path = "nof1_series.html")]
struct SeriesPage {
    chrome: Chrome,
    trial: TrialView,
    contrast: String,
    summary: Option<SeriesSummary>,
    mcid: f64,
    patients: Vec<ShrunkenLine>,
    forest_svg: String,
    min_patients: usize,
}

/// The series' pooled results (statisticians and the DMC; the view is recorded): the
/// population mean effect, the between-patient SD and each patient's own and shrunken effect.
#[get("/trials/{id}/series")]
pub(super) async fn series_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(Permission::SeeResults)?;
    let id = path.into_inner();
    let actor = user.actor.clone();
    let (trial, series) = call(&state, move |s| {
        Ok((
            s.trial_view(&actor, &id, false)?,
            s.series_report(&actor, &id)?,
        ))
    })
    .await?;
    let contrast = charts::contrast(&series.treatments);
    let patients: Vec<ShrunkenLine> = series
        .summary
        .iter()
        .flat_map(|s| &s.shrunken)
        .zip(&series.subjects)
        .map(|(p, subject)| ShrunkenLine {
            subject: subject.clone(),
            number: p.participant + 1,
            own: number(p.own_mean),
            mean: number(p.mean),
            ci: interval(p.ci95),
        })
        .collect();
    let forest_svg = series.summary.as_ref().map_or_else(String::new, |s| {
        charts::nof1_forest(s, &series.subjects, &contrast, series.mcid)
    });
    html(&SeriesPage {
        chrome: Chrome::of(&user),
        trial,
        contrast,
        summary: series.summary,
        mcid: series.mcid,
        patients,
        forest_svg,
        min_patients: MIN_SERIES_PATIENTS,
    })
}
