//! The unblinded dashboard (statisticians and the DMC): each arm's data and posterior, the looks
//! with the control they compared against, their decisions in words and the committee's
//! recommendations, with SVG charts; the DMC's recommendation form; and the printable report of
//! the same. An n-of-1 series has no arm-level results: its dashboard is the series page.

use super::{call, done, fixable, form_again, html, see_other, Chrome, FormError, Page};
use crate::protocol::OutcomeKind;
use crate::service::{
    Permission, RecommendationInput, TrialResults, TrialView, RECOMMENDATION_ACTIONS,
};
use crate::web::auth::LoggedIn;
use crate::web::charts::{self, Chart};
use crate::web::error::WebError;
use crate::web::notice::Notice;
use crate::web::AppState;
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;

/// An arm's row of the dashboard, formatted.
pub struct ArmLine {
    /// Arm id.
    pub arm: String,
    /// Name.
    pub name: String,
    /// The arm's colour swatch on the charts.
    pub swatch: String,
    /// Status in words.
    pub status: String,
    /// Participants assigned.
    pub assigned: u32,
    /// The data: responders/n (binary) or n and the observed mean.
    pub data: String,
    /// Posterior mean.
    pub mean: String,
    /// 95% interval.
    pub ci: String,
    /// The prior, as the protocol states it.
    pub prior: String,
    /// A mixture prior's components' weights now, given the arm's data ("–" for one component).
    pub weights: String,
}

/// A look row of the dashboard, formatted: one cell per arm of the header.
pub struct LookLine {
    /// Look number.
    pub look: u32,
    /// Outcomes.
    pub outcomes: u32,
    /// Enrolled.
    pub enrolled: u32,
    /// The control the look compared with (designs with a control).
    pub control: String,
    /// Comparison probability per arm ("–" when the arm was not analysed or is the control).
    pub cells: Vec<String>,
    /// Decisions, in words.
    pub decisions: Vec<String>,
    /// The committee's recommendation, when recorded.
    pub recommendation: Option<RecommendationLine>,
}

/// The committee's recommendation after a look, formatted.
pub struct RecommendationLine {
    /// What it recommends, in words.
    pub words: String,
    /// Why.
    pub rationale: String,
    /// Who signed it and when.
    pub signed: String,
}

/// Everything the dashboard and the printable report show.
pub struct Results {
    /// The comparison's name: "P(best)" or "P(better than control)".
    pub comparison: &'static str,
    /// Whether the looks compare with a control.
    pub by_control: bool,
    /// The header of the arms' data column.
    pub data_header: &'static str,
    /// One row per arm.
    pub arms: Vec<ArmLine>,
    /// Whether some arm has a mixture prior (the table then shows its components' weights).
    pub any_mixture: bool,
    /// The looks table's header cell of each arm (naming the comparator).
    pub headers: Vec<String>,
    /// One row per look.
    pub looks: Vec<LookLine>,
    /// When no look has happened: what the first look waits for.
    pub no_look: String,
    /// The posterior densities.
    pub posterior_chart: Chart,
    /// The comparison at each look.
    pub comparison_chart: Chart,
    /// The allocation.
    pub allocation_chart: Chart,
    /// Precision designs: per stratum and per signature.
    pub precision: Option<super::dashboard_strata::PrecisionLines>,
}

fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The name of the parameter the posteriors are about.
fn parameter(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Binary => "response probability",
        OutcomeKind::Continuous => "mean outcome",
        OutcomeKind::Count => "event rate",
    }
}

/// Formats the service's results for the page.
fn results_lines(trial: &TrialView, results: &TrialResults) -> Results {
    let by_control = results.comparison == "p_better_than_control";
    let posterior_chart = charts::posteriors(results, parameter(trial.outcome_kind));
    let arms = results
        .posteriors
        .iter()
        .enumerate()
        .map(|(i, p)| ArmLine {
            arm: p.arm.clone(),
            name: p.name.clone(),
            swatch: swatch(i),
            status: p.status.clone(),
            assigned: p.assigned,
            data: match (p.responders, p.observed_mean) {
                (Some(r), _) if p.n > 0 => {
                    format!("{r}/{} ({:.0}%)", p.n, 100.0 * r as f64 / p.n as f64)
                }
                (Some(r), _) => format!("{r}/{}", p.n),
                (None, Some(m)) => format!("n {}, mean {m:.3}", p.n),
                (None, None) => format!("n {}", p.n),
            },
            mean: fixed(p.mean, 3),
            ci: format!("{:.3} to {:.3}", p.ci95[0], p.ci95[1]),
            prior: p.prior.clone(),
            weights: if p.posterior_weights.is_empty() {
                "–".to_owned()
            } else {
                p.posterior_weights
                    .iter()
                    .map(|w| format!("{w:.2}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            },
        })
        .collect();
    let controls: Vec<&str> = results
        .looks
        .iter()
        .filter_map(|l| l.control.as_deref())
        .collect();
    let one_control = controls
        .first()
        .filter(|first| controls.iter().all(|c| c == *first))
        .copied();
    let value = |a: &crate::engine::ArmAnalysis| {
        if by_control {
            a.p_better_than_control
        } else {
            a.p_best
        }
    };
    // One column per arm with a value at some look (the control has none against itself).
    let columns: Vec<&crate::service::ArmPosterior> = results
        .posteriors
        .iter()
        .filter(|p| {
            results.looks.iter().any(|l| {
                l.arms
                    .iter()
                    .any(|a| a.arm.as_str() == p.arm && value(a).is_some())
            })
        })
        .collect();
    let headers = columns
        .iter()
        .map(|p| match (by_control, one_control) {
            (true, Some(control)) => format!("P({} better than {control})", p.arm),
            (true, None) if controls.is_empty() => format!("P({} better than the control)", p.arm),
            (true, None) => format!("P({} better than the look's control)", p.arm),
            (false, _) => format!("P({} best)", p.arm),
        })
        .collect();
    let looks = results
        .looks
        .iter()
        .map(|look| LookLine {
            look: look.look,
            outcomes: look.outcomes,
            enrolled: look.enrolled,
            control: look.control.clone().unwrap_or_else(|| "–".to_owned()),
            cells: columns
                .iter()
                .map(|p| {
                    let analysis = look.arms.iter().find(|a| a.arm.as_str() == p.arm);
                    fixed(analysis.and_then(value), 4)
                })
                .collect(),
            decisions: look.decisions.clone(),
            recommendation: look.recommendation.as_ref().map(|r| RecommendationLine {
                words: capitalised(&r.words),
                rationale: r.rationale.clone(),
                signed: format!(
                    "Signed by {} ({}) on {} UTC, record {}",
                    r.signed_by,
                    r.username,
                    r.recorded_at.replace('T', " ").trim_end_matches('Z'),
                    r.seq
                ),
            }),
        })
        .collect();
    let next = trial
        .looks_planned
        .iter()
        .find(|&&l| l > trial.outcomes)
        .or(trial.looks_planned.first());
    let no_look = match next {
        Some(due) => format!(
            "No look has happened yet. The first look is due when {due} participants have an outcome ({} have one now).",
            trial.outcomes
        ),
        None => "No look has happened yet.".to_owned(),
    };
    Results {
        comparison: if by_control {
            "P(better than control)"
        } else {
            "P(best)"
        },
        by_control,
        data_header: match trial.outcome_kind {
            OutcomeKind::Binary => "Responders / with an outcome",
            OutcomeKind::Continuous => "With an outcome, observed mean",
            OutcomeKind::Count => "With an outcome, events per unit of exposure",
        },
        any_mixture: results
            .posteriors
            .iter()
            .any(|p| !p.posterior_weights.is_empty()),
        arms,
        headers,
        looks,
        no_look,
        posterior_chart,
        comparison_chart: charts::comparison(results),
        allocation_chart: charts::allocation(results),
        precision: results
            .precision
            .as_ref()
            .map(super::dashboard_strata::precision_lines),
    }
}

/// The colour swatch of the arm at `index` (as on the charts), hidden from screen readers.
fn swatch(index: usize) -> String {
    let c = charts::arm_colour(index);
    format!(
        "<svg class=\"swatch\" width=\"14\" height=\"14\" viewBox=\"0 0 14 14\" aria-hidden=\"true\" focusable=\"false\"><rect width=\"14\" height=\"14\" rx=\"3\" fill=\"#{:02x}{:02x}{:02x}\"/></svg>",
        c.0, c.1, c.2
    )
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The recommendation form's values (kept when the form is shown again).
#[derive(Deserialize, Default, Clone)]
pub struct RecommendationForm {
    #[serde(default)]
    csrf: String,
    /// The look it follows.
    #[serde(default)]
    pub look: String,
    /// The action.
    #[serde(default)]
    pub action: String,
    /// The arm to stop.
    #[serde(default)]
    pub arm: String,
    /// Why.
    #[serde(default)]
    pub rationale: String,
    #[serde(default)]
    password: String,
}

/// The recommendation form as the page shows it.
pub struct RecommendationFormView {
    /// Looks without a recommendation yet, latest first.
    pub looks: Vec<u32>,
    /// Open arms (to stop one).
    pub arms: Vec<String>,
    /// `(action, words)` choices.
    pub actions: &'static [(&'static str, &'static str)],
    /// The values entered.
    pub values: RecommendationForm,
    /// The mistake to show, if any.
    pub error: Option<FormError>,
}

impl RecommendationFormView {
    /// Whether the signature was refused (a wrong password, or too many attempts): the message
    /// goes next to the password.
    pub fn password_refused(&self) -> bool {
        self.error.as_ref().is_some_and(|e| {
            e.general()
                && matches!(
                    e.status,
                    actix_web::http::StatusCode::UNAUTHORIZED
                        | actix_web::http::StatusCode::TOO_MANY_REQUESTS
                )
        })
    }

    /// Whether `look` is the one selected.
    pub fn look_selected(&self, look: &u32) -> bool {
        self.values.look == look.to_string()
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    trial: TrialView,
    r: Results,
    /// The DMC's form, when the viewer may record a recommendation and a look awaits one.
    form: Option<RecommendationFormView>,
    /// Why the DMC cannot record a recommendation now (shown to DMC members).
    form_closed: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard_report.html")]
struct ReportPage {
    chrome: Chrome,
    trial: TrialView,
    r: Results,
}

/// Reads the unblinded view, or `None` for an n-of-1 series (answered with its series page).
async fn unblinded(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    id: &str,
) -> Result<Option<TrialView>, WebError> {
    user.require(Permission::SeeResults)?;
    let (actor, lookup) = (user.actor.clone(), id.to_owned());
    call(state, move |s| {
        if s.trial_view(&actor, &lookup, false)?.nof1 {
            return Ok(None);
        }
        s.trial_view(&actor, &lookup, true).map(Some)
    })
    .await
}

fn series_page(id: &str) -> Page {
    Ok(see_other(&format!(
        "/trials/{}/series",
        crate::web::path_segment(id)
    )))
}

fn results_of(trial: &TrialView) -> Result<Results, WebError> {
    let results = trial
        .results
        .as_ref()
        .ok_or_else(|| WebError::Internal("results missing from an unblinded view".into()))?;
    Ok(results_lines(trial, results))
}

/// The dashboard page, with the DMC's form (its values and mistake when shown again).
fn dashboard(
    user: &LoggedIn,
    trial: TrialView,
    values: Option<RecommendationForm>,
    error: Option<FormError>,
) -> Result<DashboardPage, WebError> {
    let r = results_of(&trial)?;
    let results = trial
        .results
        .as_ref()
        .ok_or_else(|| WebError::Internal("results missing from an unblinded view".into()))?;
    let mut form = None;
    let mut form_closed = None;
    if user.actor.may(Permission::RecommendAsDmc) {
        let open: Vec<u32> = results
            .looks
            .iter()
            .rev()
            .filter(|l| l.recommendation.is_none())
            .map(|l| l.look)
            .collect();
        if trial.status != "running" && trial.status != "paused" {
            form_closed = Some(format!(
                "The trial is {}: recommendations are recorded while it runs.",
                trial.status
            ));
        } else if results.looks.is_empty() {
            form_closed = Some(
                "The committee records its recommendation after a look; no look has happened yet."
                    .to_owned(),
            );
        } else if open.is_empty() {
            form_closed = Some("Every look has the committee's recommendation.".to_owned());
        } else {
            let values = values.unwrap_or_else(|| RecommendationForm {
                look: open.first().map(u32::to_string).unwrap_or_default(),
                ..RecommendationForm::default()
            });
            form = Some(RecommendationFormView {
                looks: open,
                arms: trial
                    .arms
                    .iter()
                    .filter(|a| a.status == Some("open"))
                    .map(|a| a.id.clone())
                    .collect(),
                actions: &RECOMMENDATION_ACTIONS,
                values: RecommendationForm {
                    password: String::new(),
                    ..values
                },
                error,
            });
        }
    }
    Ok(DashboardPage {
        chrome: Chrome::of(user),
        trial,
        r,
        form,
        form_closed,
    })
}

#[get("/trials/{id}/dashboard")]
pub(super) async fn dashboard_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let Some(trial) = unblinded(&state, &user, &id).await? else {
        return series_page(&id);
    };
    html(&dashboard(&user, trial, None, None)?)
}

#[post("/trials/{id}/recommendations")]
pub(super) async fn recommend_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<RecommendationForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::RecommendAsDmc)?;
    let id = path.into_inner();
    let form = form.into_inner();
    let (actor, trial, entered) = (user.actor.clone(), id.clone(), form.clone());
    let outcome = call(&state, move |s| {
        let input = RecommendationInput {
            look: &entered.look,
            action: &entered.action,
            arm: &entered.arm,
            rationale: &entered.rationale,
        };
        s.recommend(&actor, &trial, &input, &entered.password)
    })
    .await;
    match fixable(outcome)? {
        Ok(_) => Ok(done(
            &user,
            &format!("/trials/{}/dashboard#looks", crate::web::path_segment(&id)),
            Notice::RecommendationRecorded,
        )),
        Err(error) => {
            let Some(trial) = unblinded(&state, &user, &id).await? else {
                return series_page(&id);
            };
            let page = dashboard(&user, trial, Some(form), Some(error.clone()))?;
            form_again(&error, &page)
        }
    }
}

#[get("/trials/{id}/report")]
pub(super) async fn report_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let Some(trial) = unblinded(&state, &user, &id).await? else {
        return series_page(&id);
    };
    let r = results_of(&trial)?;
    html(&ReportPage {
        chrome: Chrome::of(&user),
        trial,
        r,
    })
}
