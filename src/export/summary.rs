//! The package's human-readable summary (`summary.html`): a self-contained page (inline CSS,
//! no scripts, nothing loaded from elsewhere) with the trial, the export, the protocol
//! versions and their signatures, the participants, the looks and their decisions, the chains'
//! heads and checkpoints, and how to verify and replay the package offline.

use std::fmt::Write as _;

use super::facts::{events, facts};
use super::{ExportError, TrialExport};
use crate::audit::{signatures_of, AuditError};
use crate::html::escape as esc;

/// Writes the summary page.
pub(crate) fn write(export: &TrialExport) -> Result<String, ExportError> {
    let events = events(&export.trial_records)?;
    let facts = facts(export, &events)?;
    let mut h = String::with_capacity(16 * 1024);
    let t = esc(&export.trial_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Regulatory package: {t}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;line-height:1.4;color:#222}}\n\
         table{{border-collapse:collapse;margin:.5em 0 1.5em}}th,td{{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}}\n\
         th{{background:#eee}}code{{font-size:.85em;word-break:break-all}}.n{{text-align:right}}\n\
         </style>\n</head>\n<body>\n<h1>Regulatory package: {t}</h1>\n<p>{}</p>\n",
        esc(&export.title)
    );
    let _ = write!(
        h,
        "<h2>This export</h2>\n<table>\n\
         <tr><th>Exported</th><td>{} (UTC) by {} ({})</td></tr>\n\
         <tr><th>Blinding</th><td>{}</td></tr>\n\
         <tr><th>Server public key (Ed25519)</th><td><code>{}</code></td></tr>\n</table>\n",
        esc(export.exported_at.as_str()),
        esc(&export.exported_by),
        esc(&export.exporter_role),
        if export.unblinded {
            "unblinded: the seed and every allocation probability are included, so the trial \
             can be replayed"
        } else {
            "blinded: the seed is left out, the records of assignments and comparative \
             results are sealed in audit.jsonl (neither payload nor salt) and left out of the \
             ODM and CSV files, so the trial cannot be replayed from this package"
        },
        esc(&export.public_key.to_hex())
    );

    h.push_str("<h2>Protocol versions</h2>\n<table>\n<tr><th>Version</th><th>SHA-256</th><th>Note</th><th>Created</th><th>File</th></tr>\n");
    for p in &export.protocols {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td><td>{} by {}</td><td>protocol/version-{}.toml</td></tr>",
            p.version,
            esc(&p.hash),
            esc(&p.note),
            esc(&p.created_at),
            esc(&p.created_by),
            p.version
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Electronic signatures</h2>\n<table>\n<tr><th>Version</th><th>Meaning</th><th>Signer</th><th>Signed (UTC)</th><th>Bound to hash</th></tr>\n");
    let signatures =
        signatures_of(&export.system_records, &export.trial_id).map_err(AuditError::from)?;
    for (_, s) in &signatures {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td><code>{}</code></td></tr>",
            s.version,
            esc(&s.meaning),
            esc(&s.printed_name),
            esc(&s.username),
            esc(s.signed_at.as_str()),
            esc(&s.protocol_hash.to_hex())
        );
    }
    if signatures.is_empty() {
        h.push_str("<tr><td colspan=\"5\">none</td></tr>\n");
    }
    h.push_str("</table>\n");

    let outcomes = facts
        .subjects
        .iter()
        .filter(|s| !s.outcomes.is_empty() || !s.days.is_empty())
        .count();
    let corrections = facts
        .subjects
        .iter()
        .flat_map(|s| {
            s.outcomes
                .iter()
                .chain(s.days.iter().flat_map(|d| &d.values))
        })
        .filter(|v| v.corrects.is_some())
        .count();
    let _ = write!(
        h,
        "<h2>Participants</h2>\n<p>Enrolled: {}; with outcome data: {}; corrections (each with \
         its reason): {}. Arms or treatments: {}.</p>\n",
        facts.subjects.len(),
        outcomes,
        corrections,
        esc(&facts
            .arms
            .iter()
            .map(|a| a.arm.as_str())
            .collect::<Vec<_>>()
            .join(", "))
    );
    if let Some(stopped) = &facts.stopped {
        let _ = writeln!(
            h,
            "<p>The trial stopped at record {} ({} UTC): {} (conclusion: {}).</p>",
            stopped.record.seq,
            esc(stopped.record.recorded_at.as_str()),
            esc(&stopped.reason.to_string()),
            stopped.conclusion
        );
    }

    if !facts.looks.is_empty() {
        h.push_str("<h2>Looks</h2>\n<table>\n<tr><th>Look</th><th>Record</th><th>Outcomes</th><th>Enrolled</th><th>Decisions</th></tr>\n");
        for l in &facts.looks {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                l.look,
                l.record.seq,
                l.outcomes,
                l.enrolled,
                if l.decisions.is_empty() {
                    "none".to_owned()
                } else {
                    esc(&l.decisions.iter().map(|(_, d)| d.to_string()).collect::<Vec<_>>().join("; "))
                }
            );
        }
        h.push_str("</table>\n");
    }
    if !facts.recommendations.is_empty() {
        h.push_str("<h2>The data monitoring committee's recommendations</h2>\n<table>\n<tr><th>Look</th><th>Record</th><th>Signed by</th><th>Recommendation</th><th>Rationale</th></tr>\n");
        for r in &facts.recommendations {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{} ({}, {} UTC)</td><td>{}</td><td>{}</td></tr>",
                r.look,
                r.record.seq,
                esc(&r.signed_by),
                esc(&r.record.actor),
                esc(r.record.recorded_at.as_str()),
                esc(&r.recommendation.to_string()),
                esc(&r.rationale)
            );
        }
        h.push_str("</table>\n");
    }
    if !facts.patient_looks.is_empty() {
        let _ = writeln!(
            h,
            "<h2>n-of-1 looks</h2>\n<p>{} patient looks and {} series looks (csv/patient_looks.csv, csv/series_looks.csv).</p>",
            facts.patient_looks.len(),
            facts.series.len()
        );
    }

    h.push_str("<h2>Audit chains</h2>\n<table>\n<tr><th>Chain</th><th>Records</th><th>Head hash</th><th>Signed checkpoints</th></tr>\n");
    for records in [&export.trial_records, &export.system_records] {
        if let Some(last) = records.last() {
            let checkpoints = export
                .checkpoints
                .iter()
                .filter(|c| c.chain == last.chain)
                .count();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                esc(&last.chain.to_string()),
                last.seq,
                last.hash,
                checkpoints
            );
        }
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Simulation reports</h2>\n");
    if export.simulations.is_empty() {
        h.push_str(
            "<p>None were stored for this trial. Each protocol version's operating \
             characteristics can be recomputed from its file here with <code>bayestrial \
             simulate FILE --scenario NAME --reps N --seed S --report OUT.html</code>.</p>\n",
        );
    } else {
        h.push_str(
            "<p>The stored simulation reports that justified the protocol versions; each is \
             recomputed byte for byte from its version's file with <code>bayestrial simulate \
             FILE --scenario NAME --reps N --seed S --report OUT.html</code>.</p>\n<table>\n\
             <tr><th>Report</th><th>Version</th><th>Scenario</th><th>Seed</th><th>Replicates</th>\
             <th>Run by</th><th>Stored (UTC)</th><th>Files</th></tr>\n",
        );
        for r in &export.simulations {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>simulation/report-{}.html, simulation/report-{}.json</td></tr>",
                r.number,
                r.version,
                esc(&r.scenario),
                esc(&r.seed),
                r.reps,
                esc(&r.ran_by),
                esc(&r.ran_at),
                r.number,
                r.number
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<h2>Files and how to check them</h2>\n<ul>\n\
         <li><code>audit.jsonl</code>: every audit record of the trial's chain and the system \
         chain, the signed checkpoints, the protocol versions and (unblinded) the seed;</li>\n\
         <li><code>odm.xml</code>: CDISC ODM 1.3.2 (transactional) with an audit record for every \
         value;</li>\n<li><code>csv/</code>: participants, assignments, outcomes or measurements, \
         looks;</li>\n<li><code>protocol/</code>: every protocol version as signed;</li>\n\
         <li><code>simulation/</code>: the stored simulation reports (page and result);</li>\n\
         <li><code>MANIFEST.json</code>: the SHA-256 of every file, signed in \
         <code>MANIFEST.sig</code> with the server key (<code>public-key.hex</code>).</li>\n</ul>\n\
         <p>Without a database: <code>bayestrial audit verify --export PACKAGE.zip \
         [--public-key HEX]</code> checks the manifest, the chains and the checkpoints; \
         <code>bayestrial replay PACKAGE.zip</code> re-derives every allocation, draw and \
         decision (unblinded packages).</p>\n</body>\n</html>\n",
    );
    Ok(h)
}
