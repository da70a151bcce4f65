//! A trial's participants, one participant's timeline, and the assignment shown after an
//! enrolment, each as the viewer's [`Sight`] allows: the arm to those who may see assignments, a
//! kit code on blinded trials, outcomes to all but the pharmacist, chain seqs only to those who
//! see comparative records.

use super::*;
use crate::engine::Disclosure;
use crate::service::{Assignment, Permission};
use crate::store::{OutcomeRow, ParticipantRow};

/// What a viewer may see of participants on one trial.
struct Lens<'a> {
    sight: Sight,
    seed_hex: &'a str,
    /// Whether outcome values may be shown (everyone who lists participants but the pharmacist).
    outcomes: bool,
    /// Whether the trial is a series of n-of-1 trials.
    nof1: bool,
    /// The outcome, for binary values in its own words.
    outcome: &'a crate::protocol::OutcomeSpec,
}

impl Lens<'_> {
    fn of<'a>(actor: &Actor, snapshot: &'a Snapshot) -> Lens<'a> {
        Lens {
            sight: snapshot.sight(actor),
            seed_hex: &snapshot.trial.seed_hex,
            outcomes: actor.may(Permission::Enrol) || actor.may(Permission::SeeResults),
            nof1: snapshot.protocol.protocol.trial.design == crate::protocol::Design::Nof1,
            outcome: &snapshot.protocol.protocol.outcome,
        }
    }

    fn arm(&self, arm: &str) -> Option<String> {
        self.sight
            .reveals(Disclosure::Assignment)
            .then(|| arm.to_owned())
    }

    /// A platform participant's kit; an n-of-1 patient has one kit per period (on the
    /// calendar), none of their own.
    fn kit(&self, participant: u32) -> Option<String> {
        (self.sight.blinded && !self.nof1).then(|| kit_code(self.seed_hex, participant))
    }

    /// Seqs count the records between inputs, and so the decisions taken at looks
    /// ([`Sight::sees_seqs`]).
    fn seq(&self, seq: i64) -> Option<i64> {
        self.sight.sees_seqs().then_some(seq)
    }

    fn participant(&self, row: &ParticipantRow, state: &TrialState) -> ParticipantView {
        let outcome = state
            .participants
            .get(row.participant as usize)
            .and_then(|p| p.outcome.as_ref())
            .filter(|_| self.outcomes)
            .map(|value| outcome_text(value, self.outcome));
        ParticipantView {
            subject_id: row.subject_id.clone(),
            participant: row.participant,
            arm: self.arm(&row.arm),
            kit: self.kit(row.participant as u32),
            seq: self.seq(row.seq),
            enrolled_by: row.enrolled_by.clone(),
            enrolled_at: row.enrolled_at.clone(),
            outcome,
        }
    }
}

impl Service {
    /// A trial's participants (coordinators, the pharmacist, statisticians, the DMC).
    pub fn participants(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<Vec<ParticipantView>, ServiceError> {
        actor.require(Permission::ListParticipants)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let lens = Lens::of(actor, &snapshot);
        Ok(ParticipantRow::of_trial(&mut conn, trial_id)?
            .iter()
            .map(|row| lens.participant(row, &snapshot.state))
            .collect())
    }

    /// One participant with their timeline.
    pub fn participant(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
    ) -> Result<ParticipantDetail, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        actor.require(Permission::ListParticipants)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let lens = Lens::of(actor, &snapshot);
        let row =
            ParticipantRow::by_subject(&mut conn, trial_id, subject_id)?.ok_or_else(|| {
                ServiceError::NotFound(format!("no participant {subject_id} in trial {trial_id}"))
            })?;
        let view = lens.participant(&row, &snapshot.state);
        let assignment = match (&view.arm, &view.kit) {
            (Some(arm), Some(kit)) => format!("randomised to {arm} (kit {kit})"),
            (Some(arm), None) => format!("randomised to {arm}"),
            (None, Some(kit)) => format!("randomised: kit {kit}"),
            (None, None) => "randomised".to_owned(),
        };
        // Each entry with its seq, to keep the chain's order.
        let mut timeline = vec![
            (
                row.seq - 1,
                TimelineEntry {
                    at: row.enrolled_at.clone(),
                    seq: lens.seq(row.seq - 1),
                    what: "enrolled (eligibility confirmed)".to_owned(),
                    by: row.enrolled_by.clone(),
                    reason: None,
                },
            ),
            (
                row.seq,
                TimelineEntry {
                    at: row.enrolled_at.clone(),
                    seq: lens.seq(row.seq),
                    what: assignment,
                    by: row.enrolled_by.clone(),
                    reason: None,
                },
            ),
        ];
        if lens.outcomes {
            for outcome in OutcomeRow::of_participant(&mut conn, trial_id, row.participant)? {
                let value: OutcomeValue = serde_json::from_str(&outcome.value).map_err(|e| {
                    ServiceError::Integrity(format!("outcome {} value: {e}", outcome.seq))
                })?;
                let corrects = match outcome.corrects.and_then(|seq| lens.seq(seq)) {
                    Some(seq) => format!(" (corrects seq {seq})"),
                    None => String::new(),
                };
                timeline.push((
                    outcome.seq,
                    TimelineEntry {
                        at: outcome.recorded_at,
                        seq: lens.seq(outcome.seq),
                        what: match outcome.corrects {
                            Some(_) => {
                                format!(
                                    "outcome corrected to {}{corrects}",
                                    outcome_text(&value, lens.outcome)
                                )
                            }
                            None => {
                                format!("outcome recorded: {}", outcome_text(&value, lens.outcome))
                            }
                        },
                        by: outcome.recorded_by,
                        reason: outcome.reason,
                    },
                ));
            }
        }
        // Code breaks (and, on blinded n-of-1 trials, the reveal at the patient's end) are
        // part of the participant's story: when, by whom and why; never the arm.
        let chain = chain_of(trial_id)?.to_string();
        let reveals = snapshot
            .history
            .subjects
            .get(row.participant as usize)
            .map(|s| s.revealed.clone())
            .unwrap_or_default();
        for reveal in reveals {
            let Some(record) = AuditRow::at(&mut conn, &chain, reveal.record as i64)? else {
                return Err(ServiceError::Integrity(format!(
                    "the reveal at record {} is not on the chain",
                    reveal.record
                )));
            };
            timeline.push((
                record.seq,
                TimelineEntry {
                    at: record.recorded_at,
                    seq: lens.seq(record.seq),
                    what: match reveal.cause {
                        crate::engine::RevealCause::Emergency { .. } => {
                            "code broken (emergency unblinding)".to_owned()
                        }
                        crate::engine::RevealCause::PatientFinished => {
                            "treatments revealed to the site (the patient's trial ended)".to_owned()
                        }
                    },
                    by: record.actor,
                    reason: record.reason,
                },
            ));
        }
        timeline.sort_by_key(|(seq, _)| *seq);
        let current_value = snapshot
            .state
            .participants
            .get(row.participant as usize)
            .and_then(|p| p.outcome.as_ref())
            .filter(|_| lens.outcomes)
            .map(outcome_form_text);
        Ok(ParticipantDetail {
            participant: view,
            current_value,
            timeline: timeline.into_iter().map(|(_, entry)| entry).collect(),
        })
    }

    /// What the person who enrolled is shown: the arm, or a kit code on a blinded trial for
    /// roles that may not see assignments.
    pub fn assignment_view(
        &self,
        actor: &Actor,
        assignment: &Assignment,
    ) -> Result<AssignmentView, ServiceError> {
        let mut conn = self.conn()?;
        let (trial, protocol) = self.trial_protocol(&mut conn, &assignment.trial_id)?;
        let blinded = protocol.protocol.trial.blinded;
        let sight = Sight {
            role: actor.role,
            blinded,
            stopped: false,
        };
        let concealed = !sight.reveals(Disclosure::Assignment);
        // Arms added by amendment are not in version 1: their id stands for their name.
        let arm_name = protocol
            .protocol
            .arms
            .iter()
            .find(|a| a.id.as_str() == assignment.arm)
            .map(|a| a.name.clone());
        Ok(AssignmentView {
            trial_id: assignment.trial_id.clone(),
            subject_id: assignment.subject_id.clone(),
            arm: (!concealed).then(|| assignment.arm.clone()),
            arm_name: if concealed { None } else { arm_name },
            // An n-of-1 patient's first kit is their first period's.
            kit: blinded.then(|| match protocol.protocol.trial.design {
                crate::protocol::Design::Nof1 => {
                    period_kit_code(&trial.seed_hex, assignment.participant, 1)
                }
                crate::protocol::Design::Platform => {
                    kit_code(&trial.seed_hex, assignment.participant)
                }
            }),
            seq: sight.sees_seqs().then_some(assignment.seq),
        })
    }
}

/// Participants shown on one page of a list.
pub const PARTICIPANTS_PER_PAGE: usize = 50;

/// The longest search text: a subject id is at most 64 characters.
pub const MAX_SEARCH_CHARS: usize = 64;

/// Which participants a list keeps by their outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutcomeFilter {
    /// Every participant.
    #[default]
    Any,
    /// Those whose outcome is awaited.
    Awaited,
    /// Those with an outcome.
    Recorded,
}

impl OutcomeFilter {
    /// The query value (`awaited`, `recorded`, or empty for any).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::Awaited => "awaited",
            Self::Recorded => "recorded",
        }
    }
}

/// A participant list's search, filters and page, parsed from a query string: every value
/// bounded, each refusal naming its field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParticipantQuery {
    /// Part of a subject id (case-insensitive; empty: every subject).
    pub search: String,
    /// By outcome.
    pub outcome: OutcomeFilter,
    /// By arm id (only for viewers who see assignments).
    pub arm: Option<String>,
    /// 1-based page; a page past the last shows the last.
    pub page: u64,
}

impl ParticipantQuery {
    /// Reads the query's fields `q`, `outcome`, `arm` and `page`.
    pub fn parse(search: &str, outcome: &str, arm: &str, page: &str) -> Result<Self, ServiceError> {
        let search = search.trim();
        if search.chars().count() > MAX_SEARCH_CHARS || search.chars().any(char::is_control) {
            return Err(ServiceError::Invalid {
                field: "q",
                problem: format!(
                    "search for at most {MAX_SEARCH_CHARS} printable characters of a subject ID"
                ),
            });
        }
        let outcome = match outcome.trim() {
            "" | "any" => OutcomeFilter::Any,
            "awaited" => OutcomeFilter::Awaited,
            "recorded" => OutcomeFilter::Recorded,
            _ => {
                return Err(ServiceError::Invalid {
                    field: "outcome",
                    problem: "choose any, awaited or recorded".into(),
                })
            }
        };
        let arm = arm.trim();
        if arm.chars().count() > crate::protocol::limits::MAX_TRIAL_ID_CHARS {
            return Err(ServiceError::Invalid {
                field: "arm",
                problem: "no arm has an id that long".into(),
            });
        }
        let page = match page.trim() {
            "" => 1,
            // Any page past the last shows the last, so a huge number is as good as the last.
            digits if digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse::<u64>().unwrap_or(u64::MAX).max(1)
            }
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => u64::MAX,
            _ => {
                return Err(ServiceError::Invalid {
                    field: "page",
                    problem: "a page is a whole number from 1".into(),
                })
            }
        };
        Ok(Self {
            search: search.to_owned(),
            outcome,
            arm: Some(arm.to_owned()).filter(|a| !a.is_empty()),
            page,
        })
    }
}

/// One page of a trial's participants.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantList {
    /// The participants on this page.
    pub participants: Vec<ParticipantView>,
    /// Participants that match the search and filters.
    pub matching: usize,
    /// Participants enrolled.
    pub enrolled: usize,
    /// This page (1-based; the last page when the query asked for one past it).
    pub page: u64,
    /// Pages (at least 1).
    pub pages: u64,
    /// 1-based number of the first participant shown (0 when none match).
    pub first: usize,
    /// 1-based number of the last participant shown.
    pub last: usize,
    /// The query that chose them (the page as shown).
    #[serde(skip)]
    pub query: ParticipantQuery,
    /// The arm ids a viewer may filter by (empty for viewers who do not see assignments).
    pub arms: Vec<String>,
}

impl Service {
    /// One page of a trial's participants, searched by subject id and filtered by outcome and
    /// (for viewers who see assignments) by arm.
    pub fn participant_list(
        &self,
        actor: &Actor,
        trial_id: &str,
        query: ParticipantQuery,
    ) -> Result<ParticipantList, ServiceError> {
        actor.require(Permission::ListParticipants)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let lens = Lens::of(actor, &snapshot);
        let arms: Vec<String> = if lens.sight.reveals(Disclosure::Assignment) && !lens.nof1 {
            snapshot
                .state
                .arms
                .iter()
                .map(|a| a.id.to_string())
                .collect()
        } else {
            Vec::new()
        };
        if let Some(arm) = &query.arm {
            if !arms.contains(arm) {
                return Err(ServiceError::Invalid {
                    field: "arm",
                    problem: "choose one of the trial's arms".into(),
                });
            }
        }
        if query.outcome != OutcomeFilter::Any && (!lens.outcomes || lens.nof1) {
            return Err(ServiceError::Invalid {
                field: "outcome",
                problem: "this list cannot be filtered by outcome".into(),
            });
        }
        let rows = ParticipantRow::of_trial(&mut conn, trial_id)?;
        let enrolled = rows.len();
        let needle = query.search.to_lowercase();
        let state = &snapshot.state;
        let has_outcome = |row: &ParticipantRow| {
            state
                .participants
                .get(row.participant as usize)
                .is_some_and(|p| p.outcome.is_some())
        };
        let kept: Vec<&ParticipantRow> = rows
            .iter()
            .filter(|row| needle.is_empty() || row.subject_id.to_lowercase().contains(&needle))
            .filter(|row| match query.outcome {
                OutcomeFilter::Any => true,
                OutcomeFilter::Awaited => !has_outcome(row),
                OutcomeFilter::Recorded => has_outcome(row),
            })
            .filter(|row| query.arm.as_deref().is_none_or(|arm| row.arm == arm))
            .collect();
        let matching = kept.len();
        let pages = matching.div_ceil(PARTICIPANTS_PER_PAGE).max(1) as u64;
        let page = query.page.clamp(1, pages);
        // page ≤ pages ≤ matching / 50 + 1, so the offset fits.
        let offset = (page as usize - 1) * PARTICIPANTS_PER_PAGE;
        let participants: Vec<ParticipantView> = kept
            .iter()
            .skip(offset)
            .take(PARTICIPANTS_PER_PAGE)
            .map(|row| lens.participant(row, state))
            .collect();
        Ok(ParticipantList {
            first: if participants.is_empty() {
                0
            } else {
                offset + 1
            },
            last: offset + participants.len(),
            participants,
            matching,
            enrolled,
            page,
            pages,
            query: ParticipantQuery { page, ..query },
            arms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_are_bounded_and_name_their_field() {
        let q = ParticipantQuery::parse(" P-1 ", "awaited", "", "").expect("query");
        assert_eq!(
            (q.search.as_str(), q.outcome, q.page),
            ("P-1", OutcomeFilter::Awaited, 1)
        );
        assert_eq!(
            ParticipantQuery::parse("", "", "", "1000000000000")
                .expect("a huge page is the last")
                .page,
            1_000_000_000_000
        );
        assert_eq!(
            ParticipantQuery::parse("", "", "", &"9".repeat(400))
                .expect("longer still")
                .page,
            u64::MAX
        );
        let field = |r: Result<ParticipantQuery, ServiceError>| match r {
            Err(ServiceError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(ParticipantQuery::parse(&"x".repeat(10_000), "", "", "")),
            "q"
        );
        assert_eq!(
            field(ParticipantQuery::parse("", "maybe", "", "")),
            "outcome"
        );
        assert_eq!(field(ParticipantQuery::parse("", "", "", "-3")), "page");
        assert_eq!(field(ParticipantQuery::parse("", "", "", "2.5")), "page");
        assert_eq!(
            field(ParticipantQuery::parse("", "", &"a".repeat(65), "")),
            "arm"
        );
    }
}
