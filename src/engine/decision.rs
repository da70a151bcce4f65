//! Decisions at a look in the trial's language, and what a trial's stop means: the typed
//! read model of [`super::history`] and [`super::TrialState::verdict`] share these, so every view,
//! export and notice shows the same sentence for the same decision.

use std::fmt;

use super::events::{Conclusion, DropReason, StopReason};

/// A decision taken at a look, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// An arm was dropped.
    ArmDropped {
        /// The arm.
        arm: String,
        /// Why.
        reason: DropReason,
        /// The probability that triggered the rule.
        probability: f64,
        /// The threshold.
        threshold: f64,
        /// The control in force when the arm was dropped (designs with a control): the arm the
        /// probability compares it with.
        against: Option<String>,
    },
    /// Precision designs: an arm graduated in a signature.
    Graduated {
        /// The arm.
        arm: String,
        /// The signature's id.
        signature: String,
        /// Its predictive probability of success there.
        probability: f64,
        /// The graduation threshold.
        threshold: f64,
    },
    /// A superior arm became the control.
    ControlChanged {
        /// The old control.
        from: String,
        /// The new control.
        to: String,
        /// P(new better than old).
        probability: f64,
        /// The threshold.
        threshold: f64,
    },
    /// The trial stopped by a rule.
    TrialStopped(StopReason),
}

impl Decision {
    /// The decision in words, one sentence for every decision and every drop reason (an
    /// exhaustive match, so a new reason does not compile until it has its sentence). Every
    /// view, export and notice that shows a decision shows these words.
    pub fn words(&self) -> String {
        match self {
            Self::ArmDropped {
                arm,
                reason,
                probability,
                threshold,
                against,
            } => match (reason, against) {
                (DropReason::Inferiority, None) => format!(
                    "Arm {arm} was dropped as inferior: its probability of being the best arm, {probability:.4}, fell below the threshold {threshold}."
                ),
                (DropReason::Inferiority, Some(control)) => format!(
                    "Arm {arm} was dropped as inferior to the control {control}: its probability of being better than {control}, {probability:.4}, fell below the threshold {threshold}."
                ),
                (DropReason::Futility, control) => format!(
                    "Arm {arm} was dropped for futility: its probability of beating the control{} by the futility margin, {probability:.4}, fell below the threshold {threshold}.",
                    control.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
                ),
                (DropReason::Equivalence, control) => format!(
                    "Arm {arm} was dropped as equivalent to the control{}: the probability of a difference within the margin, {probability:.4}, exceeded the threshold {threshold}.",
                    control.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
                ),
                (DropReason::FutilityInEverySignature, _) => format!(
                    "Arm {arm} was dropped for futility in every signature: its highest predictive probability of success in a signature, {probability:.4}, fell below the futility threshold {threshold}."
                ),
                (DropReason::ReplacedAsControl, control) => format!(
                    "Arm {arm}, the control until this look, was dropped because arm {} proved superior to it (probability {probability:.4} above the threshold {threshold}).",
                    control.as_deref().unwrap_or("another")
                ),
            },
            Self::Graduated {
                arm,
                signature,
                probability,
                threshold,
            } => format!(
                "Arm {arm} graduated in signature {signature}: its predictive probability of success in a confirmatory trial there, {probability:.4}, reached the threshold {threshold}; it enrols no more participants in the signature's strata."
            ),
            Self::ControlChanged {
                from,
                to,
                probability,
                threshold,
            } => format!(
                "Arm {to} proved superior to the control {from} (probability {probability:.4} above the threshold {threshold}) and became the new control."
            ),
            Self::TrialStopped(reason) => format!("The trial stopped: {reason}."),
        }
    }
}

impl fmt::Display for Decision {
    /// [`Decision::words`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words())
    }
}

/// What a trial's stop means (one rule, shared with [`super::TrialState::verdict`]): a stop for
/// superiority or equivalence means that; one arm left means superiority without a control or
/// after a control change, equivalence when the last drop was for equivalence, and futility
/// otherwise; the maximum sample size or a closure after a control change means superiority of
/// the new control.
pub fn conclusion_of(
    reason: &StopReason,
    has_control: bool,
    promoted: bool,
    last_drop: Option<DropReason>,
) -> Conclusion {
    match reason {
        StopReason::Superiority { .. } => Conclusion::Superiority,
        StopReason::Equivalence { .. } => Conclusion::Equivalence,
        StopReason::OneArmLeft { .. } => {
            if !has_control || promoted {
                Conclusion::Superiority
            } else if last_drop == Some(DropReason::Equivalence) {
                Conclusion::Equivalence
            } else {
                Conclusion::Futility
            }
        }
        StopReason::MaxParticipants | StopReason::EveryArmClosed | StopReason::Closed { .. }
            if has_control && promoted =>
        {
            Conclusion::Superiority
        }
        StopReason::MaxParticipants | StopReason::EveryArmClosed => Conclusion::MaximumSampleSize,
        StopReason::Closed { .. } => Conclusion::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(reason: DropReason, against: Option<&str>) -> Decision {
        Decision::ArmDropped {
            arm: "b".to_owned(),
            reason,
            probability: 0.0123,
            threshold: 0.05,
            against: against.map(str::to_owned),
        }
    }

    /// No snake_case code (`replaced_as_control`) in a sentence.
    fn no_code(words: &str) {
        assert!(
            !words
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w.contains('_')),
            "{words}"
        );
        assert!(words.ends_with('.'), "a sentence: {words}");
    }

    #[test]
    fn every_drop_reason_has_its_sentence() {
        let reasons = [
            DropReason::Inferiority,
            DropReason::Futility,
            DropReason::Equivalence,
            DropReason::ReplacedAsControl,
            DropReason::FutilityInEverySignature,
        ];
        for reason in reasons {
            for against in [None, Some("a")] {
                let words = dropped(reason, against).words();
                no_code(&words);
                assert!(words.starts_with("Arm b"), "{words}");
                assert!(words.contains("0.0123"), "{words}");
            }
        }
        assert_eq!(
            dropped(DropReason::Inferiority, Some("a")).words(),
            "Arm b was dropped as inferior to the control a: its probability of being better than a, 0.0123, fell below the threshold 0.05."
        );
        assert_eq!(
            dropped(DropReason::Inferiority, None).words(),
            "Arm b was dropped as inferior: its probability of being the best arm, 0.0123, fell below the threshold 0.05."
        );
        let replaced = dropped(DropReason::ReplacedAsControl, Some("c")).words();
        assert!(
            replaced.contains("arm c proved superior to it"),
            "{replaced}"
        );
        assert!(!replaced.contains("replaced_as_control"), "{replaced}");
    }

    #[test]
    fn control_changes_and_stops_are_sentences() {
        let changed = Decision::ControlChanged {
            from: "a".to_owned(),
            to: "b".to_owned(),
            probability: 0.9951,
            threshold: 0.99,
        }
        .words();
        assert_eq!(
            changed,
            "Arm b proved superior to the control a (probability 0.9951 above the threshold 0.99) and became the new control."
        );
        no_code(&changed);
        for reason in [
            StopReason::MaxParticipants,
            StopReason::OneArmLeft {
                arm: crate::protocol::ArmId::parse("a").expect("an arm id"),
            },
            StopReason::Equivalence {
                probability: 0.97,
                threshold: 0.95,
            },
        ] {
            let words = Decision::TrialStopped(reason).words();
            no_code(&words);
            assert!(words.starts_with("The trial stopped: "), "{words}");
        }
    }

    #[test]
    fn a_graduation_is_a_sentence_with_its_probability() {
        let words = Decision::Graduated {
            arm: "b".to_owned(),
            signature: "her2-pos".to_owned(),
            probability: 0.9123,
            threshold: 0.85,
        }
        .words();
        assert!(
            words.starts_with("Arm b graduated in signature her2-pos"),
            "{words}"
        );
        assert!(
            words.contains("0.9123") && words.contains("0.85"),
            "{words}"
        );
        assert!(words.ends_with('.'), "{words}");
    }

    #[test]
    fn the_display_is_the_words() {
        let decision = dropped(DropReason::Futility, Some("a"));
        assert_eq!(decision.to_string(), decision.words());
    }
}
