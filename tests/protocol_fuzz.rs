//! Seeded fuzzing of the protocol language: the shipped protocols in `protocols/` (and the
//! precision designs of `tests/protocols/`), mutated
//! (lines deleted, duplicated, swapped or moved; numbers replaced by extremes such as 0, -1,
//! 2147483647, 1e308 and NaN; huge and hostile strings; truncation; byte flips), go through
//! parse and validate and, when they validate, a 5-replicate simulation in process.
//!
//! Each case must not panic, must take under [`CASE_LIMIT`], and a protocol that validates must
//! simulate without an error. The crashers found so far are kept in
//! `tests/protocols/fuzz-corpus/` and replayed first. A failing generated case is written to
//! the test's temporary folder, with its seed and case number, so that it can join the corpus.
//!
//! `BAYESTRIAL_FUZZ_SEED` and `BAYESTRIAL_FUZZ_CASES` change the seed (default fixed, so every
//! run is the same) and the number of cases (default 2,000).

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bayestrial::protocol::Protocol;
use bayestrial::sim::{simulate_scenario, Selection, SimScenario, SimulationPlan};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The most time one case may take (parse, validate and, when valid, simulate).
const CASE_LIMIT: Duration = Duration::from_secs(2);

/// The most time reading one megabyte of hostile text may take in the test profile (the
/// item count refuses such files before the TOML reader builds anything: well under 0.1 s).
const MEGABYTE_LIMIT: Duration = CASE_LIMIT;

/// Replicates simulated for a protocol that validates.
const REPS: u64 = 5;

/// Values that a number in a protocol is replaced by.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "7",
    "65",
    "1000000",
    "1000001",
    "2147483647",
    "-2147483648",
    "4294967296",
    "9223372036854775807",
    "1e308",
    "-1e308",
    "1e-308",
    "5e-324",
    "0.5",
    "0.999999",
    "nan",
    "inf",
    "-inf",
    "-0.0",
    "\"\"",
    "[]",
    "{}",
    "true",
];

/// Strings that a string value is replaced by.
fn hostile_strings() -> Vec<String> {
    vec![
        "x".repeat(100_000),
        "a/b?c#d".into(),
        "S\u{200b}001".into(),
        "\u{202e}evil".into(),
        "..".into(),
        "tab\there".into(),
        "\\u0000".into(),
        "é".repeat(300),
        String::new(),
        " ".into(),
    ]
}

/// What one case did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// The TOML reader or validation refused it.
    Refused,
    /// It validated and simulated.
    Simulated,
}

/// Parses, validates and, when valid, simulates `text` (one scenario, chosen by `pick`).
fn run_case(text: &str, pick: usize) -> Result<Reached, String> {
    let protocol = match Protocol::from_toml(text, "fuzz.toml") {
        Ok(protocol) => protocol,
        Err(errors) if errors.is_empty() => return Err("refused with no error".into()),
        Err(_) => return Ok(Reached::Refused),
    };
    if protocol.scenarios.is_empty() {
        return Ok(Reached::Refused);
    }
    let scenario = &protocol.scenarios[pick % protocol.scenarios.len()];
    let plan = SimulationPlan {
        scenario: SimScenario::from_protocol(&protocol, &scenario.name, &[])
            .map_err(|e| format!("scenario {}: {e}", scenario.name))?,
        reps: REPS,
        seed: 11,
        threads: 1,
        selection: Selection::BestRemaining,
    };
    let simulated = simulate_scenario(&protocol, "fuzz", &plan, &|| {});
    simulated.map_err(|e| format!("validated, then simulate failed: {e}"))?;
    Ok(Reached::Simulated)
}

/// Runs one case with a panic guard and a clock; an error names what went wrong.
fn guarded(text: &str, pick: usize) -> (Result<Reached, String>, Duration) {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| run_case(text, pick))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".into());
        Err(format!("panicked: {message}"))
    });
    let elapsed = started.elapsed();
    let outcome = match outcome {
        Ok(_) if elapsed > CASE_LIMIT => Err(format!("took {elapsed:?} (limit {CASE_LIMIT:?})")),
        other => other,
    };
    (outcome, elapsed)
}

/// The `.toml` files of a folder of the repository, by file name, read as (lossy) UTF-8.
fn toml_files(folder: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{folder}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).expect("read a protocol");
            (name, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// A random position in `line` where a value starts (after `= ` or inside an array), if any.
fn value_span(line: &str, rng: &mut ChaCha8Rng) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut starts = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let starts_number = (b.is_ascii_digit() || b == b'-' || b == b'"')
            && (i == 0 || matches!(bytes[i - 1], b' ' | b'[' | b'=' | b','));
        if starts_number {
            starts.push(i);
        }
    }
    let &start = starts.choose(rng)?;
    let end = if bytes[start] == b'"' {
        line[start + 1..]
            .find('"')
            .map_or(line.len(), |j| start + j + 2)
    } else {
        line[start..]
            .find([',', ']', '}', ' '])
            .map_or(line.len(), |j| start + j)
    };
    Some((start, end))
}

/// One mutation of `text`.
fn mutate(text: &str, others: &[(String, String)], rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match rng.gen_range(0..10) {
        0 => {
            lines.remove(rng.gen_range(0..n));
        }
        1 => {
            let i = rng.gen_range(0..n);
            let line = lines[i].clone();
            lines.insert(rng.gen_range(0..=n), line);
        }
        2 => lines.swap(rng.gen_range(0..n), rng.gen_range(0..n)),
        3 | 4 => {
            let i = rng.gen_range(0..n);
            if let Some((start, end)) = value_span(&lines[i], rng) {
                let extreme = EXTREMES.choose(rng).copied().unwrap_or("0");
                lines[i].replace_range(start..end, extreme);
            }
        }
        5 => {
            let i = rng.gen_range(0..n);
            if let Some(start) = lines[i].find('"') {
                let end = lines[i][start + 1..]
                    .find('"')
                    .map_or(lines[i].len(), |j| start + j + 2);
                let strings = hostile_strings();
                let s = strings.choose(rng).cloned().unwrap_or_default();
                lines[i].replace_range(start..end, &format!("{s:?}"));
            }
        }
        6 => {
            let mut cut = rng.gen_range(0..=text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_owned();
        }
        7 => {
            let mut bytes = text.as_bytes().to_vec();
            for _ in 0..rng.gen_range(1..4) {
                if bytes.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..bytes.len());
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        8 => {
            // A line from another shipped protocol.
            if let Some((_, other)) = others.choose(rng) {
                let other: Vec<&str> = other.lines().collect();
                if let Some(line) = other.choose(rng) {
                    lines.insert(rng.gen_range(0..=n), (*line).to_owned());
                }
            }
        }
        _ => {
            // A block of lines repeated many times (many arms, scenarios or looks).
            let i = rng.gen_range(0..n);
            let j = (i + rng.gen_range(1..6)).min(n);
            let block = lines[i..j].to_vec();
            for _ in 0..rng.gen_range(2..80) {
                lines.extend(block.iter().cloned());
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_corpus_of_former_crashers_is_refused_or_simulates() {
    let corpus = toml_files("tests/protocols/fuzz-corpus");
    assert!(!corpus.is_empty(), "the corpus keeps the crashers found");
    let mut failures = Vec::new();
    for (name, text) in &corpus {
        for pick in 0..3 {
            if let (Err(e), _) = guarded(text, pick) {
                failures.push(format!("{name} (scenario pick {pick}): {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mutated_shipped_protocols_never_panic_and_stay_fast() {
    let shipped = toml_files("protocols");
    assert!(shipped.len() >= 2, "the shipped protocols are found");
    let counts = fuzz_from(&shipped, "BAYESTRIAL_FUZZ_SEED", 20_261_207, 2_000);
    assert!(
        counts.simulated > 0 && counts.refused > 0,
        "the mutations reach both outcomes"
    );
}

/// The precision designs of `tests/protocols/` and `protocols/`, mutated the same way: parse and validate never
/// panic and stay fast, and a mutant that validates simulates without an error.
#[test]
fn mutated_precision_protocols_never_panic_and_stay_fast() {
    let bases: Vec<(String, String)> = toml_files("tests/protocols")
        .into_iter()
        .chain(toml_files("protocols"))
        .filter(|(name, _)| name.starts_with("precision-"))
        .collect();
    assert!(bases.len() >= 2, "the precision fixtures are found");
    let counts = fuzz_from(&bases, "BAYESTRIAL_FUZZ_SEED", 20_261_208, 1_000);
    assert!(counts.refused > 0 && counts.simulated > 0, "{counts:?}");
}

/// How the cases of one fuzz run ended.
#[derive(Debug)]
struct Counts {
    refused: u64,
    simulated: u64,
}

/// `cases` mutants of `bases` (seed from `seed_variable`, else `seed`; the count from
/// `BAYESTRIAL_FUZZ_CASES`, else `cases`), each guarded; a failing case is saved to the test's
/// temporary folder and fails the test.
fn fuzz_from(bases: &[(String, String)], seed_variable: &str, seed: u64, cases: u64) -> Counts {
    let seed = env_number(seed_variable, seed);
    let cases = env_number("BAYESTRIAL_FUZZ_CASES", cases);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut counts = Counts {
        refused: 0,
        simulated: 0,
    };
    let mut slowest = (Duration::ZERO, String::new());
    let mut failures = Vec::new();
    for case in 0..cases {
        let (name, base) = &bases[rng.gen_range(0..bases.len())];
        let mut text = mutate(base, bases, &mut rng);
        for _ in 0..rng.gen_range(0..3) {
            text = mutate(&text, bases, &mut rng);
        }
        let pick = rng.gen_range(0..4);
        let (outcome, elapsed) = guarded(&text, pick);
        let label = format!("case {case} of seed {seed} (from {name})");
        if elapsed > slowest.0 {
            slowest = (elapsed, label.clone());
        }
        match outcome {
            Ok(Reached::Refused) => counts.refused += 1,
            Ok(Reached::Simulated) => counts.simulated += 1,
            Err(e) => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashers");
                std::fs::create_dir_all(&dir).expect("crasher folder");
                let path = dir.join(format!("seed{seed}-case{case}.toml"));
                std::fs::write(&path, &text).expect("write crasher");
                failures.push(format!("{label}: {e} (input saved as {})", path.display()));
            }
        }
    }
    eprintln!(
        "protocol fuzz: {cases} cases in {:.1} s ({} refused, {} simulated); slowest {:.3} s ({})",
        started.elapsed().as_secs_f64(),
        counts.refused,
        counts.simulated,
        slowest.0.as_secs_f64(),
        slowest.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    counts
}

#[test]
fn a_megabyte_of_hostile_text_is_read_within_a_second() {
    let (_, base) = toml_files("protocols")
        .into_iter()
        .find(|(name, _)| name == "platform-binary-4arm.toml")
        .expect("a shipped platform protocol");
    let fill = |unit: &str, prefix: &str, suffix: &str| {
        let room = (1 << 20) - prefix.len() - suffix.len() - base.len() - 1;
        format!("{base}\n{prefix}{}{suffix}", unit.repeat(room / unit.len()))
    };
    let inputs = [
        (
            "nested arrays",
            fill("[", "[[scenario]]\nname = \"x\"\ntruth = ", ""),
        ),
        (
            "nested tables",
            fill("{a=", "[[scenario]]\nname = \"x\"\ntruth = ", ""),
        ),
        ("arms", fill("[[arm]]\nid=\"z\"\n", "", "")),
        ("scenarios", fill("[[scenario]]\nname=\"s\"\n", "", "")),
        ("a long string", fill("x", "[[scenario]]\nname = \"", "\"")),
        (
            "a look list of the same look",
            base.replace(
                "looks = { first = 100, every = 100 }",
                &format!(
                    "looks = [{}1]",
                    "1,".repeat(((1 << 20) - base.len() - 20) / 2)
                ),
            ),
        ),
        (
            "a prior of many values",
            fill("2,", "[[arm]]\nid = \"q\"\nprior = { beta = [", "1] }"),
        ),
        ("comments", fill("#\n", "", "")),
    ];
    for (what, text) in &inputs {
        assert!(text.len() <= 1 << 20, "{what}: {} bytes", text.len());
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(text, 0)));
        let elapsed = started.elapsed();
        assert!(matches!(outcome, Ok(Ok(_))), "{what}: {outcome:?}");
        assert!(elapsed < MEGABYTE_LIMIT, "{what}: {elapsed:?}");
        eprintln!("{what}: {elapsed:?}");
    }
}
