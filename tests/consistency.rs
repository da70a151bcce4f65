//! Tamper evidence that holds against someone with write access to the database (the server
//! stopped, the append-only triggers dropped): every committed command's head is signed, the
//! checkpoints of a chain are linked, the system chain's `export` records are cross-checked
//! against the trial chains, `audit verify --against EARLIER_EXPORT` proves that nothing was
//! removed or rewritten since, and `--public-key` pins the server key for the database too. On
//! SQLite, and on PostgreSQL when `BAYESTRIAL_TEST_POSTGRES` names a server.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::process::Command;

use bayestrial::audit::{AuditRecord, ChainHead, Checkpoint, ServerKey, UtcTimestamp};
use bayestrial::export::{verify_export, verify_export_against, EarlierExport, ExportFormat};
use bayestrial::service::{
    Actor, ChainProblem, Service, VerifyOptions, VerifyReport, SERVER_KEY_FILE,
};
use bayestrial::store::CheckpointRow;
use common::{chain_records, export, lines, people, small_trial, Backend, People};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

const TRIAL: &str = "CONSIST";
const CHAIN: &str = "trial:CONSIST";

/// A trial run a little (60 participants, a look), then three more acknowledged enrolments.
/// Returns the people and the trial chain's last seq before those three.
fn trial_with_three_late_enrolments(service: &Service) -> (People, u64) {
    let p = people(service);
    small_trial(service, &p, TRIAL);
    let before = head_seq(service);
    for i in 0..3 {
        service
            .enrol(&p.coord, TRIAL, &format!("LATE-{i}"), None)
            .expect("enrolled");
    }
    (p, before)
}

/// The stored checkpoints of `chain`, as the command-line actor reads them.
fn checkpoints_of(service: &Service, chain: &str) -> Vec<CheckpointRow> {
    service
        .checkpoints(&Actor::command_line())
        .expect("checkpoints")
        .into_iter()
        .filter(|c| c.chain == chain)
        .collect()
}

/// The trial chain's head seq: every command signs its head, so the last checkpoint's.
fn head_seq(service: &Service) -> u64 {
    checkpoints_of(service, CHAIN)
        .iter()
        .map(|c| c.seq as u64)
        .max()
        .unwrap_or(0)
}

/// The first problem `audit verify` reports, which must exist.
fn problem(report: VerifyReport, what: &str) -> ChainProblem {
    report
        .problem
        .unwrap_or_else(|| panic!("{what}: the tampering is not caught"))
}

fn verify(service: &Service) -> VerifyReport {
    service.verify(None).expect("verify runs")
}

fn earlier(bytes: &[u8], name: &str) -> EarlierExport {
    EarlierExport::read(bytes, name, None).expect("the earlier export verifies")
}

fn against(service: &Service, earlier: EarlierExport) -> VerifyReport {
    service
        .verify_with(&VerifyOptions {
            against: vec![earlier],
            ..VerifyOptions::default()
        })
        .expect("verify runs")
}

#[test]
fn untampered_data_verifies_with_every_head_signed() {
    for backend in Backend::all() {
        let service = backend.service();
        let (_, _) = trial_with_three_late_enrolments(&service);
        let report = verify(&service);
        assert_eq!(report.problem, None, "{}", backend.name());
        // Every command signed its head: at least one checkpoint per enrolment.
        assert!(report.checkpoints > 120, "{}: {report:?}", backend.name());
        let file = export(&service, TRIAL, ExportFormat::Jsonl, true);
        assert_eq!(verify_export(&file, None).expect("reads").problem, None);
        let later = export(&service, TRIAL, ExportFormat::Jsonl, false);
        let report =
            verify_export_against(&later, None, &[earlier(&file, "first.jsonl")]).expect("reads");
        assert_eq!(report.problem, None, "{}", backend.name());
        assert_eq!(
            against(&service, earlier(&file, "first.jsonl")).problem,
            None
        );
    }
}

/// Deletes the trial chain's records after `seq`, and with `checkpoints` their checkpoints.
fn cut_trial_chain(backend: &Backend, seq: u64, checkpoints: bool) {
    let mut sql = format!("DELETE FROM audit_events WHERE chain = '{CHAIN}' AND seq > {seq};");
    if checkpoints {
        sql.push_str(&format!(
            "DELETE FROM checkpoints WHERE chain = '{CHAIN}' AND seq > {seq};"
        ));
    }
    backend.tamper(&sql);
}

#[test]
fn three_enrolments_deleted_are_caught_by_the_export_record_and_by_against() {
    for with_checkpoints in [false, true] {
        for backend in Backend::all() {
            let name = format!(
                "{} (checkpoints deleted too: {with_checkpoints})",
                backend.name()
            );
            let service = backend.service();
            let (_, before) = trial_with_three_late_enrolments(&service);
            let head = head_seq(&service);
            let file = export(&service, TRIAL, ExportFormat::Jsonl, true);
            drop(service);
            cut_trial_chain(&backend, before, with_checkpoints);
            let service = backend.service();
            if with_checkpoints {
                assert_eq!(head_seq(&service), before, "{name}");
            }

            let found = problem(verify(&service), &name);
            assert_eq!(found.chain, CHAIN, "{name}: {found}");
            if with_checkpoints {
                // The chain and its checkpoints agree; the system chain remembers the export.
                assert_eq!(found.seq, head, "{name}: {found}");
                assert!(found.problem.contains("system seq"), "{name}: {found}");
            } else {
                assert!(found.seq > before, "{name}: {found}");
            }

            // An export made afterwards holds the system chain's record of the first one.
            let after = export_unchecked(&service);
            if let Some(after) = &after {
                let offline = verify_export(after, None).expect("reads");
                let found = offline.problem.expect("caught offline");
                assert_eq!(found.place, CHAIN, "{name}: {found}");
                assert_eq!(found.seq, Some(head), "{name}: {found}");
            }

            // The attacker also removes the system chain from the first export record on, with its
            // checkpoints:
            // only the earlier export itself can tell now.
            backend.tamper(
                "DELETE FROM checkpoints WHERE chain = 'system' AND seq >= \
                 (SELECT MIN(seq) FROM audit_events WHERE chain = 'system' AND kind = 'export');\
                 DELETE FROM audit_events WHERE chain = 'system' AND seq >= \
                 (SELECT MIN(seq) FROM audit_events WHERE chain = 'system' AND kind = 'export');",
            );
            let service = backend.service();
            if with_checkpoints {
                assert_eq!(
                    verify(&service).problem,
                    None,
                    "{name}: nothing else is left"
                );
            }
            let found = problem(against(&service, earlier(&file, "earlier.jsonl")), &name);
            assert_eq!(found.chain, CHAIN, "{name}: {found}");
            if with_checkpoints {
                assert_eq!(found.seq, before + 1, "{name}: {found}");
                assert!(found.problem.contains("earlier.jsonl"), "{name}: {found}");
                let later = export(&service, TRIAL, ExportFormat::Jsonl, false);
                let offline =
                    verify_export_against(&later, None, &[earlier(&file, "earlier.jsonl")])
                        .expect("reads");
                let found = offline.problem.expect("caught offline");
                assert_eq!(
                    (found.place.as_str(), found.seq),
                    (CHAIN, Some(before + 1)),
                    "{name}: {found}"
                );
            } else {
                // The checkpoints left behind say it first: they sign records now gone.
                assert!(found.seq > before, "{name}: {found}");
            }
        }
    }
}

/// An export, when the server still signs one (it refuses a chain that does not verify).
fn export_unchecked(service: &Service) -> Option<Vec<u8>> {
    service
        .export(
            &bayestrial::service::Exporter::CommandLine,
            TRIAL,
            ExportFormat::Jsonl,
            true,
        )
        .ok()
        .map(|file| file.bytes)
}

/// Flips the first boolean in a JSON value.
fn flip(value: &mut Value) -> bool {
    match value {
        Value::Bool(b) => {
            *b = !*b;
            true
        }
        Value::Object(map) => map.values_mut().any(flip),
        Value::Array(items) => items.iter_mut().any(flip),
        _ => false,
    }
}

#[test]
fn an_outcome_flipped_and_the_rest_rehashed_is_caught_by_the_command_checkpoints() {
    for backend in Backend::all() {
        let service = backend.service();
        let (_, _) = trial_with_three_late_enrolments(&service);
        let file = export(&service, TRIAL, ExportFormat::Jsonl, true);
        drop(service);
        let mut records: Vec<AuditRecord> = chain_records(&lines(&file), CHAIN)
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let target = records
            .iter()
            .rposition(|r| r.kind == "outcome_recorded")
            .expect("an outcome");
        let mut payload: Value = serde_json::from_str(&records[target].payload).expect("JSON");
        assert!(flip(&mut payload), "a binary outcome");
        records[target].payload = bayestrial::audit::canonical(&payload).expect("canonical");
        let mut sql = String::new();
        for k in target..records.len() {
            if k > 0 {
                records[k].prev_hash = records[k - 1].hash;
            }
            records[k].hash = records[k].compute_hash().expect("hash");
            sql.push_str(&format!(
                "UPDATE audit_events SET payload = '{}', prev_hash = '{}', hash = '{}' \
                 WHERE chain = '{CHAIN}' AND seq = {};",
                records[k].payload,
                records[k].prev_hash.to_hex(),
                records[k].hash.to_hex(),
                records[k].seq
            ));
        }
        backend.tamper(&sql);
        let service = backend.service();
        let found = problem(verify(&service), backend.name());
        assert_eq!(
            (found.chain.as_str(), found.seq),
            (CHAIN, records[target].seq),
            "{}: {found}",
            backend.name()
        );
    }
}

#[test]
fn deleted_checkpoints_are_caught_all_of_them_or_one_in_the_middle() {
    for backend in Backend::all() {
        let service = backend.service();
        let _ = trial_with_three_late_enrolments(&service);
        let seqs: Vec<u64> = checkpoints_of(&service, CHAIN)
            .iter()
            .map(|c| c.seq as u64)
            .collect();
        drop(service);

        // One in the middle: the next one's link names it.
        let middle = seqs[seqs.len() / 2];
        let next = seqs[seqs.len() / 2 + 1];
        backend.tamper(&format!(
            "DELETE FROM checkpoints WHERE chain = '{CHAIN}' AND seq = {middle}"
        ));
        let service = backend.service();
        let found = problem(verify(&service), backend.name());
        assert_eq!(
            (found.chain.as_str(), found.seq),
            (CHAIN, next),
            "{}: {found}",
            backend.name()
        );
        assert!(found.problem.contains(&format!("seq {middle}")), "{found}");
        drop(service);

        // Every checkpoint of the trial: its head is covered by none.
        backend.tamper(&format!("DELETE FROM checkpoints WHERE chain = '{CHAIN}'"));
        let service = backend.service();
        let found = problem(verify(&service), backend.name());
        assert_eq!((found.chain.as_str(), found.seq), (CHAIN, 1), "{found}");
        assert!(found.problem.contains("no signed checkpoint"), "{found}");
        drop(service);

        // Every checkpoint at all: the system chain is the first to say so.
        backend.tamper("DELETE FROM checkpoints");
        let service = backend.service();
        let found = problem(verify(&service), backend.name());
        assert_eq!((found.chain.as_str(), found.seq), ("system", 1), "{found}");
        assert!(found.problem.contains("no signed checkpoint"), "{found}");
    }
}

#[test]
fn a_pinned_public_key_applies_to_the_database() {
    for backend in Backend::all() {
        let service = backend.service();
        let _ = trial_with_three_late_enrolments(&service);
        let own = service.public_key();
        let pinned = |key| {
            service
                .verify_with(&VerifyOptions {
                    public_key: Some(key),
                    ..VerifyOptions::default()
                })
                .expect("verify runs")
        };
        assert_eq!(pinned(own).problem, None, "{}", backend.name());
        let other = ServerKey::generate(&mut ChaCha20Rng::seed_from_u64(9)).public_key();
        let found = problem(pinned(other), backend.name());
        assert_eq!((found.chain.as_str(), found.seq), ("system", 1), "{found}");
        assert!(found.problem.contains("not the trusted key"), "{found}");
    }
}

#[test]
fn old_checkpoints_without_links_still_verify_and_are_upgraded() {
    for backend in Backend::all() {
        let service = backend.service();
        let _ = trial_with_three_late_enrolments(&service);
        let key_text =
            std::fs::read_to_string(backend.dir.path().join(SERVER_KEY_FILE)).expect("key file");
        let key = ServerKey::from_hex(&key_text).expect("key");
        // Rewrite every checkpoint in the layout signed before links (no `previous`).
        let mut sql = String::new();
        let rows = service
            .checkpoints(&Actor::command_line())
            .expect("checkpoints");
        for row in rows {
            let old = Checkpoint::sign(
                &key,
                &ChainHead {
                    chain: row.chain.parse().expect("chain"),
                    seq: row.seq as u64,
                    hash: row.head_hash.parse().expect("hash"),
                },
                row.purpose.parse().expect("purpose"),
                UtcTimestamp::parse(&row.signed_at).expect("time"),
            )
            .expect("signed");
            sql.push_str(&format!(
                "UPDATE checkpoints SET previous = NULL, signature = '{}' WHERE chain = '{}' \
                 AND seq = {} AND purpose = '{}';",
                old.signature.to_hex(),
                old.chain,
                old.seq,
                old.purpose
            ));
        }
        drop(service);
        backend.tamper(&sql);
        let service = backend.service();
        assert_eq!(verify(&service).problem, None, "{}", backend.name());
        let signed = service.cover_heads_of_old_chains().expect("upgrade");
        assert_eq!(signed, ["system", CHAIN], "{}", backend.name());
        assert!(service
            .cover_heads_of_old_chains()
            .expect("again")
            .is_empty());
        assert_eq!(verify(&service).problem, None, "{}", backend.name());
    }
}

#[test]
fn the_command_line_pins_the_key_and_checks_against_earlier_exports() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let (_, before) = trial_with_three_late_enrolments(&service);
    let file = export(&service, TRIAL, ExportFormat::Jsonl, true);
    let key = service.public_key().to_hex();
    drop(service);
    let earlier_path = backend.dir.path().join("earlier.jsonl");
    std::fs::write(&earlier_path, &file).expect("written");
    let earlier_arg = earlier_path.display().to_string();
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(["audit", "verify", "--database-url", &backend.url])
            .args(extra)
            .env("BAYESTRIAL_DATA_DIR", backend.dir.path())
            .output()
            .expect("runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };
    let (code, text) = run(&["--public-key", &key, "--against", &earlier_arg]);
    assert_eq!(code, Some(0), "{text}");
    let other = ServerKey::generate(&mut ChaCha20Rng::seed_from_u64(5))
        .public_key()
        .to_hex();
    let (code, text) = run(&["--public-key", &other]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("system seq 1"), "{text}");

    cut_trial_chain(&backend, before, true);
    backend.tamper(
        "DELETE FROM checkpoints WHERE chain = 'system' AND seq >= \
         (SELECT MIN(seq) FROM audit_events WHERE chain = 'system' AND kind = 'export');\
         DELETE FROM audit_events WHERE chain = 'system' AND seq >= \
         (SELECT MIN(seq) FROM audit_events WHERE chain = 'system' AND kind = 'export');",
    );
    // The pages' tables still show the participants cut from the chain: caught on its own.
    let (code, text) = run(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("trial {TRIAL} table participants participant"))
            && text.contains("extra: the chain has no such row"),
        "{text}"
    );
    // A careful attacker deletes those rows too: then only the earlier export can tell.
    let head = format!("(SELECT MAX(seq) FROM audit_events WHERE chain = '{CHAIN}')");
    backend
        .plain(&format!(
            "DELETE FROM participants WHERE trial_id = '{TRIAL}' AND seq > {head}; \
             DELETE FROM outcomes WHERE trial_id = '{TRIAL}' AND seq > {head}; \
             DELETE FROM looks WHERE trial_id = '{TRIAL}' AND seq > {head}"
        ))
        .expect("projection tables have no triggers");
    let (code, text) = run(&[]);
    assert_eq!(code, Some(0), "without the earlier export: {text}");
    let (code, text) = run(&["--against", &earlier_arg]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("{CHAIN} seq {}", before + 1)) && text.contains("earlier.jsonl"),
        "{text}"
    );
}
