//! A trial's overview for every role, and the unblinded results for those who see them.

use super::*;
use crate::engine::{ArmStatus, Disclosure, RandomisationPhase};
use crate::protocol::{AllocationRule, Design};
use crate::service::trial::status_text;
use crate::service::Permission;
use crate::stats::Quadrature;
use crate::store::{SignatureRow, WriteLock};
use tracing::instrument;

fn version_view(v: ProtocolVersionRow, current: i32) -> VersionView {
    VersionView {
        state: VersionState::of(v.version, current),
        version: v.version,
        hash: v.hash,
        note: v.note,
        created_by: v.created_by,
        created_at: v.created_at,
    }
}

fn arm_status_word(status: ArmStatus) -> &'static str {
    match status {
        ArmStatus::Pending => "pending",
        ArmStatus::Active => "open",
        ArmStatus::Dropped => "closed",
    }
}

impl Service {
    /// A trial's overview for `actor`. With `with_results`, the unblinded results are added:
    /// only statisticians and the DMC may ask, and the view is recorded on the system chain
    /// (`results_viewed`).
    #[instrument(skip_all, fields(trial = %trial_id, role = %actor.role, with_results))]
    pub fn trial_view(
        &self,
        actor: &Actor,
        trial_id: &str,
        with_results: bool,
    ) -> Result<TrialView, ServiceError> {
        if with_results {
            actor.require(Permission::SeeResults)?;
        }
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let sight = snapshot.sight(actor);
        let (trial, protocol, state) = (&snapshot.trial, &snapshot.protocol, &snapshot.state);
        let current = ProtocolVersionRow::find(&mut conn, trial_id, trial.current_version)?
            .ok_or_else(|| {
                ServiceError::Integrity(format!(
                    "trial {trial_id} has no protocol version {}",
                    trial.current_version
                ))
            })?;
        let versions: Vec<VersionView> = ProtocolVersionRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|v| version_view(v, trial.current_version))
            .collect();
        let newest = versions
            .last()
            .map_or((trial.current_version, String::new()), |v| {
                (v.version, v.created_by.clone())
            });
        let signatures: Vec<SignatureView> = SignatureRow::of_trial(&mut conn, trial_id)?
            .into_iter()
            .map(|s| SignatureView {
                version: s.version,
                protocol_hash: s.protocol_hash,
                meaning: s.meaning,
                printed_name: s.printed_name,
                username: s.username,
                signed_at: s.signed_at,
            })
            .collect();
        let approved_version = |version: i32, hash: &str| {
            signatures
                .iter()
                .any(|s| s.version == version && s.meaning == "approval" && s.protocol_hash == hash)
        };
        let approved = approved_version(trial.current_version, &current.hash);
        let awaiting_approved = versions
            .last()
            .is_some_and(|v| approved_version(v.version, &v.hash));
        let p = &protocol.protocol;
        let mut view = TrialView {
            id: trial.id.clone(),
            title: trial.title.clone(),
            blinded: p.trial.blinded,
            nof1: p.trial.design == Design::Nof1,
            status: listing_status(&status_text(state)),
            tone: StatusTone::of(
                &listing_status(&status_text(state)),
                match &state.status {
                    TrialStatus::Stopped { reason } if sight.reveals(reason.disclosure()) => {
                        state.verdict().map(|verdict| verdict.conclusion)
                    }
                    TrialStatus::Stopped { .. }
                    | TrialStatus::NotStarted
                    | TrialStatus::Running => None,
                },
            ),
            stopped_because: match &state.status {
                TrialStatus::Stopped { reason } if sight.reveals(reason.disclosure()) => {
                    Some(reason.to_string())
                }
                TrialStatus::Stopped { .. } => Some("stopped by a decision rule at a look".into()),
                TrialStatus::NotStarted | TrialStatus::Running => None,
            },
            version: trial.current_version,
            protocol_hash: current.hash,
            source: current.source,
            approved,
            outcome_kind: p.outcome.kind,
            outcome_name: p.outcome.name.clone(),
            outcome_min: p.outcome.min,
            outcome_max: p.outcome.max,
            max_participants: state.max_participants,
            enrolled: state.enrolled(),
            outcomes: state.outcomes,
            looks_done: state.looks_done,
            looks_planned: state.looks.clone(),
            arms: state
                .arms
                .iter()
                .enumerate()
                .map(|(i, arm)| ArmView {
                    id: arm.id.to_string(),
                    name: arm.name.clone(),
                    status: sight.sees_arm_status().then(|| arm_status_word(arm.status)),
                    control: sight
                        .reveals(Disclosure::Comparative)
                        .then_some(state.control == Some(i)),
                })
                .collect(),
            scenarios: p.scenarios.iter().map(|s| s.name.clone()).collect(),
            versions,
            signatures,
            awaiting: newest.0,
            awaiting_author: newest.1,
            awaiting_approved,
            results: None,
            outcome_labels: [true, false].map(|r| p.outcome.binary_label(r).to_owned()),
            outcome_delay_days: p.expected_outcome_delay_days(),
            paused_because: state.enrolment_paused.clone(),
            no_enrolment: state.enrolment_closed().as_ref().map(NoEnrolment::of),
            biomarkers: p
                .precision
                .iter()
                .flat_map(|precision| &precision.biomarkers)
                .map(|b| BiomarkerField {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    levels: b.levels.clone(),
                })
                .collect(),
        };
        if with_results {
            view.results = Some(results(&mut conn, &snapshot)?);
            let by = self.attribution(actor, None);
            self.write_transaction(&mut conn, WriteLock::System, |conn| {
                self.append_system(
                    conn,
                    &crate::audit::SystemEvent::ResultsViewed {
                        trial: trial_id.to_owned(),
                        head_seq: state.last_seq,
                        view: None,
                    },
                    &by,
                )
                .map(|_| ())
            })?;
        }
        Ok(view)
    }

    /// One protocol version of a trial with the line diff from the version before it and its
    /// signatures: what a signer reviews (a saved draft, a pending amendment). Everyone who
    /// reads the trial's page reads its protocol.
    #[instrument(skip_all, fields(trial = %trial_id, version))]
    pub fn protocol_version(
        &self,
        _actor: &Actor,
        trial_id: &str,
        version: i32,
    ) -> Result<VersionDetail, ServiceError> {
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let row = ProtocolVersionRow::find(&mut conn, trial_id, version)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "trial {trial_id} has no protocol version {version}"
            ))
        })?;
        let before = match version {
            1 => None,
            _ => ProtocolVersionRow::find(&mut conn, trial_id, version - 1)?,
        };
        let hunks = line_diff(
            before.as_ref().map_or("", |b| b.source.as_str()),
            &row.source,
        );
        let count = |change: LineChange| {
            hunks
                .iter()
                .flat_map(|h| &h.lines)
                .filter(|l| l.change == change)
                .count()
        };
        let (added, removed) = (count(LineChange::Added), count(LineChange::Removed));
        let signatures: Vec<SignatureView> =
            SignatureRow::for_version(&mut conn, trial_id, version)?
                .into_iter()
                .map(|s| SignatureView {
                    version: s.version,
                    protocol_hash: s.protocol_hash,
                    meaning: s.meaning,
                    printed_name: s.printed_name,
                    username: s.username,
                    signed_at: s.signed_at,
                })
                .collect();
        let approved = signatures
            .iter()
            .any(|s| s.meaning == "approval" && s.protocol_hash == row.hash);
        let status = listing_status(&status_text(&self.snapshot(&mut conn, trial_id)?.state));
        Ok(VersionDetail {
            trial_id: trial.id.clone(),
            title: trial.title.clone(),
            status,
            source: row.source.clone(),
            version: version_view(row, trial.current_version),
            current: trial.current_version,
            newest: crate::service::trial::newest_version(&mut conn, &trial)?.version,
            previous: before.map(|b| b.version),
            hunks,
            added,
            removed,
            signatures,
            approved,
        })
    }

    /// Protocol version `version` of a trial, parsed (statisticians: to simulate a pending
    /// amendment before it is signed). Returns it with its number.
    pub fn protocol_at(
        &self,
        actor: &Actor,
        trial_id: &str,
        version: i32,
    ) -> Result<(LoadedProtocol, i32), ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        let mut conn = self.conn()?;
        let row = ProtocolVersionRow::find(&mut conn, trial_id, version)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "trial {trial_id} has no protocol version {version}"
            ))
        })?;
        let origin = format!("trial {trial_id} version {version}");
        Ok((LoadedProtocol::from_toml(&row.source, &origin)?, version))
    }

    /// The trial's current protocol version, parsed, and its number (statisticians: for
    /// simulation before approval or amendment).
    pub fn current_protocol(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<(LoadedProtocol, i32), ServiceError> {
        actor.require(Permission::WriteProtocols)?;
        let mut conn = self.conn()?;
        let trial = TrialRow::find(&mut conn, trial_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no trial {trial_id}")))?;
        let version = ProtocolVersionRow::find(&mut conn, trial_id, trial.current_version)?
            .ok_or_else(|| {
                ServiceError::Integrity(format!("trial {trial_id} has no current version"))
            })?;
        let origin = format!("trial {trial_id} version {}", version.version);
        Ok((
            LoadedProtocol::from_toml(&version.source, &origin)?,
            version.version,
        ))
    }
}

/// The unblinded results: current posteriors with each arm's data, the looks with their
/// decisions (in the history's words) and the committee's recommendations, the decision
/// thresholds, and the allocation of every randomisation, from the engine's state and history.
fn results(conn: &mut store::DbConn, snapshot: &Snapshot) -> Result<TrialResults, ServiceError> {
    let (state, history) = (&snapshot.state, &snapshot.history);
    let protocol = &snapshot.protocol.protocol;
    let mut quadrature = Quadrature::new();
    let mut assigned = vec![0_u32; state.arms.len()];
    // Per arm: responders (binary), the sum of values or events, and the exposure (counts).
    let mut responders = vec![0_u64; state.arms.len()];
    let mut totals = vec![(0.0_f64, 0.0_f64); state.arms.len()];
    for participant in &state.participants {
        let Some(arm) = participant.arm else { continue };
        assigned[arm] += 1;
        match participant.outcome {
            Some(OutcomeValue::Binary { response }) => responders[arm] += u64::from(response),
            Some(OutcomeValue::Continuous { value }) => {
                totals[arm].0 += value;
                totals[arm].1 += 1.0;
            }
            Some(OutcomeValue::Count { events, exposure }) => {
                totals[arm].0 += events as f64;
                totals[arm].1 += exposure;
            }
            None => {}
        }
    }
    let chain = chain_of(&snapshot.trial.id)?;
    let mut recommendations = Vec::with_capacity(history.recommendations.len());
    for r in &history.recommendations {
        let row = AuditRow::at(conn, &chain.to_string(), r.record as i64)?.ok_or_else(|| {
            ServiceError::Integrity(format!(
                "the recommendation's record {} is missing",
                r.record
            ))
        })?;
        recommendations.push(RecommendationView {
            look: r.look,
            seq: r.record,
            action: r.recommendation.action(),
            words: r.recommendation.to_string(),
            arm: r.recommendation.arm().map(ToString::to_string),
            rationale: r.rationale.clone(),
            signed_by: r.signed_by.clone(),
            username: row.actor,
            recorded_at: row.recorded_at,
        });
    }
    let looks = history
        .looks
        .iter()
        .map(|l| LookResult {
            look: l.look,
            seq: l.record,
            outcomes: l.outcomes,
            enrolled: l.enrolled,
            arms: l.arms.clone(),
            control: l.control.clone(),
            decisions: l.decisions.iter().map(|(_, d)| d.words()).collect(),
            recommendation: recommendations.iter().find(|r| r.look == l.look).cloned(),
        })
        .collect();
    let mut posteriors = Vec::with_capacity(state.arms.len());
    for (i, arm) in state.arms.iter().enumerate() {
        let numeric = |e: crate::stats::StatsError| {
            ServiceError::Integrity(format!("arm {} posterior: {e}", arm.id))
        };
        let marginal = arm.model.posterior().map_err(numeric)?;
        let summary = quadrature.summary(&marginal).map_err(numeric)?;
        let low = quadrature.quantile(&marginal, 0.001).map_err(numeric)?;
        let high = quadrature.quantile(&marginal, 0.999).map_err(numeric)?;
        const POINTS: usize = 121;
        let curve = (0..POINTS)
            .map(|k| {
                let theta = low + (high - low) * k as f64 / (POINTS - 1) as f64;
                [theta, marginal.density(theta)]
            })
            .collect();
        let id = arm.id.to_string();
        let n = arm.model.observations();
        posteriors.push(ArmPosterior {
            status: history
                .arm_status_words(&id)
                .unwrap_or_else(|| arm_status_word(arm.status).to_owned()),
            arm: id,
            name: arm.name.clone(),
            assigned: assigned[i],
            n,
            responders: (protocol.outcome.kind == OutcomeKind::Binary).then_some(responders[i]),
            observed_mean: (protocol.outcome.kind != OutcomeKind::Binary && totals[i].1 > 0.0)
                .then(|| totals[i].0 / totals[i].1),
            ratio: arm.ratio,
            mean: summary.mean,
            sd: summary.sd,
            ci95: summary.ci95,
            curve,
            prior: arm.model.prior_words(),
            posterior_weights: if marginal.is_mixture() {
                marginal.components().map(|(w, _)| w).collect()
            } else {
                Vec::new()
            },
        });
    }
    let ratio_of = |id: &str| {
        state
            .arms
            .iter()
            .find(|a| a.id.as_str() == id)
            .map_or(0, |a| a.ratio)
    };
    let allocation = history
        .subjects
        .iter()
        .filter_map(|s| {
            let first = s.assignments.first()?;
            let shares = first.probabilities.as_ref()?;
            let phase = first.phase.unwrap_or("block");
            let design = if phase == RandomisationPhase::Block.as_str() {
                let total: u32 = shares.iter().map(|a| ratio_of(a.arm.as_str())).sum();
                shares
                    .iter()
                    .map(|a| ArmShare {
                        arm: a.arm.clone(),
                        probability: f64::from(ratio_of(a.arm.as_str())) / f64::from(total.max(1)),
                    })
                    .collect()
            } else {
                shares.to_vec()
            };
            Some(AllocationPoint {
                participant: s.participant,
                probabilities: shares.to_vec(),
                phase: if phase == RandomisationPhase::Block.as_str() {
                    RandomisationPhase::Block.as_str()
                } else {
                    RandomisationPhase::Adaptive.as_str()
                },
                design,
            })
        })
        .collect();
    let looks_done = history.looks.len();
    let line = |threshold: &Option<crate::protocol::Threshold>, rule, words| {
        threshold.as_ref().map(|t| ThresholdLine {
            rule,
            words,
            values: (0..looks_done).map(|k| t.at(k)).collect(),
        })
    };
    let decision = &protocol.decision;
    let thresholds = if state.has_control {
        [
            line(
                &decision.superiority,
                "superiority",
                "above it, the arm becomes the new control",
            ),
            line(
                &decision.inferiority,
                "inferiority",
                "below it, the arm is dropped",
            ),
        ]
    } else {
        [
            line(
                &decision.superiority,
                "superiority",
                "above it, the trial stops for superiority",
            ),
            line(
                &decision.inferiority,
                "inferiority",
                "below it, the arm is dropped",
            ),
        ]
    }
    .into_iter()
    .flatten()
    .collect();
    let adaptive = !matches!(protocol.allocation.rule, AllocationRule::Fixed);
    Ok(TrialResults {
        comparison: if state.has_control {
            "p_better_than_control"
        } else {
            "p_best"
        },
        posteriors,
        looks,
        allocation,
        thresholds,
        allocation_bounds: adaptive.then_some([protocol.allocation.min, protocol.allocation.max]),
        burn_in: if adaptive {
            protocol.allocation.burn_in
        } else {
            0
        },
        precision: protocol
            .precision
            .as_ref()
            .and_then(|p| super::precision::precision_results(p, state, history)),
    })
}
