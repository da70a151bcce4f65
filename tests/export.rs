//! Regulator exports end to end: trials run through the service on a fresh SQLite file, then
//! exported as CDISC ODM (validated against the ODM 1.3.2 schema when `BAYESTRIAL_TEST_ODM` is
//! set), JSON Lines, CSV and the regulatory package; the offline `audit verify --export` and
//! `replay FILE` must accept the genuine files and name the seq where a tampered one breaks.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bayestrial::audit::{AuditRecord, ChainHead, Checkpoint, PublicKey, ServerKey};
use bayestrial::export::{replay_export, verify_export, ExportFormat, ExportLine, ReplayOutcome};
use bayestrial::service::{
    bench_export, Actor, Amendment, Exporter, Meaning, Randomness, Service, ServiceConfig,
    ServiceError, SteppingClock,
};
use bayestrial::store::DatabaseUrl;
use serde_json::Value;

use common::*;

/// Rewrites the payload of record `seq` with `edit`, then re-hashes it and every later record
/// of its chain (a forger with the file but without the server's key).
fn rewrite(
    lines: &mut [String],
    chain: &str,
    seq: u64,
    edit: impl Fn(&mut Value),
) -> Vec<(usize, AuditRecord)> {
    rewrite_records(lines, chain, seq, |record| {
        let mut payload: Value = serde_json::from_str(&record.payload).expect("JSON");
        edit(&mut payload);
        record.payload = bayestrial::audit::canonical_json(&payload).expect("canonical");
    })
}

fn seq_of_kind(lines: &[String], kind: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| match parsed(l) {
            ExportLine::Record(r) if r.kind == kind && !r.chain.is_system() => Some(r.seq),
            _ => None,
        })
        .expect("a record of that kind")
}

#[test]
fn the_odm_export_of_every_demo_trial_is_odm_1_3_2() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let mut files = Vec::new();
    let mut demos: Vec<PathBuf> = std::fs::read_dir("protocols")
        .expect("protocols/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    demos.sort();
    assert!(demos.len() >= 5, "the demo protocols: {demos:?}");
    for (n, demo) in demos.iter().enumerate() {
        let id = run_demo(&service, &p, demo);
        if n == 0 {
            // An amendment: a second protocol version (and MetaDataVersion), simulated and
            // approved.
            let (loaded, _) = service.current_protocol(&p.stat, &id).expect("protocol");
            let version = service
                .amend(
                    &p.stat,
                    &id,
                    &Amendment::MaxParticipants(loaded.protocol.trial.max_participants + 100),
                    PASSWORD,
                    "recruitment is faster than planned",
                )
                .expect("amendment proposed");
            store_simulation(&service, &p.stat, &id, version);
            service
                .sign(&p.approver, &id, Meaning::Approval, PASSWORD)
                .expect("amendment approved");
        }
        for unblinded in [false, true] {
            let bytes = export(&service, &id, ExportFormat::Odm, unblinded);
            let xml = String::from_utf8(bytes).expect("UTF-8");
            assert!(xml.contains(r#"FileType="Transactional""#), "{id}");
            assert!(xml.contains(r#"ODMVersion="1.3.2""#), "{id}");
            assert!(
                xml.contains("<SourceID>"),
                "{id}: audit records name their events"
            );
            assert!(
                xml.contains(r#"TransactionType="Update""#) && xml.contains("<ReasonForChange>"),
                "{id}: a correction is an update with its reason"
            );
            assert!(xml.contains("<Signature ID="), "{id}: e-signatures");
            assert_eq!(
                xml.contains("IT.ALLOC_PROB"),
                unblinded && !id.starts_with("NOF1"),
                "{id}: allocation probabilities only unblinded (n-of-1 pairs have none)"
            );
            let path = scratch.path(&format!(
                "{id}-{}.xml",
                if unblinded { "unblinded" } else { "blinded" }
            ));
            std::fs::write(&path, &xml).expect("written");
            files.push(path);
        }
    }
    let report = service.verify(None).expect("verify");
    assert_eq!(report.problem, None, "every export kept the chains valid");
    if std::env::var_os("BAYESTRIAL_TEST_ODM").is_none() {
        println!(
            "skipped: ODM 1.3.2 schema validation of {} files (set BAYESTRIAL_TEST_ODM=1; needs \
             python3 -m pip install odmlib lxml)",
            files.len()
        );
        return;
    }
    let output = Command::new("python3")
        .arg("tests/odm/validate.py")
        .args(&files)
        .output()
        .expect("python3 runs");
    println!("{}", text(&output));
    assert_eq!(
        output.status.code(),
        Some(0),
        "ODM 1.3.2 validation: {}",
        text(&output)
    );
}

#[test]
fn a_jsonl_export_verifies_and_replays_offline() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "RT");
    let bytes = export(&service, "RT", ExportFormat::Jsonl, true);
    let report = verified(&bytes);
    assert_eq!(report.problem, None, "{report:?}");
    assert!(report.unblinded);
    assert_eq!(
        report.chains.len(),
        2,
        "the trial's chain and the system chain"
    );
    assert!(report.chains.iter().all(|c| c.checkpoints > 0));
    match replay_export(&bytes).expect("readable") {
        ReplayOutcome::Replayed { trial, events } => {
            assert_eq!(trial, "RT");
            assert_eq!(events as u64, report.chains[0].head_seq);
        }
        other => panic!("replay: {other:?}"),
    }

    // The same through the command line, with no database, pinning the right key and a wrong one.
    let path = scratch.path("rt.jsonl");
    std::fs::write(&path, &bytes).expect("written");
    let file = path.to_str().expect("path");
    let key = service.public_key().to_hex();
    let ok = run_cli(&["audit", "verify", "--export", file, "--public-key", &key]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).starts_with("ok: jsonl"), "{}", text(&ok));
    let replay = run_cli(&["replay", file]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    let other: PublicKey = bayestrial::audit::ServerKey::from_bytes(&[9; 32]).public_key();
    let pinned = run_cli(&[
        "audit",
        "verify",
        "--export",
        file,
        "--public-key",
        &other.to_hex(),
    ]);
    assert_eq!(pinned.status.code(), Some(1), "{}", text(&pinned));
    assert!(text(&pinned).contains("pinned"), "{}", text(&pinned));
    let missing = run_cli(&["audit", "verify", "--export", "/nonexistent/export.jsonl"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let garbage = scratch.path("garbage.jsonl");
    std::fs::write(&garbage, b"not an export\n").expect("written");
    let unreadable = run_cli(&["replay", garbage.to_str().expect("path")]);
    assert_eq!(unreadable.status.code(), Some(2), "{}", text(&unreadable));
}

#[test]
fn a_flipped_byte_in_any_payload_fails_verify_at_that_seq() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "FLIP");
    let original = lines(&export(&service, "FLIP", ExportFormat::Jsonl, true));
    let mut tried = 0;
    for (index, line) in original.iter().enumerate() {
        let ExportLine::Record(record) = parsed(line) else {
            continue;
        };
        // Flip one byte inside the payload: a letter or digit becomes another one.
        let at = line.find("\"payload\":").expect("payload") + 10;
        let offset = line[at..]
            .char_indices()
            .find(|(_, c)| c.is_ascii_alphanumeric())
            .map(|(i, _)| at + i)
            .expect("a byte to flip");
        let mut bytes = line.clone().into_bytes();
        bytes[offset] = match bytes[offset] {
            b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => bytes[offset] + 1,
            other => other - 1,
        };
        let mut tampered = original.clone();
        tampered[index] = String::from_utf8(bytes).expect("UTF-8");
        let report = verified(&join(&tampered));
        let problem = report.problem.expect("the flip is caught");
        assert_eq!(
            (problem.place.as_str(), problem.seq),
            (record.chain.to_string().as_str(), Some(record.seq)),
            "{} seq {}: {problem}",
            record.chain,
            record.seq
        );
        tried += 1;
    }
    assert!(tried > 150, "flipped a byte in each of {tried} records");
}

#[test]
fn a_changed_allocation_with_fixed_up_hashes_is_caught_by_the_signed_checkpoint() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "FORGE");
    let mut lines = lines(&export(&service, "FORGE", ExportFormat::Jsonl, true));
    let seq = seq_of_kind(&lines, "randomised");
    rewrite(&mut lines, "trial:FORGE", seq, |payload| {
        let arm = payload["arm"].as_str().unwrap_or_default().to_owned();
        payload["arm"] = Value::String(if arm == "a" { "b".into() } else { "a".into() });
    });
    let report = verified(&join(&lines));
    let problem = report.problem.expect("caught");
    assert_eq!(problem.place, "trial:FORGE", "{problem}");
    assert!(
        problem.problem.contains("checkpoint") && problem.problem.contains("altered"),
        "the re-hashed chain verifies; its signed checkpoint does not: {problem}"
    );
}

#[test]
fn a_system_record_that_is_not_a_system_event_fails_verification_at_its_seq() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "SYSTEM");
    let mut lines = lines(&export(&service, "SYSTEM", ExportFormat::Jsonl, true));
    let seq = lines
        .iter()
        .find_map(|l| match parsed(l) {
            ExportLine::Record(r) => {
                (r.kind == "signature" && r.chain.is_system()).then_some(r.seq)
            }
            ExportLine::Header(_)
            | ExportLine::Protocol(_)
            | ExportLine::Checkpoint(_)
            | ExportLine::Seed(_) => None,
        })
        .expect("a signature on the system chain");
    // A forger who holds the server key: the signature record gains a field, the system chain
    // is re-hashed and every checkpoint of it signed again, so hashes and signatures all hold.
    let records = rewrite(&mut lines, "system", seq, |payload| {
        payload["witness"] = Value::String("nobody".into());
    });
    let key_hex = std::fs::read_to_string(scratch.path(bayestrial::service::SERVER_KEY_FILE))
        .expect("the server key");
    let key = ServerKey::from_hex(key_hex.trim()).expect("a server key");
    let hash_at = |seq: u64| {
        records
            .iter()
            .find(|(_, r)| r.seq == seq)
            .map(|(_, r)| r.hash)
            .expect("a record at the checkpoint's seq")
    };
    for line in lines.iter_mut() {
        match parsed(line) {
            ExportLine::Checkpoint(c) if c.chain.is_system() => {
                let head = ChainHead {
                    chain: c.chain.clone(),
                    seq: c.seq,
                    hash: hash_at(c.seq),
                };
                let signed =
                    Checkpoint::sign(&key, &head, c.purpose, c.signed_at.clone()).expect("signed");
                *line = serde_json::to_string(&ExportLine::Checkpoint(signed)).expect("JSON");
            }
            ExportLine::Header(mut header) => {
                if let Some(head) = header.system_head.as_mut() {
                    head.hash = hash_at(head.seq);
                }
                *line = serde_json::to_string(&ExportLine::Header(header)).expect("JSON");
            }
            ExportLine::Checkpoint(_)
            | ExportLine::Protocol(_)
            | ExportLine::Record(_)
            | ExportLine::Seed(_) => {}
        }
    }
    let problem = verified(&join(&lines))
        .problem
        .expect("the record is not skipped");
    assert_eq!(
        (problem.place.as_str(), problem.seq),
        ("system", Some(seq)),
        "{problem}"
    );
    assert!(
        problem.problem.contains("not a system event") && problem.problem.contains("witness"),
        "{problem}"
    );
}

#[test]
fn replay_of_an_unsigned_copy_fails_at_the_changed_allocation() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "UNSIGNED");
    let all = lines(&export(&service, "UNSIGNED", ExportFormat::Jsonl, true));
    let lines: Vec<String> = all
        .into_iter()
        .filter(|l| !matches!(parsed(l), ExportLine::Checkpoint(_)))
        .collect();
    // The 30th randomisation (adaptive by then: burn-in 15), changed two ways.
    let seq = lines
        .iter()
        .filter_map(|l| match parsed(l) {
            ExportLine::Record(r) if r.kind == "randomised" => Some(r.seq),
            _ => None,
        })
        .nth(30)
        .expect("30 randomisations");
    let swap_probabilities = |payload: &mut Value| {
        let shares = payload["probabilities"].as_array_mut().expect("shares");
        let p0 = shares[0]["probability"].as_f64().expect("probability");
        let p1 = shares[1]["probability"].as_f64().expect("probability");
        shares[0]["probability"] = serde_json::json!(p1);
        shares[1]["probability"] = serde_json::json!(p0);
    };
    let change_arm = |payload: &mut Value| {
        let arm = payload["arm"].as_str().unwrap_or_default().to_owned();
        payload["arm"] = Value::String(if arm == "a" { "b".into() } else { "a".into() });
    };
    let edits: [&dyn Fn(&mut Value); 2] = [&swap_probabilities, &change_arm];
    for (n, edit) in edits.into_iter().enumerate() {
        let mut copy_lines = lines.clone();
        let mut header: Value = serde_json::from_str(&copy_lines[0]).expect("header");
        let records = rewrite(&mut copy_lines, "trial:UNSIGNED", seq, edit);
        let (_, last) = records.last().expect("records");
        header["trial_head"]["hash"] = Value::String(last.hash.to_hex());
        copy_lines[0] = header.to_string();
        let copy = join(&copy_lines);
        let report = verified(&copy);
        let problem = report.problem.expect("an unsigned copy does not verify");
        assert!(
            problem.problem.contains("no signed checkpoint"),
            "{problem}"
        );
        match replay_export(&copy).expect("readable") {
            ReplayOutcome::Failed(problem) => {
                assert_eq!(problem.seq, Some(seq), "{problem}");
            }
            other => panic!("replay must fail: {other:?}"),
        }
        let path = scratch.path(&format!("unsigned-{n}.jsonl"));
        std::fs::write(&path, &copy).expect("written");
        let out = run_cli(&["replay", path.to_str().expect("path")]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("trial:UNSIGNED seq {seq}:")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_blinded_export_leaves_out_the_seed_and_the_allocation_probabilities() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "BLIND");
    let blinded = export(&service, "BLIND", ExportFormat::Jsonl, false);
    let unblinded = export(&service, "BLIND", ExportFormat::Jsonl, true);
    let text_of = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8");
    let (b, u) = (text_of(&blinded), text_of(&unblinded));
    assert!(
        !b.contains("\"probabilities\"") && !b.contains("\"draw\""),
        "no allocation"
    );
    assert!(!b.contains("\"type\":\"seed\""), "no seed");
    assert!(u.contains("\"probabilities\"") && u.contains("\"type\":\"seed\""));
    let seed = lines(&unblinded)
        .iter()
        .find_map(|l| match parsed(l) {
            ExportLine::Seed(s) => Some(s.seed),
            _ => None,
        })
        .expect("seed line");
    assert!(
        !b.contains(&seed),
        "the seed appears nowhere in the blinded export"
    );

    // A blinded export verifies (the sealed records are held by the chain and the signatures)
    // but cannot be replayed.
    let report = verified(&blinded);
    assert_eq!(report.problem, None, "{report:?}");
    let trial = &report.chains[0];
    assert!(trial.sealed >= 60, "randomisations sealed: {trial:?}");
    assert_eq!(report.chains[1].sealed, 0, "the system chain is not sealed");
    assert!(matches!(
        replay_export(&blinded).expect("readable"),
        ReplayOutcome::Blinded { .. }
    ));
    let path = scratch.path("blinded.jsonl");
    std::fs::write(&path, &blinded).expect("written");
    let out = run_cli(&["replay", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("blinded export"), "{}", text(&out));
    let ok = run_cli(&["audit", "verify", "--export", path.to_str().expect("path")]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("sealed"), "{}", text(&ok));

    // A sealed record's hash is still pinned: changing it breaks the next record's link.
    let mut tampered = lines(&blinded);
    let (index, seq) = tampered
        .iter()
        .enumerate()
        .find_map(|(i, l)| match parsed(l) {
            ExportLine::Record(r) if r.sealed => Some((i, r.seq)),
            _ => None,
        })
        .expect("a sealed record");
    let mut value: Value = serde_json::from_str(&tampered[index]).expect("JSON");
    value["hash"] = Value::String("ab".repeat(32));
    tampered[index] = value.to_string();
    let problem = verified(&join(&tampered)).problem.expect("caught");
    assert_eq!(problem.seq, Some(seq + 1), "{problem}");

    // ODM and CSV: the probabilities only in the unblinded files.
    let odm_b = text_of(&export(&service, "BLIND", ExportFormat::Odm, false));
    let odm_u = text_of(&export(&service, "BLIND", ExportFormat::Odm, true));
    assert!(!odm_b.contains("IT.ALLOC_PROB") && odm_u.contains("IT.ALLOC_PROB"));
    let csv_b = unzip(&export(&service, "BLIND", ExportFormat::Csv, false));
    let csv_u = unzip(&export(&service, "BLIND", ExportFormat::Csv, true));
    let header = |files: &[(String, Vec<u8>)]| {
        let (_, bytes) = files
            .iter()
            .find(|(n, _)| n == "assignments.csv")
            .expect("assignments.csv");
        text_of(bytes).lines().next().unwrap_or_default().to_owned()
    };
    assert!(
        !header(&csv_b).contains("probability"),
        "{}",
        header(&csv_b)
    );
    assert!(
        header(&csv_u).contains("probability,draw"),
        "{}",
        header(&csv_u)
    );
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("entry");
            let mut data = Vec::new();
            file.read_to_end(&mut data).expect("read");
            (file.name().to_owned(), data)
        })
        .collect()
}

fn rezip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("entry");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("zip").into_inner()
}

#[test]
fn the_package_holds_everything_and_its_signed_manifest_catches_changes() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "PKG");
    let package = export(&service, "PKG", ExportFormat::Package, true);
    let files = unzip(&package);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "protocol/version-1.toml",
        "audit.jsonl",
        "odm.xml",
        "csv/participants.csv",
        "csv/assignments.csv",
        "csv/outcomes.csv",
        "csv/looks.csv",
        "summary.html",
        "public-key.hex",
        "MANIFEST.json",
        "MANIFEST.sig",
    ] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    let report = verified(&package);
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.kind, "package");
    assert_eq!(report.files, files.len() - 2);
    assert!(matches!(
        replay_export(&package).expect("readable"),
        ReplayOutcome::Replayed { .. }
    ));
    let key = service.public_key();
    assert_eq!(
        verify_export(&package, Some(&key))
            .expect("readable")
            .problem,
        None
    );

    // A file changed after signing.
    let mut changed = files.clone();
    for (name, data) in changed.iter_mut() {
        if name == "csv/outcomes.csv" {
            data.extend_from_slice(b"999,0,S-999,,,,,,,1,,,,true,\n");
        }
    }
    let problem = verified(&rezip(&changed)).problem.expect("caught");
    assert_eq!(problem.place, "csv/outcomes.csv", "{problem}");
    // The manifest rewritten to match: its signature no longer verifies.
    let mut forged = changed.clone();
    let new_sha = bayestrial::export::sha256_hex(
        &changed
            .iter()
            .find(|(n, _)| n == "csv/outcomes.csv")
            .expect("outcomes")
            .1,
    );
    for (name, data) in forged.iter_mut() {
        if name == "MANIFEST.json" {
            let mut manifest: Value = serde_json::from_slice(data).expect("JSON");
            for file in manifest["files"].as_array_mut().expect("files") {
                if file["path"] == "csv/outcomes.csv" {
                    file["sha256"] = Value::String(new_sha.clone());
                    file["bytes"] = serde_json::json!(file["bytes"].as_u64().unwrap_or(0) + 29);
                }
            }
            *data = serde_json::to_vec_pretty(&manifest).expect("JSON");
        }
    }
    let problem = verified(&rezip(&forged)).problem.expect("caught");
    assert_eq!(problem.place, "MANIFEST.sig", "{problem}");
    // A file slipped in.
    let mut extra = files.clone();
    extra.push(("notes.txt".into(), b"added later".to_vec()));
    let problem = verified(&rezip(&extra)).problem.expect("caught");
    assert_eq!(problem.place, "notes.txt", "{problem}");

    // The command line on the package.
    let path = scratch.path("pkg.zip");
    std::fs::write(&path, &package).expect("written");
    let ok = run_cli(&["audit", "verify", "--export", path.to_str().expect("path")]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let replay = run_cli(&["replay", path.to_str().expect("path")]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
}

#[test]
fn exports_follow_the_roles_and_are_recorded_and_signed() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "ROLES");
    let as_user = |actor: &Actor, unblinded: bool| {
        service.export(
            &Exporter::User(actor.clone()),
            "ROLES",
            ExportFormat::Jsonl,
            unblinded,
        )
    };
    assert!(matches!(
        as_user(&p.coord, false),
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(
        as_user(&p.regulator, true),
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(
        as_user(&p.admin, true),
        Err(ServiceError::Forbidden(_))
    ));
    // Blinded audit roles wait until the trial stops.
    assert!(matches!(
        as_user(&p.regulator, false),
        Err(ServiceError::Conflict(_))
    ));
    let stat = as_user(&p.stat, true).expect("the statistician exports unblinded");
    let dmc = as_user(&p.dmc, false).expect("the DMC exports");
    service
        .close(&p.stat, "ROLES", "enough for the test")
        .expect("closed");
    let regulator = as_user(&p.regulator, false).expect("the regulator exports once stopped");
    let admin = as_user(&p.admin, false).expect("the admin exports once stopped");
    assert!(verified(&regulator.bytes).problem.is_none());

    // Each export is an `export` record on the system chain with the file's SHA-256, and a
    // checkpoint covers it.
    let system = lines(&export(&service, "ROLES", ExportFormat::Jsonl, false));
    let exports: Vec<(u64, Value, String)> = system
        .iter()
        .filter_map(|l| match parsed(l) {
            ExportLine::Record(r) if r.kind == "export" => {
                Some((r.seq, r.payload.expect("payload"), r.actor))
            }
            _ => None,
        })
        .collect();
    for (file, who) in [
        (&stat, "stat"),
        (&dmc, "dmc"),
        (&regulator, "regulator"),
        (&admin, "auditadmin"),
    ] {
        let (seq, payload, actor) = exports
            .iter()
            .find(|(seq, ..)| *seq == file.system_seq)
            .expect("the export's record");
        assert_eq!(actor, who);
        assert_eq!(payload["sha256"], Value::String(file.sha256.clone()));
        assert_eq!(payload["trial"], "ROLES");
        assert_eq!(payload["format"], "jsonl");
        assert_eq!(payload["unblinded"], Value::Bool(who == "stat"));
        assert_eq!(payload["file"], Value::String(file.filename.clone()));
        assert_eq!(file.filename.contains("unblinded"), who == "stat", "{who}");
        assert!(payload["head_seq"].as_u64().is_some());
        assert_eq!(
            bayestrial::export::sha256_hex(&file.bytes),
            file.sha256,
            "{seq}"
        );
    }
    let checkpoints = service.checkpoints(&p.regulator).expect("checkpoints");
    for file in [&stat, &dmc, &regulator, &admin] {
        assert!(
            checkpoints.iter().any(|c| c.chain == "system"
                && c.seq == file.system_seq as i64
                && c.purpose == "export"),
            "a checkpoint covers export record {}",
            file.system_seq
        );
    }
    assert_eq!(service.verify(None).expect("verify").problem, None);

    // `bayestrial export` from the command line, attributed to `command-line` (role server).
    drop(service);
    let out_path = scratch.path("roles.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args([
            "export",
            "--trial",
            "ROLES",
            "--format",
            "odm",
            "--unblinded",
            "--out",
        ])
        .arg(&out_path)
        .args(["--database-url", &scratch.url()])
        .arg("--data-dir")
        .arg(scratch.dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(&out_path).expect("written");
    assert!(xml.contains("IT.ALLOC_PROB"));
    let service = scratch.service();
    let last = lines(&export(&service, "ROLES", ExportFormat::Jsonl, false))
        .iter()
        .rev()
        .find_map(|l| match parsed(l) {
            ExportLine::Record(r) if r.kind == "export" => Some(r),
            _ => None,
        })
        .expect("the CLI's export record");
    assert_eq!(
        (last.actor.as_str(), last.role.as_str()),
        ("command-line", "server")
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args([
            "export", "--trial", "ROLES", "--format", "pdf", "--out", "x",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn n_of_1_exports_hold_measurements_and_patient_looks() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let id = run_demo(&service, &p, Path::new("protocols/nof1-pain.toml"));
    let csv = unzip(&export(&service, &id, ExportFormat::Csv, true));
    let names: Vec<&str> = csv.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "participants.csv",
        "assignments.csv",
        "measurements.csv",
        "patient_looks.csv",
        "series_looks.csv",
    ] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    let measurements = String::from_utf8(
        csv.iter()
            .find(|(n, _)| n == "measurements.csv")
            .expect("measurements")
            .1
            .clone(),
    )
    .expect("UTF-8");
    assert!(measurements.lines().count() > 3 * 28, "{measurements}");
    assert!(measurements.contains(",update,"), "the correction");
    let looks = &csv
        .iter()
        .find(|(n, _)| n == "patient_looks.csv")
        .expect("looks")
        .1;
    assert!(String::from_utf8_lossy(looks).lines().count() >= 4);
    let bytes = export(&service, &id, ExportFormat::Jsonl, true);
    assert_eq!(verified(&bytes).problem, None);
    assert!(matches!(
        replay_export(&bytes).expect("readable"),
        ReplayOutcome::Replayed { .. }
    ));
}

#[test]
fn the_audit_page_offers_every_export_as_a_download() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "WEB");
    drop(service);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
        .args(["--database-url", &scratch.url()])
        .arg("--data-dir")
        .arg(scratch.dir.path())
        .arg("--protocols")
        .arg(scratch.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = BufReader::new(stdout).lines();
    let base = loop {
        let line = out.next().expect("address printed").expect("line");
        if let Some(address) = line.strip_prefix("bayestrial: listening on ") {
            break address.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in out {});
    let result = std::panic::catch_unwind(|| web_downloads(&base));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A logged-in session: its cookie and CSRF token.
struct Session {
    agent: ureq::Agent,
    base: String,
    cookie: String,
    csrf: String,
}

fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).expect("a CSRF field") + marker.len();
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

fn session_cookie(response: &ureq::Response) -> String {
    response
        .all("Set-Cookie")
        .iter()
        .filter_map(|c| c.split(';').next())
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A download's status, `Content-Disposition` and bytes.
fn file_of(response: ureq::Response) -> (u16, String, Vec<u8>) {
    let status = response.status();
    let disposition = response
        .header("Content-Disposition")
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).expect("body");
    (status, disposition, body)
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("HTTP: {e}"),
    }
}

impl Session {
    fn login(base: &str, username: &str) -> Self {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let form = answer(agent.get(&format!("{base}/login")).call());
        let cookie = session_cookie(&form);
        let token = csrf_in(&form.into_string().expect("login page"));
        let done = answer(
            agent
                .post(&format!("{base}/login"))
                .set("Cookie", &cookie)
                .send_form(&[
                    ("username", username),
                    ("password", PASSWORD),
                    ("csrf", &token),
                ]),
        );
        assert_eq!(done.status(), 303, "{username} logs in");
        let cookie = session_cookie(&done);
        let page = answer(
            agent
                .get(&format!("{base}/audit?chain=trial:WEB"))
                .set("Cookie", &cookie)
                .call(),
        );
        assert_eq!(page.status(), 200);
        let html = page.into_string().expect("audit page");
        // The running trial: exportable by those who see results; the others are told why
        // instead of being offered buttons that answer 409.
        let exports = username != "regulator";
        for format in ["odm", "jsonl", "csv", "package"] {
            assert_eq!(
                html.contains(&format!("name=\"format\" value=\"{format}\"")),
                exports,
                "the audit page offers {format} to {username}: {exports}"
            );
        }
        assert_eq!(html.contains("id=\"export-refused\""), !exports, "{html}");
        Self {
            agent,
            base: base.to_owned(),
            cookie,
            csrf: csrf_in(&html),
        }
    }

    fn export(&self, format: &str, unblinded: bool, csrf: bool) -> (u16, String, String, Vec<u8>) {
        let token = if csrf { self.csrf.as_str() } else { "wrong" };
        let mut form = vec![("csrf", token), ("trial", "WEB"), ("format", format)];
        if unblinded {
            form.push(("unblinded", "1"));
        }
        let response = answer(
            self.agent
                .post(&format!("{}/audit/export", self.base))
                .set("Cookie", &self.cookie)
                .send_form(&form),
        );
        let status = response.status();
        let disposition = response
            .header("Content-Disposition")
            .unwrap_or_default()
            .to_owned();
        let sha = response
            .header("X-Content-SHA256")
            .unwrap_or_default()
            .to_owned();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).expect("body");
        (status, disposition, sha, body)
    }

    /// GETs a download: its status, `Content-Disposition` and body.
    /// The trial page's JSON Lines export form.
    fn trial_export(&self, unblinded: bool, csrf: bool) -> (u16, String, Vec<u8>) {
        let token = if csrf { self.csrf.as_str() } else { "wrong" };
        let mut form = vec![("csrf", token)];
        if unblinded {
            form.push(("unblinded", "1"));
        }
        file_of(answer(
            self.agent
                .post(&format!("{}/trials/WEB/export.jsonl", self.base))
                .set("Cookie", &self.cookie)
                .send_form(&form),
        ))
    }

    fn download(&self, path: &str) -> (u16, String, Vec<u8>) {
        file_of(answer(
            self.agent
                .get(&format!("{}{path}", self.base))
                .set("Cookie", &self.cookie)
                .call(),
        ))
    }
}

fn web_downloads(base: &str) {
    let stat = Session::login(base, "stat");
    for (format, file) in [
        ("odm", "odm.xml"),
        ("jsonl", "audit.jsonl"),
        ("csv", "csv.zip"),
        ("package", "package.zip"),
    ] {
        for unblinded in [false, true] {
            let (status, disposition, sha, body) = stat.export(format, unblinded, true);
            assert_eq!(status, 200, "{format}: {}", String::from_utf8_lossy(&body));
            let name = if unblinded {
                format!("WEB-unblinded-{file}")
            } else {
                format!("WEB-{file}")
            };
            assert!(
                disposition.contains(&format!("filename=\"{name}\"")),
                "{disposition}"
            );
            assert_eq!(
                disposition.contains("unblinded"),
                unblinded,
                "{disposition}"
            );
            assert_eq!(sha, bayestrial::export::sha256_hex(&body));
            if format == "jsonl" || format == "package" {
                assert_eq!(verified(&body).problem, None, "{format}");
                assert_eq!(verified(&body).unblinded, unblinded, "{format}");
            }
            if format == "package" {
                let replayed = replay_export(&body).expect("readable");
                if unblinded {
                    assert!(matches!(replayed, ReplayOutcome::Replayed { .. }));
                } else {
                    assert!(matches!(replayed, ReplayOutcome::Blinded { .. }));
                }
            }
        }
    }
    // The JSON Lines form on the trial's page: POST with the CSRF token; a GET (an old link)
    // answers 405 and exports nothing.
    for (unblinded, name) in [
        (false, "WEB-audit.jsonl"),
        (true, "WEB-unblinded-audit.jsonl"),
    ] {
        let (status, disposition, body) = stat.trial_export(unblinded, true);
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        assert!(
            disposition.contains(&format!("filename=\"{name}\"")),
            "{disposition}"
        );
        assert_eq!(verified(&body).unblinded, unblinded);
    }
    let (status, _, body) = stat.trial_export(false, false);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, disposition, body) = stat.download("/trials/WEB/export.jsonl?unblinded=1");
    assert_eq!(status, 405, "{}", String::from_utf8_lossy(&body));
    assert!(disposition.is_empty(), "no file on a GET: {disposition}");
    let (status, ..) = stat.export("odm", false, false);
    assert_eq!(status, 403, "no export without the CSRF token");
    let regulator = Session::login(base, "regulator");
    let (status, ..) = regulator.export("jsonl", true, true);
    assert_eq!(status, 403, "regulators never export unblinded");
    let (status, ..) = regulator.export("jsonl", false, true);
    assert_eq!(status, 409, "regulators export once the trial stops");
}

#[test]
fn export_speed_is_measured() {
    // The figures for 10,000 participants come from `bayestrial bench export` (release build);
    // this runs the same benchmark on a small trial so that it keeps working.
    let scratch = Scratch::new();
    let service = scratch.service();
    let report = bench_export(&service, 120, "test").expect("benchmark runs");
    assert!(report.ok, "{report:?}");
    println!(
        "{} participants, {} records: built in {:.2} s",
        report.participants, report.records, report.build_seconds
    );
    for e in &report.exports {
        println!("export {}: {:.3} s, {} bytes", e.format, e.seconds, e.bytes);
    }
    println!(
        "offline verify jsonl {:.3} s, package {:.3} s; replay {:.3} s",
        report.verify_jsonl_seconds, report.verify_package_seconds, report.replay_seconds
    );
}

#[test]
fn exports_work_on_postgres_too() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Ok(base) = std::env::var("BAYESTRIAL_TEST_POSTGRES") else {
        println!("skipped: set BAYESTRIAL_TEST_POSTGRES to run the exports on PostgreSQL");
        return;
    };
    let name = format!(
        "bt_export_{}_{}",
        std::process::id(),
        Randomness::Os.bytes32()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut admin = diesel::PgConnection::establish(&base).expect("PostgreSQL server");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
    let url = format!("{prefix}/{name}");
    let result = std::panic::catch_unwind(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = ServiceConfig::new(DatabaseUrl::parse(&url).expect("URL"));
        config.data_dir = dir.path().to_path_buf();
        config.clock = Arc::new(SteppingClock::starting_at(1_780_000_000));
        config.randomness = Randomness::seeded(11);
        config.pool_size = 4;
        let service = Service::open(config).expect("service opens");
        let p = people(&service);
        small_trial(&service, &p, "PG");
        for format in ExportFormat::ALL {
            let bytes = export(&service, "PG", format, true);
            if matches!(format, ExportFormat::Jsonl | ExportFormat::Package) {
                assert_eq!(verified(&bytes).problem, None, "{format}");
                assert!(matches!(
                    replay_export(&bytes).expect("readable"),
                    ReplayOutcome::Replayed { .. }
                ));
            }
        }
        let stat = service
            .export(
                &Exporter::User(p.stat.clone()),
                "PG",
                ExportFormat::Odm,
                false,
            )
            .expect("the statistician exports");
        assert!(stat.system_seq > 0);
        assert_eq!(service.verify(None).expect("verify").problem, None);
    });
    drop(admin);
    if let Ok(mut admin) = diesel::PgConnection::establish(&base) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
