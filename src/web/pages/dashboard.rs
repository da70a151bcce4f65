//! The unblinded dashboard (statisticians and the DMC): posteriors, looks and allocation, with SVG charts.
//! An n-of-1 series has no arm-level results: its dashboard is the series page.

use super::{call, html, see_other, Chrome, Page};
use crate::service::Permission;
use crate::service::TrialView;
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::{charts, AppState};
use actix_web::{get, web};
use askama::Template;

/// A posterior row of the dashboard, formatted.
pub struct PosteriorLine {
    /// Arm id.
    pub arm: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Participants assigned.
    pub assigned: u32,
    /// With an outcome.
    pub n: u64,
    /// Mean.
    pub mean: String,
    /// SD.
    pub sd: String,
    /// 95% interval.
    pub ci: String,
}

/// A look row of the dashboard, formatted: one cell per arm of the header.
pub struct LookLine {
    /// Look number.
    pub look: u32,
    /// Outcomes.
    pub outcomes: u32,
    /// Enrolled.
    pub enrolled: u32,
    /// Comparison probability per arm (blank when the arm was not analysed).
    pub cells: Vec<String>,
    /// Decisions.
    pub decisions: Vec<String>,
}

fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    trial: TrialView,
    comparison: &'static str,
    posteriors: Vec<PosteriorLine>,
    arms: Vec<String>,
    looks: Vec<LookLine>,
    posterior_svg: String,
    comparison_svg: String,
    allocation_svg: String,
}

#[get("/trials/{id}/dashboard")]
pub(super) async fn dashboard_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    user.require(Permission::SeeResults)?;
    let id = path.into_inner();
    let (actor, lookup) = (user.actor.clone(), id.clone());
    let trial = call(&state, move |s| {
        if s.trial_view(&actor, &lookup, false)?.nof1 {
            return Ok(None);
        }
        s.trial_view(&actor, &lookup, true).map(Some)
    })
    .await?;
    let Some(trial) = trial else {
        return Ok(see_other(&format!(
            "/trials/{}/series",
            crate::web::path_segment(&id)
        )));
    };
    let results = trial
        .results
        .as_ref()
        .ok_or_else(|| WebError::Internal("results missing from an unblinded view".into()))?;
    let arms: Vec<String> = results.posteriors.iter().map(|p| p.arm.clone()).collect();
    let posteriors = results
        .posteriors
        .iter()
        .map(|p| PosteriorLine {
            arm: p.arm.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
            assigned: p.assigned,
            n: p.n,
            mean: fixed(p.mean, 4),
            sd: fixed(p.sd, 4),
            ci: format!("{:.4} to {:.4}", p.ci95[0], p.ci95[1]),
        })
        .collect();
    let by_control = results.comparison == "p_better_than_control";
    let looks = results
        .looks
        .iter()
        .map(|look| LookLine {
            look: look.look,
            outcomes: look.outcomes,
            enrolled: look.enrolled,
            cells: arms
                .iter()
                .map(|id| {
                    let analysis = look.arms.iter().find(|a| a.arm.as_str() == id);
                    fixed(
                        analysis.and_then(|a| {
                            if by_control {
                                a.p_better_than_control
                            } else {
                                a.p_best
                            }
                        }),
                        4,
                    )
                })
                .collect(),
            decisions: look.decisions.clone(),
        })
        .collect();
    html(&DashboardPage {
        comparison: if by_control {
            "P(better than control)"
        } else {
            "P(best)"
        },
        posterior_svg: charts::posteriors(results),
        comparison_svg: charts::comparison(results),
        allocation_svg: charts::allocation(results),
        chrome: Chrome::of(&user),
        posteriors,
        arms,
        looks,
        trial,
    })
}
