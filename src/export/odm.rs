//! CDISC ODM 1.3.2, `FileType="Transactional"`, written with quick-xml.
//!
//! - `Study`: `GlobalVariables` (trial id, title) and one `MetaDataVersion` per protocol
//!   version (`MDV.1`, `MDV.2`, …), each describing the protocol: one study event `SE.TRIAL`
//!   with its forms, item groups and items — enrolment (participant number; the n-of-1 start
//!   date), the randomised arm (platform) or each period's treatment (n-of-1) with the arms as
//!   a `CodeList`, the allocation probability (unblinded exports only), and the outcome values
//!   or n-of-1 measurements (study day and value) for the protocol's outcome kind.
//! - `AdminData`: a `User` for every actor and signer, one `Location` (the server, which every
//!   site enters data through), and a `SignatureDef` for each meaning of an electronic
//!   signature (authorship, approval, review).
//! - `ClinicalData` (against the latest version): one `SubjectData` per participant with
//!   `ItemData` for every value, each carrying an `AuditRecord` (`UserRef`, `LocationRef`,
//!   `DateTimeStamp` in UTC with its `Z`, `ReasonForChange` on corrections, and `SourceID`: the
//!   SHA-256 hash of the audit record that holds the value). A corrected value appears as
//!   repeated transactions in time order: the first in an `ItemGroupData` with
//!   `TransactionType="Insert"`, each correction in another with `"Update"`. The electronic
//!   signatures of the protocol versions (on the system chain) are `Signature` elements under
//!   `Signatures`, each preceded by a comment naming the version and hash it is bound to.

use std::collections::BTreeMap;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::facts::{events, facts, Valued};
use super::odm_items::{form_name, Layout};
use super::{ExportError, TrialExport};
use crate::audit::{signatures_of, AuditError, AuditRecord, ElectronicSignature};
use crate::engine::history::{Assigned, Subject};
use crate::engine::OutcomeValue;
use crate::protocol::{Design, LoadedProtocol, OutcomeKind};

const LOCATION: &str = "LOC.SERVER";
const MEANINGS: [(&str, &str, &str); 3] = [
    (
        "authorship",
        "SD.AUTHORSHIP",
        "Authorship: I wrote this protocol version",
    ),
    (
        "approval",
        "SD.APPROVAL",
        "Approval: I approve this protocol version",
    ),
    (
        "review",
        "SD.REVIEW",
        "Review: I have reviewed this protocol version",
    ),
];

/// Characters XML 1.0 cannot hold are dropped.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

struct Xml {
    w: Writer<Vec<u8>>,
}

type Attrs<'a> = &'a [(&'a str, &'a str)];

impl Xml {
    fn fail(e: impl std::fmt::Display) -> ExportError {
        ExportError::write("ODM file", e)
    }

    fn element(name: &str, attrs: Attrs<'_>) -> BytesStart<'static> {
        let mut start = BytesStart::new(name.to_owned());
        for (key, value) in attrs {
            start.push_attribute((*key, clean(value).as_str()));
        }
        start
    }

    fn start(&mut self, name: &str, attrs: Attrs<'_>) -> Result<(), ExportError> {
        self.w
            .write_event(Event::Start(Self::element(name, attrs)))
            .map_err(Self::fail)
    }

    fn end(&mut self, name: &str) -> Result<(), ExportError> {
        self.w
            .write_event(Event::End(BytesEnd::new(name)))
            .map_err(Self::fail)
    }

    fn empty(&mut self, name: &str, attrs: Attrs<'_>) -> Result<(), ExportError> {
        self.w
            .write_event(Event::Empty(Self::element(name, attrs)))
            .map_err(Self::fail)
    }

    fn text(&mut self, name: &str, attrs: Attrs<'_>, text: &str) -> Result<(), ExportError> {
        self.start(name, attrs)?;
        self.w
            .write_event(Event::Text(BytesText::new(&clean(text))))
            .map_err(Self::fail)?;
        self.end(name)
    }

    fn comment(&mut self, text: &str) -> Result<(), ExportError> {
        let text = format!(" {} ", clean(text).replace("--", "- -"));
        self.w
            .write_event(Event::Comment(BytesText::new(&text)))
            .map_err(Self::fail)
    }

    /// `<Description><TranslatedText xml:lang="en">…</TranslatedText></Description>`.
    fn description(&mut self, text: &str) -> Result<(), ExportError> {
        self.start("Description", &[])?;
        self.text("TranslatedText", &[("xml:lang", "en")], text)?;
        self.end("Description")
    }
}

/// The value items of an outcome kind, with the (OID, value) pairs of one value.
fn value_items(value: &OutcomeValue) -> Vec<(&'static str, String)> {
    match value {
        OutcomeValue::Binary { response } => {
            vec![("IT.RESPONSE", u8::from(*response).to_string())]
        }
        OutcomeValue::Continuous { value } => vec![("IT.VALUE", format!("{value}"))],
        OutcomeValue::Count { events, exposure } => vec![
            ("IT.EVENTS", events.to_string()),
            ("IT.EXPOSURE", format!("{exposure}")),
        ],
    }
}

fn metadata_version(
    xml: &mut Xml,
    layout: &Layout,
    version: &super::ProtocolText,
    loaded: &LoadedProtocol,
    extra_arms: &[String],
) -> Result<(), ExportError> {
    let oid = format!("MDV.{}", version.version);
    let name = format!("Protocol version {}", version.version);
    let description = format!(
        "Protocol hash (SHA-256 of its canonical form) {}; {}",
        version.hash, version.note
    );
    xml.start(
        "MetaDataVersion",
        &[
            ("OID", &oid),
            ("Name", &name),
            ("Description", &description),
        ],
    )?;
    let p = &loaded.protocol;
    xml.start("Protocol", &[])?;
    xml.description(&format!(
        "{} ({} design, {} outcome \"{}\", at most {} participants)",
        p.trial.title,
        match p.trial.design {
            Design::Platform => "platform",
            Design::Nof1 => "n-of-1",
        },
        match p.outcome.kind {
            OutcomeKind::Binary => "binary",
            OutcomeKind::Continuous => "continuous",
            OutcomeKind::Count => "count",
        },
        p.outcome.name,
        p.trial.max_participants
    ))?;
    xml.empty(
        "StudyEventRef",
        &[
            ("StudyEventOID", "SE.TRIAL"),
            ("OrderNumber", "1"),
            ("Mandatory", "Yes"),
        ],
    )?;
    xml.end("Protocol")?;
    let groups = layout.groups();
    xml.start(
        "StudyEventDef",
        &[
            ("OID", "SE.TRIAL"),
            ("Name", "Trial participation"),
            ("Repeating", "No"),
            ("Type", "Common"),
        ],
    )?;
    for (i, (form, ..)) in groups.iter().enumerate() {
        let order = (i + 1).to_string();
        xml.empty(
            "FormRef",
            &[
                ("FormOID", form),
                ("OrderNumber", &order),
                ("Mandatory", if i == 0 { "Yes" } else { "No" }),
            ],
        )?;
    }
    xml.end("StudyEventDef")?;
    for (form, group, ..) in &groups {
        xml.start(
            "FormDef",
            &[
                ("OID", form),
                ("Name", form_name(form)),
                ("Repeating", "No"),
            ],
        )?;
        xml.empty(
            "ItemGroupRef",
            &[
                ("ItemGroupOID", group),
                ("OrderNumber", "1"),
                ("Mandatory", "Yes"),
            ],
        )?;
        xml.end("FormDef")?;
    }
    for (_, group, name, repeating, items) in &groups {
        xml.start(
            "ItemGroupDef",
            &[
                ("OID", group),
                ("Name", name),
                ("Repeating", if *repeating { "Yes" } else { "No" }),
            ],
        )?;
        for (i, oid) in items.iter().enumerate() {
            let order = (i + 1).to_string();
            xml.empty(
                "ItemRef",
                &[
                    ("ItemOID", oid),
                    ("OrderNumber", &order),
                    ("Mandatory", "No"),
                ],
            )?;
        }
        xml.end("ItemGroupDef")?;
    }
    let items = layout.items();
    for def in &items {
        xml.start(
            "ItemDef",
            &[
                ("OID", def.oid),
                ("Name", def.name),
                ("DataType", def.data_type),
            ],
        )?;
        xml.description(&def.description)?;
        if let Some(list) = def.code_list {
            xml.empty("CodeListRef", &[("CodeListOID", list)])?;
        }
        xml.end("ItemDef")?;
    }
    if items.iter().any(|i| i.code_list == Some("CL.ARM")) {
        xml.start(
            "CodeList",
            &[("OID", "CL.ARM"), ("Name", "Arms"), ("DataType", "text")],
        )?;
        let mut listed: Vec<String> = Vec::new();
        let arms = p
            .arms
            .iter()
            .map(|a| (a.id.to_string(), a.name.clone(), a.control))
            .chain(extra_arms.iter().map(|a| (a.clone(), a.clone(), false)));
        for (i, (id, name, control)) in arms.enumerate() {
            if listed.contains(&id) {
                continue;
            }
            let order = (i + 1).to_string();
            xml.start(
                "CodeListItem",
                &[("CodedValue", &id), ("OrderNumber", &order)],
            )?;
            xml.start("Decode", &[])?;
            let label = if control {
                format!("{name} (control)")
            } else {
                name
            };
            xml.text("TranslatedText", &[("xml:lang", "en")], &label)?;
            xml.end("Decode")?;
            xml.end("CodeListItem")?;
            listed.push(id);
        }
        xml.end("CodeList")?;
    }
    if layout.kind == OutcomeKind::Binary {
        xml.start(
            "CodeList",
            &[
                ("OID", "CL.RESPONSE"),
                ("Name", "Response"),
                ("DataType", "integer"),
            ],
        )?;
        for (value, label) in [("1", "Response"), ("0", "No response")] {
            xml.start("CodeListItem", &[("CodedValue", value)])?;
            xml.start("Decode", &[])?;
            xml.text("TranslatedText", &[("xml:lang", "en")], label)?;
            xml.end("Decode")?;
            xml.end("CodeListItem")?;
        }
        xml.end("CodeList")?;
    }
    xml.end("MetaDataVersion")
}

fn user_oid(actor: &str) -> String {
    format!("USR.{actor}")
}

fn audit_record(
    xml: &mut Xml,
    record: &AuditRecord,
    reason: Option<&str>,
) -> Result<(), ExportError> {
    xml.start("AuditRecord", &[])?;
    xml.empty("UserRef", &[("UserOID", &user_oid(&record.actor))])?;
    xml.empty("LocationRef", &[("LocationOID", LOCATION)])?;
    xml.text("DateTimeStamp", &[], record.recorded_at.as_str())?;
    if let Some(reason) = reason.or(record.reason.as_deref()) {
        xml.text("ReasonForChange", &[], reason)?;
    }
    xml.text("SourceID", &[], &record.hash.to_hex())?;
    xml.end("AuditRecord")
}

fn item_data(
    xml: &mut Xml,
    oid: &str,
    value: &str,
    transaction: &str,
    record: &AuditRecord,
    reason: Option<&str>,
) -> Result<(), ExportError> {
    xml.start(
        "ItemData",
        &[
            ("ItemOID", oid),
            ("Value", value),
            ("TransactionType", transaction),
        ],
    )?;
    audit_record(xml, record, reason)?;
    xml.end("ItemData")
}

/// An item group holding one value (or a correction) with its transaction type.
fn value_group(
    xml: &mut Xml,
    group: &str,
    repeat: Option<&str>,
    leading: &[(&str, String)],
    entry: &Valued<&AuditRecord>,
) -> Result<(), ExportError> {
    let transaction = if entry.corrects.is_some() {
        "Update"
    } else {
        "Insert"
    };
    let mut attrs: Vec<(&str, &str)> = vec![("ItemGroupOID", group)];
    if let Some(key) = repeat {
        attrs.push(("ItemGroupRepeatKey", key));
    }
    attrs.push(("TransactionType", transaction));
    xml.start("ItemGroupData", &attrs)?;
    if entry.corrects.is_none() {
        for (oid, value) in leading {
            item_data(xml, oid, value, "Insert", entry.record, None)?;
        }
    }
    for (oid, value) in value_items(&entry.value) {
        item_data(
            xml,
            oid,
            &value,
            transaction,
            entry.record,
            entry.reason.as_deref(),
        )?;
    }
    xml.end("ItemGroupData")
}

fn assignment_items(a: &Assigned<&AuditRecord>, layout: &Layout) -> Vec<(&'static str, String)> {
    let mut items = Vec::new();
    if layout.nof1 {
        items.push(("IT.PERIOD", a.period.unwrap_or(0).to_string()));
        items.push(("IT.CYCLE", a.cycle.unwrap_or(0).to_string()));
        items.push(("IT.TREATMENT", a.arm.clone()));
    } else {
        items.push(("IT.ARM", a.arm.clone()));
    }
    if layout.unblinded && (!layout.nof1 || layout.adaptive_probabilities) {
        if let Some(p) = a.probability {
            items.push(("IT.ALLOC_PROB", format!("{p}")));
        }
    }
    items
}

fn subject_data(
    xml: &mut Xml,
    s: &Subject<&AuditRecord>,
    layout: &Layout,
) -> Result<(), ExportError> {
    xml.start(
        "SubjectData",
        &[("SubjectKey", &s.subject_id), ("TransactionType", "Insert")],
    )?;
    audit_record(xml, s.enrolled, None)?;
    xml.start(
        "StudyEventData",
        &[("StudyEventOID", "SE.TRIAL"), ("TransactionType", "Insert")],
    )?;

    xml.start(
        "FormData",
        &[("FormOID", "F.ENROLMENT"), ("TransactionType", "Insert")],
    )?;
    xml.start(
        "ItemGroupData",
        &[
            ("ItemGroupOID", "IG.ENROLMENT"),
            ("TransactionType", "Insert"),
        ],
    )?;
    item_data(
        xml,
        "IT.PARTICIPANT",
        &s.participant.to_string(),
        "Insert",
        s.enrolled,
        None,
    )?;
    if let Some(values) = &s.biomarkers {
        item_data(
            xml,
            "IT.BIOMARKERS",
            &values.words(),
            "Insert",
            s.enrolled,
            None,
        )?;
    }
    let label = layout
        .strata
        .as_ref()
        .zip(s.stratum)
        .and_then(|(labels, stratum)| labels.get(stratum as usize));
    if let Some(label) = label {
        item_data(xml, "IT.STRATUM", label, "Insert", s.enrolled, None)?;
    }
    if let Some(date) = &s.start_date {
        item_data(xml, "IT.START_DATE", date, "Insert", s.enrolled, None)?;
    }
    xml.end("ItemGroupData")?;
    xml.end("FormData")?;

    let (assign_form, assign_group, value_form, value_group_oid) = if layout.nof1 {
        (
            "F.SCHEDULE",
            "IG.PERIOD",
            "F.MEASUREMENTS",
            "IG.MEASUREMENT",
        )
    } else {
        (
            "F.RANDOMISATION",
            "IG.RANDOMISATION",
            "F.OUTCOME",
            "IG.OUTCOME",
        )
    };
    if !s.assignments.is_empty() {
        xml.start(
            "FormData",
            &[("FormOID", assign_form), ("TransactionType", "Insert")],
        )?;
        for a in &s.assignments {
            let key = a.period.map(|p| p.to_string());
            let mut attrs: Vec<(&str, &str)> = vec![("ItemGroupOID", assign_group)];
            if let Some(key) = &key {
                attrs.push(("ItemGroupRepeatKey", key));
            }
            attrs.push(("TransactionType", "Insert"));
            xml.start("ItemGroupData", &attrs)?;
            for (oid, value) in assignment_items(a, layout) {
                item_data(xml, oid, &value, "Insert", a.record, None)?;
            }
            xml.end("ItemGroupData")?;
        }
        xml.end("FormData")?;
    }
    let has_values = if layout.nof1 {
        !s.days.is_empty()
    } else {
        !s.outcomes.is_empty()
    };
    if has_values {
        xml.start(
            "FormData",
            &[("FormOID", value_form), ("TransactionType", "Insert")],
        )?;
        if layout.nof1 {
            for d in &s.days {
                let key = d.day.to_string();
                for entry in &d.values {
                    value_group(
                        xml,
                        value_group_oid,
                        Some(&key),
                        &[("IT.DAY", key.clone())],
                        entry,
                    )?;
                }
            }
        } else {
            for entry in &s.outcomes {
                value_group(xml, value_group_oid, None, &[], entry)?;
            }
        }
        xml.end("FormData")?;
    }
    xml.end("StudyEventData")?;
    xml.end("SubjectData")
}

/// Who signed: the signature's user name (the record's actor should it be blank).
fn signer_of<'a>(record: &'a AuditRecord, signature: &'a ElectronicSignature) -> &'a str {
    if signature.username.is_empty() {
        &record.actor
    } else {
        &signature.username
    }
}

/// Writes the ODM file (module docs).
pub(crate) fn write(export: &TrialExport) -> Result<Vec<u8>, ExportError> {
    let events = events(&export.trial_records)?;
    let facts = facts(export, &events)?;
    let versions: Vec<(&super::ProtocolText, LoadedProtocol)> = export
        .protocols
        .iter()
        .map(|p| {
            LoadedProtocol::from_toml(&p.source, &format!("protocol version {}", p.version))
                .map(|loaded| (p, loaded))
                .map_err(|e| ExportError::Protocol {
                    version: p.version,
                    problem: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let Some((latest, current)) = versions.last() else {
        return Err(ExportError::Empty(format!(
            "trial {} has no protocol version",
            export.trial_id
        )));
    };
    let p = &current.protocol;
    let layout = Layout {
        nof1: p.trial.design == Design::Nof1,
        adaptive_probabilities: facts
            .subjects
            .iter()
            .flat_map(|s| &s.assignments)
            .any(|a| a.cycle.is_some() && a.probability.is_some()),
        unblinded: export.unblinded,
        kind: p.outcome.kind,
        outcome_name: p.outcome.name.clone(),
        strata: p
            .precision
            .as_ref()
            .map(|precision| precision.strata.iter().map(|s| s.label.clone()).collect()),
    };
    let study = format!("ST.{}", export.trial_id);
    let mut xml = Xml {
        w: Writer::new_with_indent(Vec::with_capacity(1 << 20), b' ', 2),
    };
    xml.w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(Xml::fail)?;
    let file_oid = format!(
        "BAYESTRIAL.{}.{}",
        export.trial_id,
        export.exported_at.as_str()
    );
    let description = format!(
        "Audit trail of trial {} exported by {} ({}) from bayestrial: {}",
        export.trial_id,
        export.exported_by,
        export.exporter_role,
        if export.unblinded {
            "unblinded, with allocation probabilities"
        } else {
            "blinded, without allocation probabilities"
        }
    );
    let version = env!("CARGO_PKG_VERSION");
    xml.start(
        "ODM",
        &[
            ("xmlns", "http://www.cdisc.org/ns/odm/v1.3"),
            ("Description", &description),
            ("FileType", "Transactional"),
            ("Granularity", "All"),
            ("FileOID", &file_oid),
            ("CreationDateTime", export.exported_at.as_str()),
            ("ODMVersion", "1.3.2"),
            ("Originator", "bayestrial"),
            ("SourceSystem", "bayestrial"),
            ("SourceSystemVersion", version),
        ],
    )?;

    xml.start("Study", &[("OID", &study)])?;
    xml.start("GlobalVariables", &[])?;
    xml.text("StudyName", &[], &export.trial_id)?;
    xml.text("StudyDescription", &[], &export.title)?;
    xml.text("ProtocolName", &[], &export.trial_id)?;
    xml.end("GlobalVariables")?;
    let known: Vec<String> = p.arms.iter().map(|a| a.id.to_string()).collect();
    let extra: Vec<String> = facts
        .arms
        .iter()
        .map(|a| &a.arm)
        .chain(
            facts
                .subjects
                .iter()
                .flat_map(|s| s.assignments.iter().map(|a| &a.arm)),
        )
        .filter(|a| !known.contains(a))
        .cloned()
        .collect();
    for (i, (text, loaded)) in versions.iter().enumerate() {
        let extra_arms: &[String] = if i + 1 == versions.len() { &extra } else { &[] };
        metadata_version(&mut xml, &layout, text, loaded, extra_arms)?;
    }
    xml.end("Study")?;

    // Signatures of this trial's protocol versions, from the system chain.
    let signatures: Vec<(&AuditRecord, ElectronicSignature)> =
        signatures_of(&export.system_records, &export.trial_id).map_err(AuditError::from)?;

    xml.start("AdminData", &[("StudyOID", &study)])?;
    let mut people: BTreeMap<String, Option<&super::UserInfo>> = BTreeMap::new();
    for record in &export.trial_records {
        people.entry(record.actor.clone()).or_default();
    }
    for (record, signature) in &signatures {
        people
            .entry(signer_of(record, signature).to_owned())
            .or_default();
    }
    for user in &export.users {
        if let Some(slot) = people.get_mut(&user.username) {
            *slot = Some(user);
        }
    }
    for (name, info) in &people {
        let roles = info.map(|u| u.roles.clone()).unwrap_or_default();
        let kind = if roles.iter().any(|r| r == "coordinator") {
            "Investigator"
        } else if roles.iter().any(|r| r == "statistician") {
            "Sponsor"
        } else {
            "Other"
        };
        xml.start("User", &[("OID", &user_oid(name)), ("UserType", kind)])?;
        xml.text("LoginName", &[], name)?;
        if let Some(user) = info {
            if !user.printed_name.trim().is_empty() {
                xml.text("FullName", &[], &user.printed_name)?;
            }
            if !user.email.trim().is_empty() {
                xml.text("Email", &[], &user.email)?;
            }
        }
        xml.end("User")?;
    }
    xml.start(
        "Location",
        &[
            ("OID", LOCATION),
            (
                "Name",
                "bayestrial server (every site enters data through it)",
            ),
            ("LocationType", "Sponsor"),
        ],
    )?;
    for (text, _) in &versions {
        let mdv = format!("MDV.{}", text.version);
        let effective = text.created_at.get(..10).unwrap_or("1970-01-01");
        xml.empty(
            "MetaDataVersionRef",
            &[
                ("StudyOID", &study),
                ("MetaDataVersionOID", &mdv),
                ("EffectiveDate", effective),
            ],
        )?;
    }
    xml.end("Location")?;
    for (_, oid, meaning) in MEANINGS {
        xml.start(
            "SignatureDef",
            &[("OID", oid), ("Methodology", "Electronic")],
        )?;
        xml.text("Meaning", &[], meaning)?;
        xml.text(
            "LegalReason",
            &[],
            "Electronic signature under 21 CFR 11.50 and 11.70: the signer entered their \
             password again; the signature carries the printed name, the UTC time and its \
             meaning, and is bound to the SHA-256 hash of the exact protocol version signed",
        )?;
        xml.end("SignatureDef")?;
    }
    xml.end("AdminData")?;

    let mdv = format!("MDV.{}", latest.version);
    xml.start(
        "ClinicalData",
        &[("StudyOID", &study), ("MetaDataVersionOID", &mdv)],
    )?;
    for subject in &facts.subjects {
        subject_data(&mut xml, subject, &layout)?;
    }
    if !signatures.is_empty() {
        xml.start("Signatures", &[])?;
        for (record, signature) in &signatures {
            let meaning = signature.meaning.as_str();
            let def = MEANINGS
                .iter()
                .find(|(m, ..)| *m == meaning)
                .map_or("SD.REVIEW", |(_, oid, _)| oid);
            xml.comment(&format!(
                "{} of protocol version {} (SHA-256 {}) by {} ({}), signed {}: system chain \
                 record {}, hash {}",
                meaning,
                signature.version,
                signature.protocol_hash,
                signature.printed_name,
                signature.username,
                signature.signed_at.as_str(),
                record.seq,
                record.hash
            ))?;
            let id = format!("SIG.{}", record.seq);
            xml.start("Signature", &[("ID", &id)])?;
            xml.empty(
                "UserRef",
                &[("UserOID", &user_oid(signer_of(record, signature)))],
            )?;
            xml.empty("LocationRef", &[("LocationOID", LOCATION)])?;
            xml.empty("SignatureRef", &[("SignatureOID", def)])?;
            xml.text("DateTimeStamp", &[], signature.signed_at.as_str())?;
            xml.end("Signature")?;
        }
        xml.end("Signatures")?;
    }
    xml.end("ClinicalData")?;
    xml.end("ODM")?;
    let mut bytes = xml.w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}
