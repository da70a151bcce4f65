//! Confirmations after a redirect ("post, redirect, get"): an action that worked sets a
//! short-lived cookie naming a [`Notice`]; the next page shows its sentence once and the
//! cookie is cleared by [`clear_shown_notice`].
//!
//! The cookie carries a code, never text: a code this build does not know is ignored (fail
//! closed), so nobody can make the app display a sentence of their choosing.

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

/// The cookie that carries a notice to the next page.
pub const NOTICE_COOKIE: &str = "bayestrial_notice";

/// What an action confirms. Each has one code (the cookie value) and one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A participant was enrolled.
    Enrolled,
    /// An outcome was recorded.
    OutcomeRecorded,
    /// An outcome was corrected (with a reason).
    OutcomeCorrected,
    /// An n-of-1 measurement was recorded.
    MeasurementRecorded,
    /// A participant's code was broken.
    CodeBroken,
    /// A trial (a draft protocol) was created.
    TrialCreated,
    /// A draft was saved as a new version.
    DraftSaved,
    /// A protocol version was signed.
    ProtocolSigned,
    /// The trial was started.
    TrialStarted,
    /// An amendment was signed and is in force.
    TrialAmended,
    /// The trial was paused.
    TrialPaused,
    /// The trial was resumed.
    TrialResumed,
    /// The trial was closed.
    TrialClosed,
    /// The trial's witness list was saved.
    WitnessesSaved,
    /// Nothing changed: the form held what was already saved.
    NothingChanged,
    /// The DMC's recommendation was recorded.
    RecommendationRecorded,
    /// A simulation was started.
    SimulationStarted,
    /// A simulation was cancelled.
    SimulationCancelled,
    /// A user was added.
    UserAdded,
    /// A role was granted or revoked.
    RolesChanged,
    /// An account was activated or deactivated.
    AccountChanged,
    /// An admin reset a user's password.
    PasswordReset,
    /// The user changed their own password.
    PasswordChanged,
    /// An API token was revoked.
    TokenRevoked,
}

impl Notice {
    /// Every notice (the codes [`Notice::from_code`] accepts).
    pub const ALL: [Notice; 24] = [
        Notice::Enrolled,
        Notice::OutcomeRecorded,
        Notice::OutcomeCorrected,
        Notice::MeasurementRecorded,
        Notice::CodeBroken,
        Notice::TrialCreated,
        Notice::DraftSaved,
        Notice::ProtocolSigned,
        Notice::TrialStarted,
        Notice::TrialAmended,
        Notice::TrialPaused,
        Notice::TrialResumed,
        Notice::TrialClosed,
        Notice::WitnessesSaved,
        Notice::NothingChanged,
        Notice::RecommendationRecorded,
        Notice::SimulationStarted,
        Notice::SimulationCancelled,
        Notice::UserAdded,
        Notice::RolesChanged,
        Notice::AccountChanged,
        Notice::PasswordReset,
        Notice::PasswordChanged,
        Notice::TokenRevoked,
    ];

    /// The cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Notice::Enrolled => "enrolled",
            Notice::OutcomeRecorded => "outcome-recorded",
            Notice::OutcomeCorrected => "outcome-corrected",
            Notice::MeasurementRecorded => "measurement-recorded",
            Notice::CodeBroken => "code-broken",
            Notice::TrialCreated => "trial-created",
            Notice::DraftSaved => "draft-saved",
            Notice::ProtocolSigned => "protocol-signed",
            Notice::TrialStarted => "trial-started",
            Notice::TrialAmended => "trial-amended",
            Notice::TrialPaused => "trial-paused",
            Notice::TrialResumed => "trial-resumed",
            Notice::TrialClosed => "trial-closed",
            Notice::WitnessesSaved => "witnesses-saved",
            Notice::NothingChanged => "nothing-changed",
            Notice::RecommendationRecorded => "recommendation-recorded",
            Notice::SimulationStarted => "simulation-started",
            Notice::SimulationCancelled => "simulation-cancelled",
            Notice::UserAdded => "user-added",
            Notice::RolesChanged => "roles-changed",
            Notice::AccountChanged => "account-changed",
            Notice::PasswordReset => "password-reset",
            Notice::PasswordChanged => "password-changed",
            Notice::TokenRevoked => "token-revoked",
        }
    }

    /// The sentence shown on the next page.
    pub fn message(self) -> &'static str {
        match self {
            Notice::Enrolled => "The participant was enrolled.",
            Notice::OutcomeRecorded => "The outcome was recorded.",
            Notice::OutcomeCorrected => {
                "The outcome was corrected; the reason is in the audit trail."
            }
            Notice::MeasurementRecorded => "The measurement was recorded.",
            Notice::CodeBroken => "The code was broken; the reason is in the audit trail.",
            Notice::TrialCreated => "The trial was created as a draft.",
            Notice::DraftSaved => "The draft was saved as a new version.",
            Notice::ProtocolSigned => "Your signature was recorded.",
            Notice::TrialStarted => "The trial was started.",
            Notice::TrialAmended => "The amendment is in force.",
            Notice::TrialPaused => "The trial was paused.",
            Notice::TrialResumed => "The trial was resumed.",
            Notice::TrialClosed => "The trial was closed.",
            Notice::WitnessesSaved => "The witness list was saved.",
            Notice::NothingChanged => "Nothing changed: the form held what was already saved.",
            Notice::RecommendationRecorded => "The DMC recommendation was recorded.",
            Notice::SimulationStarted => "The simulation was started.",
            Notice::SimulationCancelled => "The simulation was cancelled.",
            Notice::UserAdded => "The user was added.",
            Notice::RolesChanged => "The roles were changed.",
            Notice::AccountChanged => "The account was changed.",
            Notice::PasswordReset => {
                "The password was reset; the user must change it at their next login."
            }
            Notice::PasswordChanged => "Your password was changed.",
            Notice::TokenRevoked => "The token was revoked.",
        }
    }

    /// The notice with this code, if any.
    pub fn from_code(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.code() == code)
    }

    /// The cookie that carries this notice to the next page (one minute, HttpOnly, Strict).
    pub fn cookie(self, secure: bool) -> Cookie<'static> {
        Cookie::build(NOTICE_COOKIE, self.code())
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(secure)
            .path("/")
            .max_age(Duration::seconds(60))
            .finish()
    }
}

/// A `303 See Other` to `location` that confirms `notice` on the page it leads to.
pub fn redirect_with(req_secure: bool, location: &str, notice: Notice) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_owned()))
        .cookie(notice.cookie(req_secure))
        .finish()
}

/// The notice a request carries (unknown codes are ignored).
pub fn carried(req: &actix_web::HttpRequest) -> Option<Notice> {
    req.cookie(NOTICE_COOKIE)
        .and_then(|c| Notice::from_code(c.value()))
}

/// Clears the notice cookie once a page (any answer that is not itself a redirect) has been
/// served to a request that carried it, so the sentence is shown once.
pub async fn clear_shown_notice(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let carried = req.cookie(NOTICE_COOKIE).is_some();
    let mut response = next.call(req).await?;
    if carried && !response.status().is_redirection() {
        let mut gone = Cookie::build(NOTICE_COOKIE, "").path("/").finish();
        gone.make_removal();
        response.response_mut().add_cookie(&gone)?;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn every_notice_round_trips_through_its_code_and_codes_are_distinct() {
        for notice in Notice::ALL {
            assert_eq!(Notice::from_code(notice.code()), Some(notice));
            assert!(notice.message().ends_with('.'));
        }
        let mut codes: Vec<_> = Notice::ALL.iter().map(|n| n.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Notice::ALL.len());
        assert_eq!(Notice::from_code("<script>"), None);
    }
}
