//! What a precision design adds to the folded state: per stratum the participants enrolled, each
//! arm's conjugate model, the allocation in force and the permuted block; per arm the strata it
//! may enrol, those closed by graduation, the participants randomised (for `max_per_arm`) and
//! the graduations. The fold (`TrialState::apply`) keeps it; nothing here decides anything.

use std::sync::Arc;

use serde::Serialize;

use super::super::events::ArmShare;
use super::super::EngineError;
use crate::protocol::precision::{Precision, StrataSet};
use crate::protocol::Protocol;
use crate::stats::ConjugateModel;

/// An arm's graduation in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Graduated {
    /// The arm (index in the trial's arms).
    pub arm: usize,
    /// The signature (index in the protocol's signatures).
    pub signature: usize,
    /// The look it graduated at.
    pub look: u32,
}

/// The strata of a precision trial (module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrataState {
    /// Number of eligible strata.
    pub count: usize,
    /// The strata each arm may enrol, in arm order.
    pub eligible: Vec<StrataSet>,
    /// The strata each arm no longer enrols because it graduated in a signature holding them.
    pub closed: Vec<StrataSet>,
    /// Each signature's id and strata, in protocol order.
    pub signatures: Vec<(String, StrataSet)>,
    /// Graduations, in the order they happened.
    pub graduated: Vec<Graduated>,
    /// `allocation.max_per_arm`: the most participants an arm other than the protocol's control
    /// receives.
    pub max_per_arm: Option<u32>,
    /// The protocol's control arm (never capped).
    pub protocol_control: Option<usize>,
    /// Participants randomised to each arm.
    pub randomised: Vec<u32>,
    /// Participants enrolled in each stratum.
    pub enrolled: Vec<u32>,
    /// Arm a's model in stratum s at `a * count + s`, with every current outcome.
    pub models: Vec<ConjugateModel>,
    /// The allocation in force in each stratum (adaptive phase; cleared when the arms open
    /// there change).
    pub allocation: Vec<Option<Arc<[ArmShare]>>>,
    /// Whether the stratum has had an allocation update.
    pub updated: Vec<bool>,
    /// Participants of the current permuted block, stratum s and arm a at `s * arms + a`.
    pub block_counts: Vec<u32>,
}

impl StrataState {
    /// The strata of a new trial of `protocol` (whose arms' empty models are `models`).
    pub fn new(protocol: &Protocol, precision: &Precision, models: &[ConjugateModel]) -> Self {
        let count = precision.strata.len();
        let arms = protocol.arms.len();
        Self {
            count,
            eligible: precision.arm_strata.clone(),
            closed: vec![StrataSet::EMPTY; arms],
            signatures: precision
                .signatures
                .iter()
                .map(|g| (g.id.clone(), g.strata))
                .collect(),
            graduated: Vec::new(),
            max_per_arm: precision.max_per_arm,
            protocol_control: protocol.arms.iter().position(|a| a.control),
            randomised: vec![0; arms],
            enrolled: vec![0; count],
            models: models
                .iter()
                .flat_map(|&m| std::iter::repeat_n(m, count))
                .collect(),
            allocation: vec![None; count],
            updated: vec![false; count],
            block_counts: vec![0; count * arms],
        }
    }

    /// Arms in the trial.
    pub fn arms(&self) -> usize {
        self.eligible.len()
    }

    /// Arm `arm`'s model in `stratum`.
    pub fn model(&self, arm: usize, stratum: usize) -> &ConjugateModel {
        &self.models[arm * self.count + stratum]
    }

    /// Whether `arm` has received its `max_per_arm` participants.
    pub fn full(&self, arm: usize) -> bool {
        Some(arm) != self.protocol_control
            && self
                .max_per_arm
                .is_some_and(|max| self.randomised[arm] >= max)
    }

    /// Whether `arm` (active) may receive a participant of `stratum` now: it may enrol there,
    /// has not graduated there and is not full.
    pub fn open(&self, arm: usize, stratum: usize) -> bool {
        self.eligible[arm].contains(stratum)
            && !self.closed[arm].contains(stratum)
            && !self.full(arm)
    }

    /// Forgets the allocation and block of every stratum in `strata` (the arms open there
    /// changed).
    pub fn strata_changed(&mut self, strata: StrataSet) {
        let arms = self.arms();
        for s in strata.iter().filter(|&s| s < self.count) {
            self.allocation[s] = None;
            self.block_counts[s * arms..(s + 1) * arms].fill(0);
        }
    }

    /// Checks a stratum index read from a log.
    pub fn check_stratum(&self, seq: u64, stratum: u32) -> Result<usize, EngineError> {
        let s = stratum as usize;
        if s < self.count {
            Ok(s)
        } else {
            Err(EngineError::Log {
                seq,
                problem: format!("stratum {stratum} is not one of the {} strata", self.count),
            })
        }
    }

    /// A participant randomised to `arm`: when that fills the arm, every stratum it enrolled
    /// changes.
    pub fn randomised(&mut self, arm: usize) {
        let was_full = self.full(arm);
        self.randomised[arm] += 1;
        if !was_full && self.full(arm) {
            self.strata_changed(self.eligible[arm]);
        }
    }

    /// The block counts of `stratum`, one per arm.
    pub fn block_mut(&mut self, stratum: usize) -> &mut [u32] {
        let arms = self.arms();
        &mut self.block_counts[stratum * arms..(stratum + 1) * arms]
    }

    /// The arm graduated in `signature` at `look`: its strata there close.
    pub fn graduate(&mut self, arm: usize, signature: usize, look: u32) {
        let strata = self.signatures[signature]
            .1
            .intersection(self.eligible[arm]);
        self.closed[arm] = self.closed[arm].union(strata);
        self.graduated.push(Graduated {
            arm,
            signature,
            look,
        });
        self.strata_changed(strata);
    }
}
