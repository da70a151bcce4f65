//! The protocol text of an amended version: the current text with the amendment applied.

use super::super::ServiceError;
use super::Amendment;
use crate::protocol::Prior;

/// A prior as the protocol language writes it (`{ beta = [a, b] }`, …).
fn prior_toml(prior: &Prior) -> toml_edit::InlineTable {
    let mut table = toml_edit::InlineTable::new();
    let pair = |a: f64, b: f64| toml_edit::Value::Array(toml_edit::Array::from_iter([a, b]));
    match *prior {
        Prior::Beta { a, b } => {
            table.insert("beta", pair(a, b));
        }
        Prior::Gamma { shape, rate } => {
            table.insert("gamma", pair(shape, rate));
        }
        Prior::NormalInverseGamma {
            mu0,
            kappa0,
            alpha0,
            beta0,
        } => {
            let mut nig = toml_edit::InlineTable::new();
            for (key, value) in [
                ("mu0", mu0),
                ("kappa0", kappa0),
                ("alpha0", alpha0),
                ("beta0", beta0),
            ] {
                nig.insert(key, value.into());
            }
            table.insert("normal_inverse_gamma", toml_edit::Value::InlineTable(nig));
        }
        Prior::Mixture(mixture) => {
            let components = mixture.parts().into_iter().map(|(weight, part)| {
                let mut component = toml_edit::InlineTable::new();
                component.insert("weight", weight.into());
                for (key, value) in prior_toml(&part).iter() {
                    component.insert(key, value.clone());
                }
                toml_edit::Value::InlineTable(component)
            });
            table.insert(
                "mixture",
                toml_edit::Value::Array(toml_edit::Array::from_iter(components)),
            );
        }
    }
    table
}

/// The protocol text of the next version: the current text with the amendment applied. An
/// added arm carries its prior, and every `[[scenario]]` truth gives it the `reference` arm's
/// value (the control's, else the first arm's: no effect) so the version stays valid.
pub(super) fn amended_text(
    source: &str,
    amendment: &Amendment,
    prior: Option<&Prior>,
    reference: Option<&str>,
) -> Result<String, ServiceError> {
    let mut document: toml_edit::DocumentMut = source
        .parse()
        .map_err(|e| ServiceError::Integrity(format!("stored protocol: {e}")))?;
    match amendment {
        Amendment::AddArm { id, name, ratio } => {
            let mut arm = toml_edit::Table::new();
            arm.insert("id", toml_edit::value(id.to_string()));
            arm.insert("name", toml_edit::value(name.clone()));
            if *ratio != 1 {
                arm.insert("ratio", toml_edit::value(i64::from(*ratio)));
            }
            if let Some(prior) = prior {
                arm.insert(
                    "prior",
                    toml_edit::Item::Value(toml_edit::Value::InlineTable(prior_toml(prior))),
                );
            }
            if let (Some(reference), Some(scenarios)) = (
                reference,
                document
                    .get_mut("scenario")
                    .and_then(|s| s.as_array_of_tables_mut()),
            ) {
                for scenario in scenarios.iter_mut() {
                    let Some(truth) = scenario.get_mut("truth") else {
                        continue;
                    };
                    let value = truth.get(reference).and_then(|v| v.as_value()).cloned();
                    if let (Some(value), Some(table)) = (value, truth.as_table_like_mut()) {
                        table.insert(id.as_str(), toml_edit::Item::Value(value));
                    }
                    // `{ a = 0.3, b = 0.3 , new = 0.3}` otherwise: the reviewer reads this line.
                    if let Some(inline) = truth.as_inline_table_mut() {
                        inline.fmt();
                    }
                }
            }
            match document
                .get_mut("arm")
                .and_then(|a| a.as_array_of_tables_mut())
            {
                Some(arms) => arms.push(arm),
                None => {
                    return Err(ServiceError::Integrity(
                        "stored protocol has no [[arm]] tables".into(),
                    ))
                }
            }
        }
        Amendment::MaxParticipants(to) => {
            document["trial"]["max_participants"] = toml_edit::value(i64::from(*to));
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ArmId, Protocol};

    #[test]
    fn an_added_arm_keeps_every_shipped_protocol_valid() {
        for name in [
            "platform-binary-4arm.toml",
            "three-arm-pbest.toml",
            "count-rates.toml",
            "continuous-2arm.toml",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("protocols")
                .join(name);
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            let protocol =
                Protocol::from_toml(&source, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let prior = protocol.arms.iter().find(|a| !a.control).map(|a| a.prior);
            let reference = protocol
                .control()
                .or_else(|| protocol.arms.first())
                .map(|a| a.id.to_string());
            let amendment = Amendment::AddArm {
                id: ArmId::parse("new-arm").unwrap_or_else(|e| panic!("{e}")),
                name: "New arm".into(),
                ratio: 1,
            };
            let text = amended_text(&source, &amendment, prior.as_ref(), reference.as_deref())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let amended = Protocol::from_toml(&text, name)
                .unwrap_or_else(|e| panic!("{name} amended is invalid: {e}\n{text}"));
            let added = amended
                .arms
                .iter()
                .find(|a| a.id.as_str() == "new-arm")
                .unwrap_or_else(|| panic!("{name}: the arm is in the new version"));
            assert_eq!(Some(added.prior), prior, "{name}: the prior is stated");
            for scenario in &amended.scenarios {
                assert!(
                    scenario.truth.keys().any(|k| k.as_str() == "new-arm"),
                    "{name}: scenario {} gives the new arm a truth",
                    scenario.name
                );
            }
        }
    }
}
