//! Every shipped protocol is valid, and every broken protocol fails with the expected message at
//! the expected place.
//!
//! A broken protocol's first line is `# expect: LINE:COL: <part of the message>`; the error
//! output must contain `{path}:{LINE}:{COL}:` and, on the same line, the message part.

use std::fs;
use std::path::{Path, PathBuf};

use bayestrial::protocol::{LoadedProtocol, Protocol};

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    files.retain(|p| p.extension().is_some_and(|ext| ext == "toml"));
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_protocols_are_valid_and_have_scenarios_to_simulate() {
    let files = toml_files(&root().join("protocols"));
    assert!(
        files.len() >= 5,
        "expected at least 5 protocols, found {files:?}"
    );
    for path in files {
        let loaded = match LoadedProtocol::load(&path) {
            Ok(loaded) => loaded,
            Err(errors) => panic!("{} is invalid:\n{errors}", path.display()),
        };
        let scenarios = &loaded.protocol.scenarios;
        assert!(
            scenarios.len() >= 2,
            "{} needs a null and an alternative scenario",
            path.display()
        );
        for scenario in scenarios {
            assert_eq!(scenario.truth.len(), loaded.protocol.arms.len());
        }
    }
}

#[test]
fn broken_protocols_fail_where_their_first_line_says() {
    let files = toml_files(&root().join("tests/protocols/broken"));
    assert!(
        files.len() >= 10,
        "expected at least 10 broken protocols, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let first = text.lines().next().unwrap_or_default();
        let Some(expect) = first.strip_prefix("# expect: ") else {
            failures.push(format!(
                "{}: first line must be `# expect: LINE:COL: text`",
                path.display()
            ));
            continue;
        };
        let mut parts = expect.splitn(3, ':');
        let (Some(line), Some(col), Some(needle)) = (parts.next(), parts.next(), parts.next())
        else {
            failures.push(format!(
                "{}: cannot read the expectation {expect:?}",
                path.display()
            ));
            continue;
        };
        let location = format!("{}:{}:{}:", path.display(), line.trim(), col.trim());
        let needle = needle.trim();
        match Protocol::load(path) {
            Ok(_) => failures.push(format!(
                "{}: loaded, but should fail with {expect:?}",
                path.display()
            )),
            Err(errors) => {
                let output = errors.to_string();
                let found = output
                    .lines()
                    .any(|l| l.starts_with(&location) && l.contains(needle));
                if !found {
                    failures.push(format!(
                        "{}: expected a line starting {location:?} containing {needle:?}, got:\n{output}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The shipped I-SPY-2-like precision design (`protocols/precision-ispy2.toml`): 3 biomarkers make 8 subtypes, 7 eligible; 10 signatures as
/// I-SPY 2 named them; veliparib only in HER2-negative subtypes; each scenario's truth and
/// prevalence per stratum as its subgroups and shares say.
#[test]
fn the_ispy2_like_precision_design_expands_as_written() {
    let path = root().join("protocols/precision-ispy2.toml");
    let protocol = Protocol::load(&path).unwrap_or_else(|e| panic!("valid: {e}"));
    let precision = protocol.precision.as_ref().expect("a precision design");
    assert_eq!(precision.strata.len(), 7);
    assert!(precision
        .strata
        .iter()
        .all(|s| s.label != "HR=pos HER2=neg MP=low"));
    assert_eq!(precision.signatures.len(), 10);
    let strata_of = |id: &str| -> Vec<&str> {
        let signature = precision
            .signatures
            .iter()
            .find(|g| g.id == id)
            .unwrap_or_else(|| panic!("signature {id}"));
        signature
            .strata
            .iter()
            .map(|s| precision.strata[s].label.as_str())
            .collect()
    };
    assert_eq!(
        strata_of("triple-negative"),
        ["HR=neg HER2=neg MP=high", "HR=neg HER2=neg MP=low"]
    );
    assert_eq!(strata_of("hr-pos-her2-neg"), ["HR=pos HER2=neg MP=high"]);
    assert_eq!(strata_of("all").len(), 7);
    let veliparib = protocol
        .arms
        .iter()
        .position(|a| a.id.as_str() == "veliparib")
        .expect("veliparib");
    let eligible: Vec<&str> = precision.arm_strata[veliparib]
        .iter()
        .map(|s| precision.strata[s].label.as_str())
        .collect();
    assert_eq!(
        eligible,
        [
            "HR=pos HER2=neg MP=high",
            "HR=neg HER2=neg MP=high",
            "HR=neg HER2=neg MP=low"
        ]
    );
    // Veliparib's "all" is its HER2-negative subtypes, its "HR-negative" the triple-negative
    // ones and its "HR-positive" the HR+/HER2- one: each is assessed once, in the signature
    // with the fewest strata.
    let assessed: Vec<&str> = precision
        .assessed_signatures(veliparib)
        .into_iter()
        .map(|(g, _)| precision.signatures[g].id.as_str())
        .collect();
    assert_eq!(
        assessed,
        ["her2-neg", "hr-pos-her2-neg", "triple-negative", "mp-high"]
    );
    assert_eq!(
        precision.assessed_signatures(1).len(),
        10,
        "neratinib: every signature"
    );
    assert_eq!(precision.max_per_arm, Some(120));
    let her2 = &protocol.scenarios[1];
    let strata = her2.strata.as_ref().expect("scenario strata");
    let neratinib = protocol
        .arms
        .iter()
        .position(|a| a.id.as_str() == "neratinib")
        .expect("neratinib");
    for (s, stratum) in precision.strata.iter().enumerate() {
        let (control, effect) = match (stratum.levels[0], stratum.levels[1]) {
            (_, 0) => (0.35, 0.70),
            (1, 1) => (0.25, 0.25),
            _ => (0.15, 0.15),
        };
        assert_eq!(strata.truth[0][s], control, "{}", stratum.label);
        assert_eq!(strata.truth[neratinib][s], effect, "{}", stratum.label);
    }
    assert!((strata.prevalence.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(strata.prevalence[0], 0.25 / 4.0);
}
