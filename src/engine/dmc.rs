//! The data monitoring committee's recommendation after a look: an input on the record (with the
//! signer's printed name), folded like every other event and re-run by replay. It advises; it
//! changes neither the allocation nor the arms nor enrolment.

use tracing::instrument;

use super::commands::Engine;
use super::events::{Event, EventBody, Recommendation};
use super::state::{ArmStatus, TrialState};
use super::EngineError;

/// The longest rationale, in characters.
pub const MAX_RATIONALE: usize = 4_000;

/// The longest printed name of a signer, in characters.
pub const MAX_SIGNER: usize = 200;

impl Engine<'_> {
    /// Records the committee's recommendation after look `look` (a look already performed that
    /// has none yet), while the trial runs. Stopping an arm names an arm that is open; the
    /// rationale is 1 to [`MAX_RATIONALE`] characters.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, look))]
    pub fn recommend(
        &mut self,
        state: &mut TrialState,
        look: u32,
        recommendation: Recommendation,
        rationale: &str,
        signed_by: &str,
    ) -> Result<Vec<Event>, EngineError> {
        Self::require_running(state)?;
        if look == 0 || look > state.looks_done {
            return Err(EngineError::Invalid {
                field: "look",
                problem: match state.looks_done {
                    0 => "no look has been performed yet".to_owned(),
                    done => format!("choose a look from 1 to {done}"),
                },
            });
        }
        if state.recommended.contains(&look) {
            return Err(EngineError::Refused(format!(
                "look {look} already has the committee's recommendation"
            )));
        }
        if let Some(arm) = recommendation.arm() {
            let open = state
                .arms
                .iter()
                .any(|a| a.id == *arm && a.status == ArmStatus::Active);
            if !open {
                return Err(EngineError::Invalid {
                    field: "arm",
                    problem: format!("arm {arm} is not open: choose an open arm to stop"),
                });
            }
        }
        let rationale = rationale.trim();
        let length = rationale.chars().count();
        if length == 0 || length > MAX_RATIONALE {
            return Err(EngineError::Invalid {
                field: "rationale",
                problem: format!(
                    "a recommendation needs a rationale of 1 to {MAX_RATIONALE} characters (this one has {length})"
                ),
            });
        }
        let signed_by = signed_by.trim();
        if signed_by.is_empty() || signed_by.chars().count() > MAX_SIGNER {
            return Err(EngineError::Invalid {
                field: "signed_by",
                problem: format!("the signer's printed name needs 1 to {MAX_SIGNER} characters"),
            });
        }
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::DmcRecommended {
                look,
                recommendation,
                rationale: rationale.to_owned(),
                signed_by: signed_by.to_owned(),
            },
            &mut out,
        )?;
        Ok(out)
    }
}
