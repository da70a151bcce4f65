//! Sealed records and their salts (record format 2, METHODS.md §10), end to end through the
//! service and the exports:
//!
//! - a blinded viewer who enumerates every payload a sealed record could hold and hashes each
//!   with the record's visible fields recovers none of them, while the same enumeration given
//!   the salts of the unblinded export recovers every one it covers (so the enumeration is
//!   right, and only the salt stands in the way);
//! - chains written before salts (record format 1) still verify, continue unsalted, and export
//!   and verify offline, also as a JSON Lines file of format version 1;
//! - a salt removed (a downgrade) or chosen rather than derived from the seed is caught, by the
//!   offline verifier and by `audit verify` on the database.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bayestrial::audit::{
    Attribution, AuditRecord, ChainHead, ChainId, Checkpoint, Salt, ServerKey, UtcTimestamp,
};
use bayestrial::engine::{
    block_probabilities, ArmShare, Engine, EventBody, Origin, TrialSeed, TrialState,
};
use bayestrial::export::{ExportFormat, ExportLine, RecordLine, ReplayOutcome};
use bayestrial::protocol::{ArmId, LoadedProtocol};
use bayestrial::service::{Meaning, SERVER_KEY_FILE};
use bayestrial::store::{self, AuditRow, DatabaseUrl, ProtocolVersionRow, TrialRow};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;

use common::*;

/// The record lines of the trial's chain in an export.
fn trial_lines(bytes: &[u8]) -> Vec<RecordLine> {
    lines(bytes)
        .iter()
        .filter_map(|l| match parsed(l) {
            ExportLine::Record(r) if !r.chain.is_system() => Some(r),
            _ => None,
        })
        .collect()
}

/// The seed an unblinded export reveals.
fn revealed_seed(unblinded: &[u8]) -> TrialSeed {
    lines(unblinded)
        .iter()
        .find_map(|l| match parsed(l) {
            ExportLine::Seed(s) => Some(TrialSeed::from_hex(&s.seed).expect("a seed")),
            _ => None,
        })
        .expect("the seed line")
}

/// Whether `payload` (canonical JSON) with `salt` gives the hash of the sealed `line`, whose
/// other fields are all visible.
fn hashes_to(line: &RecordLine, payload: &str, salt: Option<Salt>) -> bool {
    let record = AuditRecord {
        chain: line.chain.clone(),
        seq: line.seq,
        kind: line.kind.clone(),
        payload: payload.to_owned(),
        actor: line.actor.clone(),
        role: line.role.clone(),
        recorded_at: line.recorded_at.clone(),
        reason: line.reason.clone(),
        salt,
        prev_hash: line.prev_hash,
        hash: line.hash,
    };
    record.compute_hash().expect("hashable") == line.hash
}

/// What a blinded viewer knows when a sealed record comes up: the operational records before
/// it (here, the last participant enrolled).
struct Context {
    last_enrolled: Option<u32>,
}

/// Tries every candidate payload of every sealed record of a blinded export, hashed with the
/// record's visible fields and with the salt `salts` gives for its seq (none for a blinded
/// viewer). Returns the number of candidates tried and the payloads recovered, by seq.
fn attack(
    blinded: &[RecordLine],
    salts: &BTreeMap<u64, Salt>,
    candidates: impl Fn(&RecordLine, &Context) -> Vec<String>,
) -> (usize, BTreeMap<u64, String>) {
    let mut context = Context {
        last_enrolled: None,
    };
    let mut tried = 0;
    let mut recovered = BTreeMap::new();
    for line in blinded {
        if line.kind == "participant_enrolled" {
            context.last_enrolled = line
                .payload
                .as_ref()
                .and_then(|p| p.get("participant"))
                .and_then(Value::as_u64)
                .map(|p| u32::try_from(p).expect("a participant number"));
        }
        if !line.sealed {
            continue;
        }
        let salt = salts.get(&line.seq).copied();
        for payload in candidates(line, &context) {
            tried += 1;
            if hashes_to(line, &payload, salt) {
                recovered.insert(line.seq, payload);
            }
        }
    }
    (tried, recovered)
}

/// The salts an unblinded export holds, by seq.
fn salts_of(unblinded: &[RecordLine]) -> BTreeMap<u64, Salt> {
    unblinded
        .iter()
        .filter_map(|l| l.salt.map(|s| (l.seq, s)))
        .collect()
}

/// The true payloads of the trial's records, by seq, from the unblinded export.
fn payloads_of(unblinded: &[RecordLine]) -> BTreeMap<u64, String> {
    unblinded
        .iter()
        .map(|l| {
            let record = l.to_record().expect("encodes").expect("unblinded");
            (l.seq, record.payload)
        })
        .collect()
}

/// Checks the layout of a blinded export against the unblinded one: exactly the records the
/// engine classifies as sealed are sealed; they carry neither payload nor salt; every other
/// record of the (salted) trial chain carries its payload and its salt.
fn check_blinded_layout(blinded: &[RecordLine], unblinded: &[RecordLine]) -> usize {
    assert_eq!(blinded.len(), unblinded.len());
    let mut sealed = 0;
    for (b, u) in blinded.iter().zip(unblinded) {
        let event = u
            .to_record()
            .expect("encodes")
            .expect("unblinded")
            .to_event()
            .expect("an engine event");
        assert_eq!(
            b.sealed,
            event.body.disclosure().is_sealed(),
            "seq {} ({})",
            b.seq,
            b.kind
        );
        assert!(
            u.salt.is_some(),
            "seq {}: the unblinded export has every salt",
            u.seq
        );
        if b.sealed {
            sealed += 1;
            assert!(b.payload.is_none() && b.salt.is_none(), "seq {}", b.seq);
        } else {
            assert!(b.payload.is_some(), "seq {}", b.seq);
            assert_eq!(
                b.salt, u.salt,
                "seq {}: operational records keep their salt",
                b.seq
            );
        }
    }
    sealed
}

/// Every order of `items`.
fn permutations(items: &[String]) -> Vec<Vec<String>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

fn canonical_body(body: &EventBody) -> String {
    bayestrial::audit::canonical(body).expect("encodable")
}

#[test]
fn no_sealed_n_of_1_cycle_is_recovered_from_a_blinded_export_but_all_are_with_the_salts() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let source = std::fs::read_to_string("protocols/nof1-pain.toml").expect("demo protocol");
    assert!(source.contains("sequence = \"pairs\""), "a pairs design");
    let blinded_source = source.replacen(
        "design = \"nof1\"\n",
        "design = \"nof1\"\nblinded = true\n",
        1,
    );
    assert_ne!(blinded_source, source);
    let file = scratch.path("nof1-pain-blinded.toml");
    std::fs::write(&file, &blinded_source).expect("written");
    let id = run_demo(&service, &p, &file);
    let loaded = LoadedProtocol::from_toml(&blinded_source, "copy").expect("valid");
    assert!(loaded.protocol.trial.blinded);
    let spec = loaded.protocol.nof1.as_ref().expect("n-of-1");

    let blinded_bytes = export(&service, &id, ExportFormat::Jsonl, false);
    let unblinded_bytes = export(&service, &id, ExportFormat::Jsonl, true);
    assert_eq!(verified(&blinded_bytes).problem, None);
    assert_eq!(verified(&unblinded_bytes).problem, None);
    let blinded = trial_lines(&blinded_bytes);
    let unblinded = trial_lines(&unblinded_bytes);
    let sealed = check_blinded_layout(&blinded, &unblinded);
    let seed = revealed_seed(&unblinded_bytes);

    // Every candidate: any patient, any cycle, every order of the treatments, without the draw
    // and with the draw exactly as the engine writes it (which a blinded viewer could not even
    // know: it comes from the seed).
    let patients = blinded
        .iter()
        .filter(|l| l.kind == "participant_enrolled")
        .count() as u32;
    assert_eq!(patients, 3);
    let orders = permutations(&spec.treatments);
    assert_eq!(orders.len(), 2, "AB and BA");
    let candidates = |line: &RecordLine, _: &Context| -> Vec<String> {
        if line.kind != "nof1_cycle_assigned" {
            return Vec::new();
        }
        let mut out = Vec::new();
        for participant in 0..patients {
            for cycle in 1..=spec.cycles {
                for order in &orders {
                    for draw in [None, Some(seed.draw(line.seq))] {
                        out.push(canonical_body(&EventBody::Nof1CycleAssigned {
                            participant,
                            cycle,
                            treatments: order
                                .iter()
                                .map(|t| ArmId::parse(t).expect("arm id"))
                                .collect(),
                            probabilities: None,
                            draw,
                        }));
                    }
                }
            }
        }
        out
    };

    let cycles: Vec<u64> = blinded
        .iter()
        .filter(|l| l.kind == "nof1_cycle_assigned")
        .map(|l| l.seq)
        .collect();
    assert_eq!(cycles.len() as u32, patients * spec.cycles, "every cycle");
    assert!(sealed > cycles.len(), "the patients' looks are sealed too");

    let (tried, recovered) = attack(&blinded, &BTreeMap::new(), candidates);
    assert!(tried >= cycles.len() * 48, "{tried} candidates tried");
    assert!(
        recovered.is_empty(),
        "a blinded viewer recovered sealed records: {recovered:?}"
    );

    // The same enumeration with the salts (as a format-1 record, without one, would allow):
    // every cycle is recovered, as the payload it is.
    let (_, recovered) = attack(&blinded, &salts_of(&unblinded), candidates);
    println!(
        "n-of-1: {sealed} sealed records, {tried} candidates: none recovered blinded, {} of {} \
         cycles with the salts",
        recovered.len(),
        cycles.len()
    );
    let truth = payloads_of(&unblinded);
    assert_eq!(
        recovered.keys().copied().collect::<Vec<_>>(),
        cycles,
        "with the salts every cycle is recovered"
    );
    for (seq, payload) in &recovered {
        assert_eq!(Some(payload), truth.get(seq), "seq {seq}");
    }
}

#[test]
fn no_sealed_platform_record_is_recovered_from_a_blinded_export_but_all_enumerable_are_with_the_salts(
) {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "SEALED");
    let loaded = LoadedProtocol::from_toml(&platform_protocol("SEALED"), "test").expect("valid");
    let blinded_bytes = export(&service, "SEALED", ExportFormat::Jsonl, false);
    let unblinded_bytes = export(&service, "SEALED", ExportFormat::Jsonl, true);
    assert_eq!(verified(&blinded_bytes).problem, None);
    let blinded = trial_lines(&blinded_bytes);
    let unblinded = trial_lines(&unblinded_bytes);
    check_blinded_layout(&blinded, &unblinded);
    let seed = revealed_seed(&unblinded_bytes);

    // The arm-level candidates: a randomisation of the participant just enrolled to any arm,
    // with any state of the permuted block (the probabilities the engine's own block rule
    // gives), the engine's draw, in the block phase; a stop with any one arm left. Adaptive
    // probabilities, posteriors and decision probabilities are not enumerable.
    let arms: Vec<ArmId> = loaded.protocol.arms.iter().map(|a| a.id.clone()).collect();
    let ratios: Vec<u32> = loaded.protocol.arms.iter().map(|a| a.ratio).collect();
    let multiple = loaded.protocol.allocation.block_multiple.max(1);
    let mut blocks: Vec<Vec<f64>> = Vec::new();
    let mut used = vec![0_u32; arms.len()];
    loop {
        let mut shares = vec![0.0; arms.len()];
        block_probabilities(&ratios, &used, multiple, &mut shares);
        blocks.push(shares);
        // The next block state (an odometer over 0..=ratio·multiple per arm).
        let mut i = 0;
        while i < used.len() {
            used[i] += 1;
            if used[i] <= ratios[i] * multiple {
                break;
            }
            used[i] = 0;
            i += 1;
        }
        if i == used.len() {
            break;
        }
    }
    let candidates = |line: &RecordLine, context: &Context| -> Vec<String> {
        match line.kind.as_str() {
            "randomised" => {
                let participant = context.last_enrolled.expect("enrolled before randomised");
                let mut out = Vec::new();
                for arm in &arms {
                    for shares in &blocks {
                        out.push(canonical_body(&EventBody::Randomised {
                            participant,
                            arm: arm.clone(),
                            probabilities: arms
                                .iter()
                                .zip(shares)
                                .map(|(a, &probability)| ArmShare {
                                    arm: a.clone(),
                                    probability,
                                })
                                .collect(),
                            draw: seed.draw(line.seq),
                            phase: bayestrial::engine::RandomisationPhase::Block,
                        }));
                    }
                }
                out
            }
            "trial_stopped" => arms
                .iter()
                .map(|arm| {
                    canonical_body(&EventBody::TrialStopped {
                        reason: bayestrial::engine::StopReason::OneArmLeft { arm: arm.clone() },
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    };

    let (tried, recovered) = attack(&blinded, &BTreeMap::new(), candidates);
    assert!(tried > 60 * arms.len(), "{tried} candidates tried");
    assert!(
        recovered.is_empty(),
        "a blinded viewer recovered sealed records: {recovered:?}"
    );

    // With the salts, every sealed record whose true payload is enumerable is recovered: the
    // randomisations of the burn-in (block phase).
    let truth = payloads_of(&unblinded);
    let enumerable: Vec<u64> = unblinded
        .iter()
        .filter(|l| {
            l.payload.as_ref().is_some_and(|p| {
                (l.kind == "randomised" && p["phase"] == "block")
                    || (l.kind == "trial_stopped" && p["cause"] == "one_arm_left")
            })
        })
        .map(|l| l.seq)
        .collect();
    assert!(enumerable.len() >= 15, "the burn-in: {enumerable:?}");
    let (_, recovered) = attack(&blinded, &salts_of(&unblinded), candidates);
    println!(
        "platform: {} sealed records, {tried} candidates: none recovered blinded, {} of {} \
         enumerable with the salts",
        blinded.iter().filter(|l| l.sealed).count(),
        recovered.len(),
        enumerable.len()
    );
    assert_eq!(recovered.keys().copied().collect::<Vec<_>>(), enumerable);
    for (seq, payload) in &recovered {
        assert_eq!(Some(payload), truth.get(seq), "seq {seq}");
    }
}

/// Opens the scratch database directly (what the service stores, without the service).
fn store_conn(scratch: &Scratch) -> store::PooledConn {
    let url = DatabaseUrl::parse(&scratch.url()).expect("URL");
    store::open_pool(&url, 1)
        .expect("pool")
        .get()
        .expect("connection")
}

#[test]
fn a_chain_written_before_salts_still_verifies_continues_unsalted_and_exports() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let id = "LEGACY";
    service
        .create_trial(&p.stat, &platform_protocol(id), "test")
        .expect("created");
    service
        .sign(&p.approver, id, Meaning::Approval, PASSWORD)
        .expect("approved");

    // The trial is started the way the program did before salts: each engine event appended
    // with `AuditRecord::append` (no salt), the engine's decisions attributed to `system`.
    let mut conn = store_conn(&scratch);
    let trial = TrialRow::find(&mut conn, id).expect("read").expect("trial");
    let version = ProtocolVersionRow::find(&mut conn, id, 1)
        .expect("read")
        .expect("version 1");
    let loaded = LoadedProtocol::from_toml(&version.source, "version 1").expect("valid");
    let seed = TrialSeed::from_hex(&trial.seed_hex).expect("seed");
    let mut engine = Engine::new(&loaded.protocol, seed);
    let mut state = TrialState::new(&loaded.protocol).expect("state");
    let events = engine
        .start(&mut state, &loaded.hash.to_hex())
        .expect("start");
    let chain = ChainId::trial(id).expect("chain");
    let at = UtcTimestamp::parse("2026-06-01T09:00:00Z").expect("time");
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut due_after = 0;
    for event in &events {
        let by = match event.body.origin() {
            Origin::Input => {
                due_after = event.seq;
                Attribution {
                    actor: "stat".into(),
                    role: "statistician".into(),
                    recorded_at: at.clone(),
                    reason: None,
                }
            }
            Origin::Answer => Attribution {
                actor: "stat".into(),
                role: "statistician".into(),
                recorded_at: at.clone(),
                reason: None,
            },
            Origin::Decision => Attribution::system(at.clone(), due_after),
        };
        let record = AuditRecord::append(
            records.last(),
            chain.clone(),
            event.body.kind(),
            &event.body,
            &by,
        )
        .expect("the old way");
        assert!(!record.hashed_text().expect("text").contains("\"salt\""));
        records.push(record);
    }
    let rows: Vec<AuditRow> = records
        .iter()
        .map(|r| AuditRow {
            chain: r.chain.to_string(),
            seq: r.seq as i64,
            kind: r.kind.clone(),
            payload: r.payload.clone(),
            actor: r.actor.clone(),
            role: r.role.clone(),
            recorded_at: r.recorded_at.as_str().to_owned(),
            reason: r.reason.clone(),
            prev_hash: r.prev_hash.to_hex(),
            hash: r.hash.to_hex(),
            salt: None,
        })
        .collect();
    AuditRow::append(&mut conn, &rows).expect("stored");
    drop(conn);
    // Written without checkpoints, as before every command signed its head. `serve` signs the
    // heads of a database written before checkpoints were linked once, at its first start, and
    // only then: here the users' records were checkpointed with links already, so nothing is.
    assert_eq!(
        service.cover_heads_of_old_chains().expect("checked"),
        Vec::<String>::new()
    );
    // As the old program left such a database: it signed checkpoints at looks and exports
    // only, so none of these records has one (and none is linked).
    diesel::SqliteConnection::establish(&scratch.url())
        .expect("sqlite")
        .batch_execute("DROP TRIGGER checkpoints_no_delete; DELETE FROM checkpoints")
        .expect("as the old program left it");
    let upgraded = service.cover_heads_of_old_chains().expect("signed");
    assert!(upgraded.contains(&format!("trial:{id}")), "{upgraded:?}");
    assert!(upgraded.contains(&"system".to_owned()), "{upgraded:?}");
    assert_eq!(
        service.cover_heads_of_old_chains().expect("checked"),
        Vec::<String>::new(),
        "once only"
    );
    assert_eq!(service.verify(None).expect("verify").problem, None);

    // The service goes on with the chain in its format: no salts.
    for i in 0..30_u32 {
        let subject = format!("L-{i:03}");
        service
            .enrol(&p.coord, id, &subject, None)
            .expect("enrolled");
        service
            .record_outcome(
                &p.coord,
                id,
                &subject,
                bayestrial::engine::OutcomeValue::Binary {
                    response: i % 3 == 0,
                },
                None,
            )
            .expect("outcome");
    }
    assert_eq!(service.verify(None).expect("verify").problem, None);
    let unblinded_bytes = export(&service, id, ExportFormat::Jsonl, true);
    let unblinded = trial_lines(&unblinded_bytes);
    assert!(unblinded.len() > 60 + events.len());
    assert!(
        unblinded.iter().all(|l| l.salt.is_none()),
        "format 1 throughout"
    );
    assert!(unblinded.iter().any(|l| l.kind == "look_performed"));
    let report = verified(&unblinded_bytes);
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.chains[0].record_format, 1);
    assert!(matches!(
        bayestrial::export::replay_export(&unblinded_bytes).expect("readable"),
        ReplayOutcome::Replayed { .. }
    ));
    let blinded_bytes = export(&service, id, ExportFormat::Jsonl, false);
    let report = verified(&blinded_bytes);
    assert_eq!(report.problem, None, "{report:?}");
    assert!(report.chains[0].sealed > 30);
    let package = export(&service, id, ExportFormat::Package, false);
    assert_eq!(verified(&package).problem, None);

    // The same records as a JSON Lines file of format version 1, as the program wrote it
    // before salts: blinded, with only the records that carry allocation probabilities sealed,
    // a randomisation's participant and arm `disclosed`, and no seed.
    let mut old = Vec::new();
    let mut sealed = 0;
    for line in lines(&unblinded_bytes) {
        let mut value: Value = serde_json::from_str(&line).expect("JSON");
        match value["type"].as_str() {
            Some("seed") => continue,
            Some("record")
                if value["chain"] != "system"
                    && (value["kind"] == "randomised" || value["kind"] == "allocation_updated") =>
            {
                let payload = value["payload"].clone();
                let map = value.as_object_mut().expect("object");
                map.remove("payload");
                map.insert("sealed".into(), Value::Bool(true));
                if payload["kind"] == "randomised" {
                    map.insert(
                        "disclosed".into(),
                        serde_json::json!({
                            "participant": payload["participant"],
                            "arm": payload["arm"],
                        }),
                    );
                }
                sealed += 1;
            }
            _ => {}
        }
        old.push(value.to_string());
    }
    let mut header: Value = serde_json::from_str(&old[0]).expect("header");
    header["format_version"] = Value::from(1);
    header["unblinded"] = Value::Bool(false);
    header["sealed_records"] = Value::from(sealed);
    old[0] = header.to_string();
    let report = verified(&join(&old));
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.chains[0].sealed, sealed);
}

/// Re-signs, with the server's key, every checkpoint of `chain` at or after `from` over the
/// records as they now are, and updates the header's head: a forger who holds the server's
/// key (or the server itself).
fn resign(lines: &mut [String], key: &ServerKey, chain: &str, from: u64) {
    let hashes: BTreeMap<u64, bayestrial::audit::Hash> = chain_records(lines, chain)
        .into_iter()
        .map(|(_, r)| (r.seq, r.hash))
        .collect();
    for line in lines.iter_mut() {
        if let ExportLine::Checkpoint(c) = parsed(line) {
            if c.chain.to_string() == chain && c.seq >= from {
                let head = ChainHead {
                    chain: c.chain.clone(),
                    seq: c.seq,
                    hash: hashes[&c.seq],
                };
                let signed =
                    Checkpoint::sign(key, &head, c.purpose, c.signed_at.clone()).expect("signs");
                *line = serde_json::to_string(&ExportLine::Checkpoint(signed)).expect("JSON");
            }
        }
    }
    let last = hashes.iter().next_back().expect("records");
    let mut header: Value = serde_json::from_str(&lines[0]).expect("header");
    header["trial_head"]["hash"] = Value::String(last.1.to_hex());
    lines[0] = header.to_string();
}

#[test]
fn a_removed_or_chosen_salt_is_caught_offline_and_in_the_database() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "SALTS");
    let chain = "trial:SALTS";
    let unblinded = lines(&export(&service, "SALTS", ExportFormat::Jsonl, true));
    assert_eq!(verified(&join(&unblinded)).problem, None);
    assert_eq!(verified(&join(&unblinded)).chains[0].record_format, 2);
    let k = 12;

    // A salt removed from its line: a downgrade, found at that seq.
    let mut stripped = unblinded.clone();
    let index = stripped
        .iter()
        .position(|l| matches!(parsed(l), ExportLine::Record(r) if r.chain.to_string() == chain && r.seq == k))
        .expect("record k");
    let mut value: Value = serde_json::from_str(&stripped[index]).expect("JSON");
    value.as_object_mut().expect("object").remove("salt");
    stripped[index] = value.to_string();
    let problem = verified(&join(&stripped)).problem.expect("caught");
    assert_eq!(
        (problem.place.as_str(), problem.seq),
        (chain, Some(k)),
        "{problem}"
    );
    assert!(problem.problem.contains("downgraded"), "{problem}");
    // Also when the chain is re-hashed without it and the checkpoints are signed again.
    let key = ServerKey::from_hex(
        std::fs::read_to_string(scratch.dir.path().join(SERVER_KEY_FILE))
            .expect("server key")
            .trim(),
    )
    .expect("key");
    let mut rehashed = unblinded.clone();
    rewrite_records(&mut rehashed, chain, k, |r| r.salt = None);
    resign(&mut rehashed, &key, chain, k);
    let problem = verified(&join(&rehashed)).problem.expect("caught");
    assert_eq!(
        (problem.place.as_str(), problem.seq),
        (chain, Some(k)),
        "{problem}"
    );
    assert!(problem.problem.contains("downgraded"), "{problem}");

    // A chosen salt, with every hash and checkpoint made consistent: only the seed tells.
    let mut chosen = unblinded.clone();
    rewrite_records(&mut chosen, chain, k, |r| {
        r.salt = Some(Salt::from_bytes([7; 32]));
    });
    resign(&mut chosen, &key, chain, k);
    let problem = verified(&join(&chosen)).problem.expect("caught");
    assert_eq!(
        (problem.place.as_str(), problem.seq),
        (chain, Some(k)),
        "{problem}"
    );
    assert!(
        problem
            .problem
            .contains("not the one the trial's seed derives"),
        "{problem}"
    );
    // The same file without its seed claims to be unblinded and cannot be checked.
    let seedless: Vec<String> = chosen
        .iter()
        .filter(|l| !matches!(parsed(l), ExportLine::Seed(_)))
        .cloned()
        .collect();
    let problem = verified(&join(&seedless)).problem.expect("caught");
    assert!(problem.problem.contains("holds no seed"), "{problem}");

    // In the database: the head's salt replaced by a chosen one and its hash made consistent
    // is caught by `audit verify` (which holds the seed); a salt set to NULL is a downgrade.
    let mut conn = store_conn(&scratch);
    let head = AuditRow::head(&mut conn, chain)
        .expect("read")
        .expect("head");
    let head_seq = head.seq as u64;
    let mut record = bayestrial::audit::AuditRecord {
        chain: chain.parse().expect("chain"),
        seq: head_seq,
        kind: head.kind.clone(),
        payload: head.payload.clone(),
        actor: head.actor.clone(),
        role: head.role.clone(),
        recorded_at: UtcTimestamp::parse(&head.recorded_at).expect("time"),
        reason: head.reason.clone(),
        salt: Some(Salt::from_bytes([9; 32])),
        prev_hash: head.prev_hash.parse().expect("hash"),
        hash: head.hash.parse().expect("hash"),
    };
    record.hash = record.compute_hash().expect("hash");
    drop(conn);
    let tamper = |sql: &str| {
        let mut raw = diesel::SqliteConnection::establish(&scratch.url()).expect("SQLite");
        raw.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS audit_events_no_update; {sql}"
        ))
        .expect("tampered");
    };
    tamper(&format!(
        "UPDATE audit_events SET salt = '{}', hash = '{}' WHERE chain = '{chain}' AND seq = {head_seq}",
        record.salt.expect("salt").to_hex(),
        record.hash.to_hex()
    ));
    let problem = service
        .verify(Some("SALTS"))
        .expect("verify")
        .problem
        .expect("caught");
    assert_eq!(
        (problem.chain.as_str(), problem.seq),
        (chain, head_seq),
        "{problem}"
    );
    assert!(
        problem
            .problem
            .contains("not the one the trial's seed derives"),
        "{problem}"
    );
    tamper(&format!(
        "UPDATE audit_events SET salt = NULL WHERE chain = '{chain}' AND seq = {k}"
    ));
    let problem = service
        .verify(Some("SALTS"))
        .expect("verify")
        .problem
        .expect("caught");
    assert_eq!(
        (problem.chain.as_str(), problem.seq),
        (chain, k),
        "{problem}"
    );
    assert!(problem.problem.contains("downgraded"), "{problem}");
}

#[test]
fn a_blinded_package_seals_its_audit_records_and_verifies() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let id = run_demo(&service, &p, Path::new("protocols/nof1-pain.toml"));
    let package = export(&service, &id, ExportFormat::Package, false);
    let report = verified(&package);
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.kind, "package");
    let trial = &report.chains[0];
    assert_eq!(trial.record_format, 2);
    assert!(trial.sealed > 0);
    assert!(matches!(
        bayestrial::export::replay_export(&package).expect("readable"),
        ReplayOutcome::Blinded { .. }
    ));
    let unblinded = export(&service, &id, ExportFormat::Package, true);
    assert_eq!(verified(&unblinded).problem, None);
    assert!(matches!(
        bayestrial::export::replay_export(&unblinded).expect("readable"),
        ReplayOutcome::Replayed { .. }
    ));
}

#[test]
fn no_sealed_record_is_recovered_from_the_regulators_feed_but_all_cycles_are_with_the_salts() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    let source = std::fs::read_to_string("protocols/nof1-pain.toml").expect("demo protocol");
    let blinded_source = source.replacen(
        "design = \"nof1\"\n",
        "design = \"nof1\"\nblinded = true\n",
        1,
    );
    let file = scratch.path("nof1-pain-feed.toml");
    std::fs::write(&file, &blinded_source).expect("written");
    let id = run_demo(&service, &p, &file);
    let loaded = LoadedProtocol::from_toml(&blinded_source, "copy").expect("valid");
    let spec = loaded.protocol.nof1.as_ref().expect("n-of-1");

    // The regulator's feed of the running trial: sealed records show neither their kind nor
    // their payload nor their salt; every other record shows its salt.
    let feed = service
        .trial_events(&p.regulator, &id, 0)
        .expect("the regulator reads the feed");
    let sealed: Vec<_> = feed.iter().filter(|e| e.sealed).collect();
    assert!(
        !sealed.is_empty(),
        "a running blinded trial has sealed records"
    );
    for entry in &feed {
        if entry.sealed {
            assert_eq!(entry.kind, "sealed", "{entry:?}");
            assert!(entry.salt.is_none(), "{entry:?}");
            assert!(!entry.payload.contains('{'), "{entry:?}");
        } else {
            assert!(entry.salt.is_some(), "{entry:?}");
        }
    }
    let patients = feed
        .iter()
        .filter(|e| e.kind == "participant_enrolled")
        .count() as u32;
    let orders = permutations(&spec.treatments);
    let unblinded_bytes = export(&service, &id, ExportFormat::Jsonl, true);
    let unblinded = trial_lines(&unblinded_bytes);
    let seed = revealed_seed(&unblinded_bytes);
    let salts = salts_of(&unblinded);
    // The feed's sealed records as lines: the attacker guesses the kind with the payload.
    let lines: Vec<RecordLine> = sealed
        .iter()
        .map(|e| RecordLine {
            chain: e.chain.parse().expect("chain"),
            seq: e.seq as u64,
            kind: "nof1_cycle_assigned".to_owned(),
            actor: e.actor.clone(),
            role: e.role.clone(),
            recorded_at: bayestrial::audit::UtcTimestamp::parse(&e.recorded_at).expect("time"),
            reason: e.reason.clone(),
            prev_hash: e.prev_hash.parse().expect("hash"),
            hash: e.hash.parse().expect("hash"),
            payload: None,
            salt: None,
            sealed: true,
        })
        .collect();
    let candidates = |line: &RecordLine, _: &Context| -> Vec<String> {
        let mut out = Vec::new();
        for participant in 0..patients {
            for cycle in 1..=spec.cycles {
                for order in &orders {
                    for draw in [None, Some(seed.draw(line.seq))] {
                        out.push(canonical_body(&EventBody::Nof1CycleAssigned {
                            participant,
                            cycle,
                            treatments: order
                                .iter()
                                .map(|t| ArmId::parse(t).expect("arm id"))
                                .collect(),
                            probabilities: None,
                            draw,
                        }));
                    }
                }
            }
        }
        out
    };
    let (tried, recovered) = attack(&lines, &BTreeMap::new(), candidates);
    assert!(
        recovered.is_empty(),
        "the regulator recovered sealed records from the feed: {recovered:?}"
    );
    let cycles = unblinded
        .iter()
        .filter(|l| l.kind == "nof1_cycle_assigned")
        .count();
    let (_, recovered) = attack(&lines, &salts, candidates);
    println!(
        "feed: {} sealed records, {tried} candidates: none recovered without salts, {} of {cycles} \
         cycles with them",
        sealed.len(),
        recovered.len()
    );
    assert_eq!(
        recovered.len(),
        cycles,
        "with the salts every cycle is recovered"
    );
}

#[test]
fn an_export_refuses_to_sign_a_chain_that_verifies_but_does_not_replay() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let p = people(&service);
    small_trial(&service, &p, "REPLAY-1");
    let chain = "trial:REPLAY-1";

    // A tamperer with the database and the server key: one randomisation gets another arm,
    // every later record is re-hashed and every checkpoint re-signed, so the chain verifies.
    let mut conn = store_conn(&scratch);
    let rows = AuditRow::after(&mut conn, chain, 0).expect("records");
    let checkpoints = store::CheckpointRow::of_chain(&mut conn, chain).expect("checkpoints");
    drop(conn);
    let target = rows
        .iter()
        .position(|r| r.kind == "randomised")
        .expect("a randomisation");
    let mut records: Vec<AuditRecord> = rows
        .iter()
        .map(|r| AuditRecord {
            chain: r.chain.parse().expect("chain"),
            seq: r.seq as u64,
            kind: r.kind.clone(),
            payload: r.payload.clone(),
            actor: r.actor.clone(),
            role: r.role.clone(),
            recorded_at: UtcTimestamp::parse(&r.recorded_at).expect("time"),
            reason: r.reason.clone(),
            salt: r.salt.as_deref().map(|s| s.parse().expect("salt")),
            prev_hash: r.prev_hash.parse().expect("hash"),
            hash: r.hash.parse().expect("hash"),
        })
        .collect();
    let mut payload: Value = serde_json::from_str(&records[target].payload).expect("JSON");
    let arm = payload["arm"].as_str().expect("arm").to_owned();
    let other = ["control", "a", "b"]
        .into_iter()
        .find(|a| *a != arm)
        .expect("another arm");
    payload["arm"] = Value::String(other.to_owned());
    records[target].payload = bayestrial::audit::canonical_json(&payload).expect("canonical");
    for i in target..records.len() {
        if i > 0 {
            records[i].prev_hash = records[i - 1].hash;
        }
        records[i].hash = records[i].compute_hash().expect("hash");
    }
    let key_hex = std::fs::read_to_string(scratch.path(SERVER_KEY_FILE)).expect("server key");
    let key = bayestrial::audit::ServerKey::from_hex(&key_hex).expect("key");
    let mut sql = String::from(
        "DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS checkpoints_no_update;",
    );
    for record in &records[target..] {
        sql.push_str(&format!(
            "UPDATE audit_events SET payload = '{}', prev_hash = '{}', hash = '{}' WHERE chain = '{chain}' AND seq = {};",
            record.payload,
            record.prev_hash.to_hex(),
            record.hash.to_hex(),
            record.seq
        ));
    }
    for row in &checkpoints {
        let seq = row.seq as u64;
        let Some(head) = records.iter().find(|r| r.seq == seq) else {
            continue;
        };
        let purpose: bayestrial::audit::Purpose =
            serde_json::from_value(Value::String(row.purpose.clone())).expect("purpose");
        let signed = bayestrial::audit::Checkpoint::sign(
            &key,
            &bayestrial::audit::ChainHead {
                chain: chain.parse().expect("chain"),
                seq,
                hash: head.hash,
            },
            purpose,
            UtcTimestamp::parse(&row.signed_at).expect("time"),
        )
        .expect("signed");
        sql.push_str(&format!(
            "UPDATE checkpoints SET head_hash = '{}', signature = '{}', previous = NULL WHERE chain = '{chain}' AND seq = {seq} AND purpose = '{}';",
            signed.head_hash.to_hex(),
            signed.signature.to_hex(),
            row.purpose
        ));
    }
    let mut raw = diesel::SqliteConnection::establish(&scratch.url()).expect("SQLite");
    raw.batch_execute(&sql).expect("tampered");
    drop(raw);

    // The hashes and signatures hold; only the engine can tell.
    let fresh = scratch.service();
    let report = fresh.verify(Some("REPLAY-1")).expect("verify");
    assert_eq!(report.problem, None, "the tampered chain still verifies");
    let refused = fresh.export(
        &bayestrial::service::Exporter::User(p.stat.clone()),
        "REPLAY-1",
        ExportFormat::Jsonl,
        true,
    );
    let message = match refused {
        Err(e) => e.to_string(),
        Ok(_) => panic!("an export signed a chain that does not replay"),
    };
    assert!(
        message.contains("does not replay")
            && message.contains(&format!("seq {}", records[target].seq)),
        "{message}"
    );
}
