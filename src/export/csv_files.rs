//! The CSV tables (RFC 4180, UTF-8, a header row; numbers as the shortest decimal that reads
//! back exactly; `seq` and `hash` name the audit record that holds each row's value):
//!
//! - `participants.csv`: one row per participant (enrolment);
//! - `assignments.csv`: the randomised arm of each participant (platform), or each period's
//!   treatment (n-of-1); unblinded exports add the allocation `probability` and the `draw`;
//! - `outcomes.csv` (platform) or `measurements.csv` (n-of-1): every value recorded and every
//!   correction, in order, with `transaction` insert/update, the seq corrected, the reason and
//!   whether it is the value in force (`current`);
//! - `looks.csv` (platform): per look and arm, the posterior and its summaries, and the look's
//!   decisions; `patient_looks.csv` and `series_looks.csv` (n-of-1): each patient's look per
//!   contrast with the decision it led to, and the series' hierarchical summaries;
//! - `recommendations.csv` (platform): the data monitoring committee's recommendation after each
//!   look, with the account that signed it, the signer's printed name and the rationale.
//!
//! `--format csv` writes them into one zip.

use super::archive::zip_files;
use super::facts::{events, facts, Valued};
use super::{ExportError, TrialExport};
use crate::audit::AuditRecord;
use crate::engine::OutcomeValue;

fn number(x: f64) -> String {
    format!("{x}")
}

fn opt(x: Option<f64>) -> String {
    x.map(number).unwrap_or_default()
}

fn opt_u(x: Option<impl ToString>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// (response, value, events, exposure) columns of a value.
fn value_columns(value: &OutcomeValue) -> [String; 4] {
    match value {
        OutcomeValue::Binary { response } => [
            u8::from(*response).to_string(),
            String::new(),
            String::new(),
            String::new(),
        ],
        OutcomeValue::Continuous { value } => {
            [String::new(), number(*value), String::new(), String::new()]
        }
        OutcomeValue::Count { events, exposure } => [
            String::new(),
            String::new(),
            events.to_string(),
            number(*exposure),
        ],
    }
}

/// A cell as a spreadsheet may open it safely (OWASP CSV injection): text that begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so that it is not read as a
/// formula; numbers (`-2.5`) are left as they are.
fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

struct Table {
    writer: csv::Writer<Vec<u8>>,
}

impl Table {
    fn new(header: &[&str]) -> Result<Self, ExportError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record(header)
            .map_err(|e| ExportError::write("CSV", e))?;
        Ok(Self { writer })
    }

    /// Writes one row; every text cell goes through [`neutralised`].
    fn row<I, S>(&mut self, cells: I) -> Result<(), ExportError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.writer
            .write_record(
                cells
                    .into_iter()
                    .map(|cell| neutralised(cell.as_ref()).into_owned()),
            )
            .map_err(|e| ExportError::write("CSV", e))
    }

    fn finish(self) -> Result<Vec<u8>, ExportError> {
        self.writer
            .into_inner()
            .map_err(|e| ExportError::write("CSV", e.error()))
    }
}

/// The rows of one participant's values (outcomes, or one day's measurements).
fn value_rows(
    table: &mut Table,
    participant: u32,
    subject: &str,
    day: Option<u32>,
    values: &[Valued<&AuditRecord>],
) -> Result<(), ExportError> {
    let last = values.len().saturating_sub(1);
    for (i, v) in values.iter().enumerate() {
        let mut cells = vec![
            v.record.seq.to_string(),
            participant.to_string(),
            subject.to_owned(),
        ];
        if let Some(day) = day {
            cells.push(day.to_string());
        }
        cells.extend([
            v.record.recorded_at.as_str().to_owned(),
            v.record.actor.clone(),
            if v.corrects.is_some() {
                "update"
            } else {
                "insert"
            }
            .to_owned(),
            opt_u(v.corrects),
            v.reason.clone().unwrap_or_default(),
        ]);
        cells.extend(value_columns(&v.value));
        cells.push((i == last).to_string());
        cells.push(v.record.hash.to_hex());
        table.row(&cells)?;
    }
    Ok(())
}

/// The CSV files, by name.
pub(crate) fn write(export: &TrialExport) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let events = events(&export.trial_records)?;
    let facts = facts(export, &events)?;
    let nof1 = facts.subjects.iter().any(|s| s.start_date.is_some())
        || !facts.patient_looks.is_empty()
        || export
            .protocols
            .first()
            .is_some_and(|p| p.source.contains("[nof1]"));
    let mut files = Vec::new();

    let mut participants = Table::new(&[
        "participant",
        "subject_id",
        "start_date",
        "biomarkers",
        "stratum",
        "enrolled_at",
        "enrolled_by",
        "seq",
        "hash",
    ])?;
    for s in &facts.subjects {
        participants.row([
            s.participant.to_string(),
            s.subject_id.clone(),
            s.start_date.clone().unwrap_or_default(),
            s.biomarkers.as_ref().map(|b| b.words()).unwrap_or_default(),
            opt_u(s.stratum),
            s.enrolled.recorded_at.as_str().to_owned(),
            s.enrolled.actor.clone(),
            s.enrolled.seq.to_string(),
            s.enrolled.hash.to_hex(),
        ])?;
    }
    files.push(("participants.csv".to_owned(), participants.finish()?));

    let mut header = vec![
        "participant",
        "subject_id",
        "seq",
        "recorded_at",
        "cycle",
        "period",
        "arm",
    ];
    if export.unblinded {
        header.extend(["phase", "probability", "draw"]);
    }
    header.push("hash");
    let mut assignments = Table::new(&header)?;
    for s in &facts.subjects {
        for a in &s.assignments {
            let mut cells = vec![
                s.participant.to_string(),
                s.subject_id.clone(),
                a.record.seq.to_string(),
                a.record.recorded_at.as_str().to_owned(),
                opt_u(a.cycle),
                opt_u(a.period),
                a.arm.clone(),
            ];
            if export.unblinded {
                cells.extend([
                    a.phase.unwrap_or_default().to_owned(),
                    opt(a.probability),
                    opt(a.draw),
                ]);
            }
            cells.push(a.record.hash.to_hex());
            assignments.row(&cells)?;
        }
    }
    files.push(("assignments.csv".to_owned(), assignments.finish()?));

    let value_header = |day: bool| {
        let mut h = vec!["seq", "participant", "subject_id"];
        if day {
            h.push("day");
        }
        h.extend([
            "recorded_at",
            "recorded_by",
            "transaction",
            "corrects",
            "reason",
            "response",
            "value",
            "events",
            "exposure",
            "current",
            "hash",
        ]);
        h
    };
    if nof1 {
        let mut measurements = Table::new(&value_header(true))?;
        for s in &facts.subjects {
            for d in &s.days {
                value_rows(
                    &mut measurements,
                    s.participant,
                    &s.subject_id,
                    Some(d.day),
                    &d.values,
                )?;
            }
        }
        files.push(("measurements.csv".to_owned(), measurements.finish()?));

        let mut looks = Table::new(&[
            "seq",
            "recorded_at",
            "participant",
            "subject_id",
            "cycle",
            "treatment",
            "mean",
            "sd",
            "ci95_low",
            "ci95_high",
            "p_positive",
            "p_beyond_mcid",
            "p_worse_beyond_mcid",
            "p_within_mcid",
            "n",
            "rho",
            "decision",
        ])?;
        for l in &facts.patient_looks {
            let subject = facts
                .subjects
                .get(l.participant as usize)
                .map(|s| s.subject_id.clone())
                .unwrap_or_default();
            for e in &l.effects {
                looks.row([
                    l.record.seq.to_string(),
                    l.record.recorded_at.as_str().to_owned(),
                    l.participant.to_string(),
                    subject.clone(),
                    l.cycle.to_string(),
                    e.treatment.to_string(),
                    number(e.mean),
                    number(e.sd),
                    number(e.ci95[0]),
                    number(e.ci95[1]),
                    number(e.p_positive),
                    number(e.p_beyond_mcid),
                    number(e.p_worse_beyond_mcid),
                    number(e.p_within_mcid),
                    e.n.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    opt(e.rho),
                    l.decision
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ])?;
            }
        }
        // Withdrawals end a patient's trial without a look.
        for s in &facts.subjects {
            if let Some((record, cycle, end)) = &s.finished {
                if matches!(end, crate::engine::PatientEnd::Withdrawn { .. }) {
                    let mut cells = vec![
                        record.seq.to_string(),
                        record.recorded_at.as_str().to_owned(),
                        s.participant.to_string(),
                        s.subject_id.clone(),
                        cycle.to_string(),
                    ];
                    cells.extend(std::iter::repeat_n(String::new(), 11));
                    cells.push(end.to_string());
                    looks.row(&cells)?;
                }
            }
        }
        files.push(("patient_looks.csv".to_owned(), looks.finish()?));

        let mut series = Table::new(&[
            "seq",
            "recorded_at",
            "patients",
            "mean",
            "sd",
            "ci95_low",
            "ci95_high",
            "p_positive",
            "p_beyond_mcid",
            "tau_mean",
            "tau_ci95_low",
            "tau_ci95_high",
            "eb_mean",
            "eb_tau",
        ])?;
        for (record, s) in &facts.series {
            series.row([
                record.seq.to_string(),
                record.recorded_at.as_str().to_owned(),
                s.patients.to_string(),
                number(s.mean),
                number(s.sd),
                number(s.ci95[0]),
                number(s.ci95[1]),
                number(s.p_positive),
                number(s.p_beyond_mcid),
                number(s.tau_mean),
                number(s.tau_ci95[0]),
                number(s.tau_ci95[1]),
                number(s.eb_mean),
                number(s.eb_tau),
            ])?;
        }
        files.push(("series_looks.csv".to_owned(), series.finish()?));
    } else {
        let mut outcomes = Table::new(&value_header(false))?;
        for s in &facts.subjects {
            value_rows(
                &mut outcomes,
                s.participant,
                &s.subject_id,
                None,
                &s.outcomes,
            )?;
        }
        files.push(("outcomes.csv".to_owned(), outcomes.finish()?));

        let mut looks = Table::new(&[
            "look",
            "seq",
            "recorded_at",
            "outcomes",
            "enrolled",
            "arm",
            "n",
            "control_n",
            "posterior",
            "mean",
            "p_best",
            "p_better_than_control",
            "p_equivalent",
            "p_beyond_futility_margin",
            "decisions",
        ])?;
        for l in &facts.looks {
            let decisions = l
                .decisions
                .iter()
                .map(|(_, d)| d.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            for a in &l.arms {
                looks.row([
                    l.look.to_string(),
                    l.record.seq.to_string(),
                    l.record.recorded_at.as_str().to_owned(),
                    l.outcomes.to_string(),
                    l.enrolled.to_string(),
                    a.arm.to_string(),
                    a.n.to_string(),
                    opt_u(a.control_n),
                    serde_json::to_string(&a.posterior).unwrap_or_default(),
                    opt(a.mean),
                    opt(a.p_best),
                    opt(a.p_better_than_control),
                    opt(a.p_equivalent),
                    opt(a.p_beyond_futility_margin),
                    decisions.clone(),
                ])?;
            }
        }
        files.push(("looks.csv".to_owned(), looks.finish()?));

        let mut recommendations = Table::new(&[
            "look",
            "seq",
            "recorded_at",
            "actor",
            "signed_by",
            "action",
            "arm",
            "recommendation",
            "rationale",
        ])?;
        for r in &facts.recommendations {
            recommendations.row([
                r.look.to_string(),
                r.record.seq.to_string(),
                r.record.recorded_at.as_str().to_owned(),
                r.record.actor.clone(),
                r.signed_by.clone(),
                r.recommendation.action().to_owned(),
                opt_u(r.recommendation.arm()),
                r.recommendation.to_string(),
                r.rationale.clone(),
            ])?;
        }
        files.push(("recommendations.csv".to_owned(), recommendations.finish()?));
    }
    Ok(files)
}

/// The CSV files in one zip (`--format csv`).
pub(crate) fn write_zip(export: &TrialExport) -> Result<Vec<u8>, ExportError> {
    let files = write(export)?;
    zip_files(&files, &export.exported_at)
}

#[cfg(test)]
mod tests {
    use super::neutralised;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for risky in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-1+2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(neutralised(risky), format!("'{risky}"), "{risky:?}");
        }
        for kept in ["-2.5", "+3", "S-001", "response", "", "0.25"] {
            assert_eq!(neutralised(kept), kept, "{kept:?}");
        }
    }
}
