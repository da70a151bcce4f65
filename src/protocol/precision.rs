//! The precision layer of a validated protocol: biomarkers, the strata (subtypes) they define,
//! which strata each arm may enrol, the signatures (named unions of strata), borrowing across
//! strata and graduation; and, per scenario, the strata's prevalence and each arm's truth per
//! stratum.
//!
//! A stratum is one combination of biomarker levels; the eligible strata are numbered in the
//! order of the combinations (the first biomarker's levels vary slowest), and a set of them is a
//! [`StrataSet`]. Nothing here knows about TOML or spans: `validate::precision` builds these
//! values and the engine reads them without checking again.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::limits::MAX_STRATA;

/// A set of eligible strata, by their index (0 … [`MAX_STRATA`] − 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StrataSet(u64);

impl StrataSet {
    /// No stratum.
    pub const EMPTY: Self = Self(0);

    /// The strata 0 … `count` − 1 (`count` at most [`MAX_STRATA`]).
    pub fn first(count: usize) -> Self {
        match count {
            0 => Self::EMPTY,
            n if n >= MAX_STRATA => Self(u64::MAX),
            n => Self((1u64 << n) - 1),
        }
    }

    /// The set holding `stratum` alone (nothing when it is out of range).
    pub fn single(stratum: usize) -> Self {
        if stratum < MAX_STRATA {
            Self(1u64 << stratum)
        } else {
            Self::EMPTY
        }
    }

    /// Whether `stratum` is in the set.
    pub fn contains(self, stratum: usize) -> bool {
        stratum < MAX_STRATA && self.0 & (1u64 << stratum) != 0
    }

    /// The union.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The intersection.
    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The strata of this set that are not in `other`.
    #[must_use]
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether no stratum is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many strata are in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The strata in the set, increasing.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_STRATA).filter(move |&i| self.contains(i))
    }
}

/// Serialised as the list of its strata's indices.
impl Serialize for StrataSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// One `[[biomarker]]`: a categorical marker measured at enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Biomarker {
    /// Identifier used in selections, the enrolment form, the API and exports (as an arm id:
    /// 1 to 64 ASCII letters, digits, `-` and `_`).
    pub id: String,
    /// Name shown to users.
    pub name: String,
    /// The levels, in the order given (1 to 16, each as an id; one level makes a biomarker
    /// that every participant shares, as in a single-stratum design).
    pub levels: Vec<String>,
}

/// One eligible stratum: a level of every biomarker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stratum {
    /// The level index of each biomarker, in biomarker order.
    pub levels: Vec<usize>,
    /// `HR=pos HER2=neg MP=low`: every biomarker's id and level, in biomarker order.
    pub label: String,
}

/// One `[[signature]]`: a named union of eligible strata in which arms may graduate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// Identifier used in metrics (`ARM/SIGNATURE`), events and exports.
    pub id: String,
    /// Name shown to users.
    pub name: String,
    /// The selections as written, joined by " or ".
    pub written: String,
    /// The eligible strata it covers (never empty).
    pub strata: StrataSet,
}

/// A normal prior N(mean, sd²) on the logit scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogitNormal {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (> 0).
    pub sd: f64,
}

/// `[borrowing]`: how an arm's strata share information.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum Borrowing {
    /// Each arm and stratum has its own conjugate model (the arm's prior).
    None,
    /// Berry et al. (2013): logit pⱼ = θⱼ, θⱼ ~ N(μ, τ²), μ ~ `mu`, τ ~ HalfNormal(`tau_scale`).
    Hierarchical {
        /// Prior of μ.
        mu: LogitNormal,
        /// Scale of τ's half-normal prior.
        tau_scale: f64,
    },
    /// Neuenschwander et al. (2016): each stratum exchangeable with prior probability
    /// `ex_weight` (as the hierarchical model), otherwise θⱼ ~ `nex`.
    Exnex {
        /// Prior of μ.
        mu: LogitNormal,
        /// Scale of τ's half-normal prior.
        tau_scale: f64,
        /// A non-exchangeable stratum's own prior.
        nex: LogitNormal,
        /// Prior probability that a stratum is exchangeable, in (0, 1].
        ex_weight: f64,
    },
}

/// `[graduation]`: when an arm graduates in a signature, or is dropped for futility.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Graduation {
    /// Participants per arm of the future confirmatory trial.
    pub future_n: u32,
    /// Its one-sided significance level.
    pub alpha: f64,
    /// Graduate when the predictive probability of its success reaches this.
    pub threshold: f64,
    /// Drop the arm when that probability is below this in every signature (0: never).
    pub futility: f64,
    /// Neither graduation nor futility before the arm has this many participants.
    pub min_participants: u32,
}

/// The precision layer of a protocol (present when it has `[[biomarker]]` tables).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Precision {
    /// `[[biomarker]]`, in file order.
    pub biomarkers: Vec<Biomarker>,
    /// The eligible strata, in combination order.
    pub strata: Vec<Stratum>,
    /// The strata each arm may enrol, in the order of the protocol's arms (all eligible strata
    /// unless the arm's `strata` key says otherwise).
    pub arm_strata: Vec<StrataSet>,
    /// `[[signature]]`, in file order.
    pub signatures: Vec<Signature>,
    /// `[borrowing]`.
    pub borrowing: Borrowing,
    /// `[graduation]`; without it no arm graduates.
    pub graduation: Option<Graduation>,
    /// `allocation.max_per_arm`: an experimental arm enrols at most this many participants.
    pub max_per_arm: Option<u32>,
}

/// Why a participant's biomarker values give no stratum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StratumRefusal {
    /// A biomarker of the protocol has no value.
    Missing(String),
    /// A value names no biomarker of the protocol.
    UnknownBiomarker(String),
    /// A biomarker's value is not one of its levels.
    UnknownLevel {
        /// The biomarker.
        biomarker: String,
        /// The value given.
        level: String,
        /// The levels it has.
        levels: Vec<String>,
    },
    /// The combination is one the protocol declares ineligible.
    Ineligible(String),
}

impl fmt::Display for StratumRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(id) => write!(f, "biomarker {id:?} has no value"),
            Self::UnknownBiomarker(id) => write!(f, "{id:?} is not a biomarker of this protocol"),
            Self::UnknownLevel {
                biomarker,
                level,
                levels,
            } => write!(
                f,
                "{level:?} is not a level of biomarker {biomarker:?} (its levels: {})",
                levels.join(", ")
            ),
            Self::Ineligible(label) => write!(f, "the combination {label} is not eligible"),
        }
    }
}

impl Precision {
    /// The eligible stratum of a participant with these biomarker values (biomarker id →
    /// level), or why there is none. Every biomarker needs a value and no other key is allowed.
    pub fn stratum_of(&self, values: &BTreeMap<String, String>) -> Result<usize, StratumRefusal> {
        if let Some(unknown) = values
            .keys()
            .find(|key| !self.biomarkers.iter().any(|b| &b.id == *key))
        {
            return Err(StratumRefusal::UnknownBiomarker(unknown.clone()));
        }
        let mut levels = Vec::with_capacity(self.biomarkers.len());
        for biomarker in &self.biomarkers {
            let Some(level) = values.get(&biomarker.id) else {
                return Err(StratumRefusal::Missing(biomarker.id.clone()));
            };
            let Some(index) = biomarker.levels.iter().position(|l| l == level) else {
                return Err(StratumRefusal::UnknownLevel {
                    biomarker: biomarker.id.clone(),
                    level: level.clone(),
                    levels: biomarker.levels.clone(),
                });
            };
            levels.push(index);
        }
        self.strata
            .iter()
            .position(|s| s.levels == levels)
            .ok_or_else(|| StratumRefusal::Ineligible(label_of(&self.biomarkers, &levels)))
    }

    /// The signatures (indices, in protocol order) in which arm `arm` is assessed for
    /// graduation, each with G_a, the strata of the signature where the arm may enrol: every
    /// signature with some such stratum, except that signatures with the same G_a are one
    /// assessment, made in the one with the fewest strata (the first in protocol order among
    /// equals). An arm restricted to HER2-negative subtypes is assessed in "HER2-negative", not
    /// again in "all".
    pub fn assessed_signatures(&self, arm: usize) -> Vec<(usize, StrataSet)> {
        let eligible = self.arm_strata.get(arm).copied().unwrap_or_default();
        let within = |g: &Signature| g.strata.intersection(eligible);
        self.signatures
            .iter()
            .enumerate()
            .filter(|(_, g)| !within(g).is_empty())
            .filter(|&(i, g)| {
                !self.signatures.iter().enumerate().any(|(j, other)| {
                    j != i
                        && within(other) == within(g)
                        && (other.strata.len(), j) < (g.strata.len(), i)
                })
            })
            .map(|(i, g)| (i, within(g)))
            .collect()
    }

    /// The arms (indices into the protocol's arms) that may enrol in `stratum`.
    pub fn arms_in(&self, stratum: usize) -> impl Iterator<Item = usize> + '_ {
        self.arm_strata
            .iter()
            .enumerate()
            .filter(move |(_, set)| set.contains(stratum))
            .map(|(i, _)| i)
    }
}

/// `HR=pos HER2=neg`: each biomarker's id and the level at `levels`, in biomarker order.
pub(crate) fn label_of(biomarkers: &[Biomarker], levels: &[usize]) -> String {
    biomarkers
        .iter()
        .zip(levels)
        .map(|(b, &l)| format!("{}={}", b.id, b.levels.get(l).map_or("?", String::as_str)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A scenario's precision part: how common each eligible stratum is and each arm's truth in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioStrata {
    /// The share of enrolled participants in each eligible stratum (summing to 1).
    pub prevalence: Vec<f64>,
    /// Each arm's true parameter in each eligible stratum, in the order of the protocol's arms:
    /// the scenario's `truth`, overridden by its `[[scenario.subgroup]]` tables in file order.
    pub truth: Vec<Vec<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strata_sets_hold_up_to_sixty_four_strata() {
        let all = StrataSet::first(64);
        assert_eq!(all.len(), 64);
        assert!(all.contains(63) && !all.contains(64));
        let some = StrataSet::single(3).union(StrataSet::single(60));
        assert_eq!(some.iter().collect::<Vec<_>>(), [3, 60]);
        assert_eq!(some.intersection(StrataSet::first(4)), StrataSet::single(3));
        assert!(StrataSet::single(64).is_empty() && StrataSet::first(0).is_empty());
        assert_eq!(serde_json::to_string(&some).ok().as_deref(), Some("[3,60]"));
    }
}
