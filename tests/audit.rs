//! Black-box tests of the audit trail on a real trial: the engine's events are chained into
//! audit records with fixed timestamps, then the chain is tampered with in every way a database
//! administrator could, and each tampering must be caught at the record (or checkpoint) where it
//! happened.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::path::Path;

use bayestrial::audit::{
    canonical, verify_chain, verify_checkpoints, Attribution, AuditRecord, BreakKind, ChainHead,
    ChainId, Checkpoint, CheckpointProblem, Hash, Purpose, ServerKey, UtcTimestamp,
};
use bayestrial::engine::{replay, Engine, Event, EventBody, OutcomeValue, TrialSeed, TrialState};
use bayestrial::protocol::LoadedProtocol;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const SEED: u64 = 2026;

/// A fake clock: the n-th command happens n seconds after 09:00 on 1 March 2026.
fn at(n: u32) -> UtcTimestamp {
    let text = format!(
        "2026-03-01T{:02}:{:02}:{:02}Z",
        9 + n / 3600,
        n / 60 % 60,
        n % 60
    );
    UtcTimestamp::parse(&text).expect("valid timestamp")
}

fn by(actor: &str, role: &str, n: u32) -> Attribution {
    Attribution {
        actor: actor.into(),
        role: role.into(),
        recorded_at: at(n),
        reason: None,
    }
}

struct Trial {
    protocol: LoadedProtocol,
    events: Vec<Event>,
    records: Vec<AuditRecord>,
    state: TrialState,
}

/// Starts the three-arm trial, enrols 100 participants and records each outcome right after
/// enrolment (so the first look, at 90 outcomes, happens), chaining every command's events.
fn run_trial() -> Trial {
    let protocol = LoadedProtocol::load(Path::new("protocols/three-arm-pbest.toml"))
        .expect("the demo protocol is valid");
    let chain = ChainId::trial(&protocol.protocol.trial.id).expect("trial id");
    let mut engine = Engine::new(&protocol.protocol, TrialSeed::from_u64(SEED));
    let mut state = TrialState::new(&protocol.protocol).expect("state");
    let mut events = Vec::new();
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut clock = 0;
    let chain_up = |records: &mut Vec<AuditRecord>, new: &[Event], who: &Attribution| {
        let appended =
            AuditRecord::from_events(records.last(), &chain, new, who, &TrialSeed::from_u64(SEED))
                .expect("events chain up");
        records.extend(appended);
    };

    let started = engine
        .start(&mut state, &protocol.hash.to_hex())
        .expect("start");
    chain_up(&mut records, &started, &by("stat", "statistician", clock));
    events.extend(started);
    for i in 0..100_u32 {
        if !state.is_running() {
            break;
        }
        let subject = format!("S{i:03}");
        clock += 7;
        let enrolled = engine.enrol(&mut state, &subject).expect("enrol");
        chain_up(&mut records, &enrolled, &by("coord", "coordinator", clock));
        events.extend(enrolled);
        clock += 5;
        let value = OutcomeValue::Binary {
            response: i % 3 == 0 || i % 7 == 0,
        };
        let recorded = engine
            .record_outcome(&mut state, &subject, value)
            .expect("outcome");
        chain_up(&mut records, &recorded, &by("coord", "coordinator", clock));
        events.extend(recorded);
    }
    Trial {
        protocol,
        events,
        records,
        state,
    }
}

fn server_key(seed: u64) -> ServerKey {
    ServerKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn head_at(records: &[AuditRecord], seq: u64) -> ChainHead {
    let record = &records[seq as usize - 1];
    ChainHead {
        chain: record.chain.clone(),
        seq: record.seq,
        hash: record.hash,
    }
}

fn break_of(records: &[AuditRecord]) -> (u64, BreakKind) {
    let broken = verify_chain(records).expect_err("tampering must be detected");
    (broken.seq, broken.problem)
}

/// The sequence number of the first record of `kind` after `after`.
fn first_of(records: &[AuditRecord], kind: &str, after: u64) -> u64 {
    records
        .iter()
        .find(|r| r.kind == kind && r.seq > after)
        .map(|r| r.seq)
        .expect("such a record exists")
}

/// Re-hashes every record from index `from` on, as a forger with database access would.
fn rehash_from(records: &mut [AuditRecord], from: usize) {
    for i in from..records.len() {
        if i > 0 {
            records[i].prev_hash = records[i - 1].hash;
        }
        records[i].hash = records[i].compute_hash().expect("hashable");
    }
}

#[test]
fn a_real_trial_chains_verifies_and_reads_back_as_its_events() {
    let trial = run_trial();
    assert_eq!(trial.records.len(), trial.events.len());
    assert!(trial.records.iter().any(|r| r.kind == "look_performed"));
    assert!(trial.records.iter().any(|r| r.kind == "allocation_updated"));

    let head = verify_chain(&trial.records)
        .expect("an untouched chain verifies")
        .expect("it is not empty");
    assert_eq!(head.seq, trial.events.len() as u64);
    assert_eq!(head.hash, trial.records[trial.records.len() - 1].hash);
    assert_eq!(head.chain.trial_id(), Some("PBEST-3ARM"));

    for (record, event) in trial.records.iter().zip(&trial.events) {
        assert_eq!(record.seq, event.seq);
        assert_eq!(record.kind, event.body.kind());
        assert_eq!(record.payload, canonical(&event.body).expect("encodable"));
        assert_eq!(&record.to_event().expect("reads back"), event);
    }
    let read_back: Vec<Event> = trial
        .records
        .iter()
        .map(|r| r.to_event().expect("reads back"))
        .collect();
    let folded = TrialState::fold(&trial.protocol.protocol, &read_back).expect("fold");
    assert_eq!(folded, trial.state);
    replay(
        &trial.protocol.protocol,
        TrialSeed::from_u64(SEED),
        &read_back,
    )
    .expect("the audit trail replays");

    // The seed commitment is the first record.
    match &read_back[0].body {
        EventBody::TrialStarted {
            seed_commitment, ..
        } => assert_eq!(seed_commitment, &TrialSeed::from_u64(SEED).commitment()),
        other => panic!("first event is {other:?}"),
    }

    // The same trial gives the same chain, byte for byte.
    assert_eq!(run_trial().records, trial.records);
}

#[test]
fn each_tampering_is_caught_at_its_record() {
    let records = run_trial().records;
    let k = first_of(&records, "randomised", 20);
    let i = k as usize - 1;

    // Flip one byte of a payload (a digit of the draw).
    let mut edited = records.clone();
    let mut bytes = edited[i].payload.clone().into_bytes();
    let digit = bytes
        .iter()
        .rposition(u8::is_ascii_digit)
        .expect("a number in the payload");
    bytes[digit] = if bytes[digit] == b'9' {
        b'8'
    } else {
        bytes[digit] + 1
    };
    edited[i].payload = String::from_utf8(bytes).expect("still UTF-8");
    assert!(matches!(
        break_of(&edited),
        (seq, BreakKind::HashMismatch { .. }) if seq == k
    ));

    // Change a hash.
    let mut edited = records.clone();
    let mut raw = *edited[i].hash.as_bytes();
    raw[0] ^= 1;
    edited[i].hash = Hash::from_bytes(raw);
    assert!(matches!(
        break_of(&edited),
        (seq, BreakKind::HashMismatch { .. }) if seq == k
    ));

    // Change a hash and the next record's link to it.
    edited[i + 1].prev_hash = edited[i].hash;
    assert!(matches!(
        break_of(&edited),
        (seq, BreakKind::HashMismatch { .. }) if seq == k
    ));

    // Delete a row.
    let mut edited = records.clone();
    edited.remove(i);
    assert_eq!(
        break_of(&edited),
        (k, BreakKind::SequenceGap { found: k + 1 })
    );

    // Swap two rows.
    let mut edited = records.clone();
    edited.swap(i, i + 1);
    assert_eq!(
        break_of(&edited),
        (k, BreakKind::OutOfOrder { found: k + 1 })
    );

    // A record of another trial's chain mixed in, with this chain's numbering and link.
    let mut edited = records.clone();
    let other = ChainId::trial("OTHER-TRIAL").expect("trial id");
    edited[i].chain = other.clone();
    edited[i].hash = edited[i].compute_hash().expect("hashable");
    assert_eq!(
        break_of(&edited),
        (k, BreakKind::WrongChain { found: other })
    );
}

#[test]
fn a_rewritten_allocation_is_caught_by_a_checkpoint_signed_before_the_edit() {
    let trial = run_trial();
    let records = trial.records;
    let server = server_key(1);
    let trusted = server.public_key();

    // Checkpoints as the live service signs them: at the look, and at an export of the end.
    let look = first_of(&records, "look_performed", 0);
    let at_look = Checkpoint::sign(&server, &head_at(&records, look), Purpose::Look, at(5000))
        .expect("signs");
    let last = records.len() as u64;
    let at_export = Checkpoint::sign(&server, &head_at(&records, last), Purpose::Export, at(6000))
        .expect("signs");
    let checkpoints = [at_look.clone(), at_export.clone()];
    assert_eq!(verify_checkpoints(&records, &checkpoints, &trusted), Ok(()));

    // Change one participant's arm before the look and re-hash everything after it.
    let k = first_of(&records, "randomised", 30);
    assert!(k < look);
    let i = k as usize - 1;
    let mut rewritten = records.clone();
    let mut event = rewritten[i].to_event().expect("an event");
    match &mut event.body {
        EventBody::Randomised {
            arm, probabilities, ..
        } => {
            let other = probabilities
                .iter()
                .find(|share| share.arm != *arm)
                .expect("another arm")
                .arm
                .clone();
            *arm = other;
        }
        other => panic!("not a randomisation: {other:?}"),
    }
    rewritten[i].payload = canonical(&event.body).expect("encodable");
    rehash_from(&mut rewritten, i);

    // The chain alone cannot tell…
    let head = verify_chain(&rewritten)
        .expect("a consistently re-hashed chain verifies")
        .expect("not empty");
    assert_eq!(head.seq, last);
    // …but the checkpoint signed at the look, before the edit, can.
    let caught = verify_checkpoints(&rewritten, &checkpoints, &trusted)
        .expect_err("the checkpoint catches the rewrite");
    assert_eq!(caught.seq, look);
    assert!(matches!(
        caught.problem,
        CheckpointProblem::HeadMismatch { .. }
    ));
    // (And replaying the trial from its seed catches it too: the draw does not give that arm.)
    let read_back: Vec<Event> = rewritten
        .iter()
        .map(|r| r.to_event().expect("reads back"))
        .collect();
    let mismatch = replay(
        &trial.protocol.protocol,
        TrialSeed::from_u64(SEED),
        &read_back,
    )
    .expect_err("replay catches the rewrite");
    assert_eq!(mismatch.seq, k);

    // A checkpoint signed before the edited record does not cover it.
    let early = Checkpoint::sign(&server, &head_at(&records, k - 1), Purpose::Manual, at(1))
        .expect("signs");
    assert_eq!(verify_checkpoints(&rewritten, &[early], &trusted), Ok(()));
}

#[test]
fn a_tail_cut_after_a_checkpoint_is_caught() {
    let records = run_trial().records;
    let server = server_key(2);
    let look = first_of(&records, "look_performed", 0);
    let checkpoint = Checkpoint::sign(&server, &head_at(&records, look), Purpose::Look, at(9000))
        .expect("signs");
    let cut = &records[..look as usize - 3];
    assert!(verify_chain(cut).is_ok(), "a cut chain is still a chain");
    let caught = verify_checkpoints(cut, std::slice::from_ref(&checkpoint), &server.public_key())
        .expect_err("the cut is detected");
    assert_eq!(caught.seq, look);
    assert_eq!(caught.signed_at, at(9000));
    assert_eq!(
        caught.problem,
        CheckpointProblem::ChainCut { last_seq: look - 3 }
    );
    // Cut down to nothing.
    assert_eq!(
        verify_checkpoints(&[], &[checkpoint], &server.public_key())
            .expect_err("detected")
            .problem,
        CheckpointProblem::ChainCut { last_seq: 0 }
    );
}

#[test]
fn a_checkpoint_signed_by_another_key_is_rejected() {
    let records = run_trial().records;
    let server = server_key(3);
    let intruder = server_key(4);
    let head = head_at(&records, records.len() as u64);
    let forged = Checkpoint::sign(&intruder, &head, Purpose::Export, at(100)).expect("signs");
    assert_eq!(
        verify_checkpoints(
            &records,
            std::slice::from_ref(&forged),
            &server.public_key()
        )
        .expect_err("rejected")
        .problem,
        CheckpointProblem::UntrustedKey {
            found: intruder.public_key()
        }
    );
    // Naming the trusted key does not help: the signature does not verify with it.
    let mut disguised = forged;
    disguised.public_key = server.public_key();
    assert_eq!(
        verify_checkpoints(&records, &[disguised], &server.public_key())
            .expect_err("rejected")
            .problem,
        CheckpointProblem::BadSignature
    );
}
