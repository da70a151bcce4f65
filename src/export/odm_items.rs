//! The metadata of an ODM export for a trial's design: its items (with their data types and
//! code lists), the item groups and the forms that hold them (enrolment, with the biomarkers and
//! stratum of a precision design; randomisation or the n-of-1 periods; outcomes or
//! measurements).

use crate::protocol::OutcomeKind;

/// An item of the metadata.
pub(super) struct ItemDef {
    pub(super) oid: &'static str,
    pub(super) name: &'static str,
    pub(super) data_type: &'static str,
    pub(super) description: String,
    pub(super) code_list: Option<&'static str>,
}

fn item(
    oid: &'static str,
    name: &'static str,
    data_type: &'static str,
    description: impl Into<String>,
    code_list: Option<&'static str>,
) -> ItemDef {
    ItemDef {
        oid,
        name,
        data_type,
        description: description.into(),
        code_list,
    }
}

fn outcome_item_defs(kind: OutcomeKind, name: &str) -> Vec<ItemDef> {
    match kind {
        OutcomeKind::Binary => vec![item(
            "IT.RESPONSE",
            "Response",
            "integer",
            format!("{name}: 1 response, 0 no response"),
            Some("CL.RESPONSE"),
        )],
        OutcomeKind::Continuous => vec![item("IT.VALUE", "Value", "float", name, None)],
        OutcomeKind::Count => vec![
            item(
                "IT.EVENTS",
                "Events",
                "integer",
                format!("{name}: number of events"),
                None,
            ),
            item(
                "IT.EXPOSURE",
                "Exposure",
                "float",
                format!("{name}: exposure (time at risk)"),
                None,
            ),
        ],
    }
}

/// What the metadata holds for the trial's design, outcome and blinding.
pub(super) struct Layout {
    pub(super) nof1: bool,
    pub(super) adaptive_probabilities: bool,
    pub(super) unblinded: bool,
    pub(super) kind: OutcomeKind,
    pub(super) outcome_name: String,
    /// Precision designs: each stratum's label, by index.
    pub(super) strata: Option<Vec<String>>,
}

impl Layout {
    pub(super) fn items(&self) -> Vec<ItemDef> {
        let mut items = vec![item(
            "IT.PARTICIPANT",
            "Participant number",
            "integer",
            "The participant's number: 0-based, in enrolment order",
            None,
        )];
        if self.strata.is_some() {
            items.push(item(
                "IT.BIOMARKERS",
                "Biomarkers",
                "text",
                "The participant's biomarker values as entered, id=level, in the order of the ids",
                None,
            ));
            items.push(item(
                "IT.STRATUM",
                "Stratum",
                "text",
                "The subtype the engine read from the biomarker values: each biomarker's id and \
                 level, in the protocol's order",
                None,
            ));
        }
        if self.nof1 {
            items.push(item(
                "IT.START_DATE",
                "Start date",
                "date",
                "The calendar date of the patient's study day 1",
                None,
            ));
            items.push(item(
                "IT.PERIOD",
                "Period",
                "integer",
                "Treatment period (1-based)",
                None,
            ));
            items.push(item(
                "IT.CYCLE",
                "Cycle",
                "integer",
                "Cycle of the period (1-based)",
                None,
            ));
            items.push(item(
                "IT.TREATMENT",
                "Treatment",
                "text",
                "The period's treatment, drawn from the trial seed",
                Some("CL.ARM"),
            ));
            if self.unblinded && self.adaptive_probabilities {
                items.push(item(
                    "IT.ALLOC_PROB",
                    "Allocation probability",
                    "float",
                    "Adaptive cycles: the probability the period's treatment was drawn with",
                    None,
                ));
            }
            items.push(item(
                "IT.DAY",
                "Study day",
                "integer",
                "Study day of the measurement (1 is the start date)",
                None,
            ));
        } else {
            items.push(item(
                "IT.ARM",
                "Randomised arm",
                "text",
                "The arm the participant was randomised to",
                Some("CL.ARM"),
            ));
            if self.unblinded {
                items.push(item(
                    "IT.ALLOC_PROB",
                    "Allocation probability",
                    "float",
                    "The probability of the assigned arm at randomisation",
                    None,
                ));
            }
        }
        items.extend(outcome_item_defs(self.kind, &self.outcome_name));
        items
    }

    /// (group OID, name, repeating, item OIDs), and the form that holds it.
    pub(super) fn groups(
        &self,
    ) -> Vec<(
        &'static str,
        &'static str,
        &'static str,
        bool,
        Vec<&'static str>,
    )> {
        let values: Vec<&'static str> = outcome_item_defs(self.kind, "")
            .iter()
            .map(|i| i.oid)
            .collect();
        let mut enrolment = vec!["IT.PARTICIPANT"];
        if self.strata.is_some() {
            enrolment.extend(["IT.BIOMARKERS", "IT.STRATUM"]);
        }
        if self.nof1 {
            enrolment.push("IT.START_DATE");
            let mut period = vec!["IT.PERIOD", "IT.CYCLE", "IT.TREATMENT"];
            if self.unblinded && self.adaptive_probabilities {
                period.push("IT.ALLOC_PROB");
            }
            let mut measurement = vec!["IT.DAY"];
            measurement.extend(values);
            vec![
                ("F.ENROLMENT", "IG.ENROLMENT", "Enrolment", false, enrolment),
                ("F.SCHEDULE", "IG.PERIOD", "Treatment period", true, period),
                (
                    "F.MEASUREMENTS",
                    "IG.MEASUREMENT",
                    "Measurement",
                    true,
                    measurement,
                ),
            ]
        } else {
            let mut randomisation = vec!["IT.ARM"];
            if self.unblinded {
                randomisation.push("IT.ALLOC_PROB");
            }
            vec![
                ("F.ENROLMENT", "IG.ENROLMENT", "Enrolment", false, enrolment),
                (
                    "F.RANDOMISATION",
                    "IG.RANDOMISATION",
                    "Randomisation",
                    false,
                    randomisation,
                ),
                ("F.OUTCOME", "IG.OUTCOME", "Outcome", false, values),
            ]
        }
    }
}

pub(super) fn form_name(oid: &str) -> &'static str {
    match oid {
        "F.ENROLMENT" => "Enrolment",
        "F.RANDOMISATION" => "Randomisation",
        "F.OUTCOME" => "Outcome",
        "F.SCHEDULE" => "Treatment schedule",
        _ => "Measurements",
    }
}
