//! The data monitoring committee's recommendation after a look: parsed from what the member
//! entered, signed with their password (the login throttle counts the attempt), and recorded by
//! the engine as an input on the trial's chain. Notified like every change, through the history.

use tracing::instrument;

use super::super::{Actor, Permission, Service, ServiceError};
use super::WriteLock;
use crate::engine::Recommendation;
use crate::protocol::ArmId;

/// A recommendation as entered in the form or the API: every field is text, parsed here.
#[derive(Debug, Clone, Copy)]
pub struct RecommendationInput<'a> {
    /// The look it follows (a number).
    pub look: &'a str,
    /// `continue`, `pause_enrolment`, `stop_arm`, `stop_trial` or `modify`.
    pub action: &'a str,
    /// The arm to stop (`stop_arm` only).
    pub arm: &'a str,
    /// Why, in the committee's words.
    pub rationale: &'a str,
}

/// The actions a recommendation may take, as `(action, words)` pairs for forms, in the order
/// offered. Every [`Recommendation`] has its action here ([`parse_recommendation`]).
pub const RECOMMENDATION_ACTIONS: [(&str, &str); 5] = [
    ("continue", "Continue the trial as planned"),
    ("pause_enrolment", "Pause enrolment"),
    ("stop_arm", "Stop an arm (name it)"),
    ("stop_trial", "Stop the trial"),
    ("modify", "Modify the trial (say how in the rationale)"),
];

/// Parses the look number, the action and (to stop an arm) the arm.
pub fn parse_recommendation(
    input: &RecommendationInput<'_>,
) -> Result<(u32, Recommendation), ServiceError> {
    let look = input
        .look
        .trim()
        .parse::<u32>()
        .map_err(|_| ServiceError::Invalid {
            field: "look",
            problem: "choose the look the recommendation follows".to_owned(),
        })?;
    let recommendation =
        match input.action.trim() {
            "continue" => Recommendation::Continue,
            "pause_enrolment" => Recommendation::PauseEnrolment,
            "stop_trial" => Recommendation::StopTrial,
            "modify" => Recommendation::Modify,
            "stop_arm" => {
                let arm = input.arm.trim();
                if arm.is_empty() {
                    return Err(ServiceError::Invalid {
                        field: "arm",
                        problem: "stopping an arm needs the arm: choose one".to_owned(),
                    });
                }
                let arm = ArmId::parse(arm).map_err(|problem| ServiceError::Invalid {
                    field: "arm",
                    problem,
                })?;
                Recommendation::StopArm { arm }
            }
            "" => {
                return Err(ServiceError::Invalid {
                    field: "action",
                    problem: "choose what the committee recommends".to_owned(),
                })
            }
            _ => return Err(ServiceError::Invalid {
                field: "action",
                problem:
                    "choose one of: continue, pause enrolment, stop an arm, stop the trial, modify"
                        .to_owned(),
            }),
        };
    Ok((look, recommendation))
}

impl Service {
    /// Records the committee's recommendation after a look (the DMC only), signed with the
    /// member's password: a wrong password is refused (and counted by the login throttle) before
    /// anything is recorded. Returns the seq of the record.
    #[instrument(skip_all, fields(trial = %trial_id))]
    pub fn recommend(
        &self,
        actor: &Actor,
        trial_id: &str,
        input: &RecommendationInput<'_>,
        password: &str,
    ) -> Result<u64, ServiceError> {
        actor.require(Permission::RecommendAsDmc)?;
        let (look, recommendation) = parse_recommendation(input)?;
        let signer = self.reauthenticate(actor, password, "the committee's recommendation")?;
        let meaning = format!("signed as the committee's recommendation after look {look}");
        self.run_command(
            actor,
            trial_id,
            Some(&meaning),
            WriteLock::Trial(trial_id),
            |c| {
                let events = c.engine.recommend(
                    c.state,
                    look,
                    recommendation,
                    input.rationale,
                    &signer.printed_name,
                )?;
                let seq = events.last().map_or(0, |e| e.seq);
                Ok((events, seq))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(look: &'a str, action: &'a str, arm: &'a str) -> RecommendationInput<'a> {
        RecommendationInput {
            look,
            action,
            arm,
            rationale: "why",
        }
    }

    #[test]
    fn every_offered_action_parses() {
        for (action, _) in RECOMMENDATION_ACTIONS {
            let parsed = parse_recommendation(&input("1", action, "b"));
            assert_eq!(parsed.map(|(_, r)| r.action()).ok(), Some(action));
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |i: RecommendationInput<'_>| match parse_recommendation(&i) {
            Err(ServiceError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(field(input("1,5", "continue", "")), "look");
        assert_eq!(field(input("1", "", "")), "action");
        assert_eq!(field(input("1", "halt", "")), "action");
        assert_eq!(field(input("1", "stop_arm", " ")), "arm");
    }
}
