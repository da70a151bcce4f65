//! The protocol document as read from TOML, before any semantic check.
//!
//! These structs mirror the file one to one: `deny_unknown_fields` everywhere, so a misspelt key
//! is an error naming the valid keys, and `Spanned` on every value that is checked later, so the
//! check can point at it. Values that may take several shapes (a number or a string, a number or
//! an array, a number or a table) are read as [`Value`], a TOML value with spans all the way down,
//! and interpreted in `validate`.
//! Integers are read as `i64` so that a negative or zero count gets a message saying what is
//! allowed instead of a type error.
//!
//! Also here: [`Node`], a shape-only reading of any TOML document with spans, used to name the
//! key path of an error that the TOML reader reports with a span only.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A spanned value.
pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a protocol document")]
pub(crate) struct RawProtocol {
    pub trial: S<RawTrial>,
    pub outcome: S<RawOutcome>,
    pub prior: Option<S<RawPrior>>,
    pub arm: Option<S<Vec<S<RawArm>>>>,
    pub allocation: Option<S<RawAllocation>>,
    pub analysis: Option<S<RawAnalysis>>,
    pub decision: Option<S<RawDecision>>,
    pub nof1: Option<S<RawNof1>>,
    pub scenario: Option<S<Vec<S<RawScenario>>>>,
    pub biomarker: Option<S<Vec<S<RawBiomarker>>>>,
    pub strata: Option<S<RawStrata>>,
    pub signature: Option<S<Vec<S<RawSignature>>>>,
    pub borrowing: Option<S<RawBorrowing>>,
    pub graduation: Option<S<RawGraduation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[biomarker]] table")]
pub(crate) struct RawBiomarker {
    pub id: S<String>,
    pub name: Option<S<String>>,
    pub levels: S<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [strata] table")]
pub(crate) struct RawStrata {
    pub ineligible: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[signature]] table")]
pub(crate) struct RawSignature {
    pub id: S<String>,
    pub name: Option<S<String>>,
    pub strata: S<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [borrowing] table")]
pub(crate) struct RawBorrowing {
    pub model: S<String>,
    pub mu_prior: Option<S<Vec<S<f64>>>>,
    pub tau_prior: Option<S<f64>>,
    pub nex_prior: Option<S<Vec<S<f64>>>>,
    pub ex_weight: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [graduation] table")]
pub(crate) struct RawGraduation {
    pub future_n: S<i64>,
    pub alpha: Option<S<f64>>,
    pub threshold: S<f64>,
    pub futility: Option<S<f64>>,
    pub min_participants: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { strata = \"…\", share = … }"
)]
pub(crate) struct RawPrevalence {
    pub strata: S<String>,
    pub share: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[scenario.subgroup]] table")]
pub(crate) struct RawSubgroup {
    pub strata: S<String>,
    pub truth: S<BTreeMap<S<String>, S<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [trial] table")]
pub(crate) struct RawTrial {
    pub id: S<String>,
    pub title: S<String>,
    pub design: S<String>,
    pub max_participants: S<i64>,
    pub blinded: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [outcome] table")]
pub(crate) struct RawOutcome {
    pub kind: S<String>,
    pub name: S<String>,
    pub better: Option<S<String>>,
    pub min: Option<S<f64>>,
    pub max: Option<S<f64>>,
    pub labels: Option<S<RawLabels>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { response = \"…\", no_response = \"…\" }"
)]
pub(crate) struct RawLabels {
    pub response: S<String>,
    pub no_response: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a prior table such as { beta = [1.0, 1.0] }"
)]
pub(crate) struct RawPrior {
    pub beta: Option<S<Vec<S<f64>>>>,
    pub normal_inverse_gamma: Option<S<RawNormalInverseGamma>>,
    pub gamma: Option<S<Vec<S<f64>>>>,
    /// A mixture's components: each a prior table of one family with its `weight`.
    pub mixture: Option<S<Vec<S<RawPrior>>>>,
    /// A mixture component's weight (only inside `mixture`).
    pub weight: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { mu0, kappa0, alpha0, beta0 }"
)]
pub(crate) struct RawNormalInverseGamma {
    pub mu0: S<f64>,
    pub kappa0: S<f64>,
    pub alpha0: S<f64>,
    pub beta0: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[arm]] table")]
pub(crate) struct RawArm {
    pub id: S<String>,
    pub name: Option<S<String>>,
    pub control: Option<S<bool>>,
    pub prior: Option<S<RawPrior>>,
    pub opens_at: Option<S<i64>>,
    pub ratio: Option<S<i64>>,
    /// The strata the arm may enrol (precision designs), as selections.
    pub strata: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [allocation] table")]
pub(crate) struct RawAllocation {
    pub rule: Option<S<String>>,
    pub power: Option<S<Value>>,
    pub control: Option<S<Value>>,
    pub min: Option<S<f64>>,
    pub max: Option<S<f64>>,
    pub burn_in: Option<S<i64>>,
    pub block_multiple: Option<S<i64>>,
    pub max_per_arm: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [analysis] table")]
pub(crate) struct RawAnalysis {
    pub looks: Option<S<Value>>,
    pub controls: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [decision] table")]
pub(crate) struct RawDecision {
    pub superiority: Option<S<Value>>,
    pub inferiority: Option<S<Value>>,
    pub futility: Option<S<RawFutility>>,
    pub equivalence: Option<S<RawEquivalence>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { delta, below }")]
pub(crate) struct RawFutility {
    pub delta: Option<S<f64>>,
    pub below: S<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { delta, above }")]
pub(crate) struct RawEquivalence {
    pub delta: S<f64>,
    pub above: S<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [nof1] table")]
pub(crate) struct RawNof1 {
    pub treatments: S<Vec<S<String>>>,
    pub cycles: S<i64>,
    pub period_days: S<i64>,
    pub washout_days: Option<S<i64>>,
    pub run_in_days: Option<S<i64>>,
    pub measurements_per_period: Option<S<i64>>,
    pub sequence: Option<S<String>>,
    pub mcid: Option<S<f64>>,
    pub stop_benefit: Option<S<f64>>,
    pub stop_equivalence: Option<S<f64>>,
    pub min_cycles: Option<S<i64>>,
    pub ar1: Option<S<bool>>,
    pub power: Option<S<f64>>,
    pub min_probability: Option<S<f64>>,
    pub tau_scale: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[scenario]] table")]
pub(crate) struct RawScenario {
    pub name: S<String>,
    pub truth: S<BTreeMap<S<String>, S<f64>>>,
    pub sd: Option<S<f64>>,
    pub accrual_per_week: S<f64>,
    pub outcome_delay_weeks: Option<S<Value>>,
    pub dropout: Option<S<f64>>,
    pub prevalence: Option<S<Vec<S<RawPrevalence>>>>,
    pub subgroup: Option<S<Vec<S<RawSubgroup>>>>,
}

/// Any TOML value, with the span of every nested value (not of keys).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Datetime(String),
    Array(Vec<S<Value>>),
    Table(Vec<(String, S<Value>)>),
}

impl Value {
    /// "a string", "an integer", … for messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Self::Bool(_) => "a boolean",
            Self::Integer(_) => "an integer",
            Self::Float(_) => "a float",
            Self::String(_) => "a string",
            Self::Datetime(_) => "a datetime",
            Self::Array(_) => "an array",
            Self::Table(_) => "a table",
        }
    }

    /// The value as a number, integers included.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Integer(i) => Some(*i as f64),
            Self::Float(x) => Some(*x),
            _ => None,
        }
    }
}

/// The key under which the TOML reader hands a datetime to a visitor.
const DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<S<Value>>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == DATETIME_KEY {
                return Ok(Value::Datetime(map.next_value::<String>()?));
            }
            let value = map.next_value::<S<Value>>()?;
            entries.push((key, value));
        }
        Ok(Value::Table(entries))
    }
}

/// The shape of a TOML document with the span of every key and value, and nothing else.
#[derive(Debug)]
pub(crate) enum Node {
    /// A string, number, boolean or datetime.
    Leaf,
    /// An array.
    Array(Vec<S<Node>>),
    /// A table: keys with their spans, in file order.
    Table(Vec<(S<String>, S<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<S<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<S<String>>()? {
            let value = map.next_value::<S<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Table(entries))
    }
}

/// The key path of the innermost key or value of `root` whose span contains `offset`, e.g.
/// `arm[1].prior.beta`; empty when the offset is outside every key.
pub(crate) fn key_path_at(root: &Node, offset: usize) -> String {
    let mut path = String::new();
    let mut node = root;
    loop {
        match node {
            Node::Leaf => return path,
            Node::Array(items) => {
                let Some((index, item)) = items
                    .iter()
                    .enumerate()
                    .find(|(_, item)| item.span().contains(&offset))
                else {
                    return path;
                };
                path.push_str(&format!("[{index}]"));
                node = item.get_ref();
            }
            Node::Table(entries) => {
                let Some((key, value)) = entries.iter().find(|(key, value)| {
                    key.span().contains(&offset) || value.span().contains(&offset)
                }) else {
                    return path;
                };
                push_key(&mut path, key.get_ref());
                if key.span().contains(&offset) {
                    return path;
                }
                node = value.get_ref();
            }
        }
    }
}

/// Appends `.key` (or `key` at the start), quoting keys that are not bare TOML keys.
pub(crate) fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

/// `parent.key`.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let mut path = parent.to_owned();
    push_key(&mut path, key);
    path
}
