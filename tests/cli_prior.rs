//! `bayestrial prior map` and `bayestrial prior ess` as a user runs them: the protocol line, the
//! JSON keys, and the exit codes and `FILE:LINE` messages of bad input.

#[path = "common/cli.rs"]
mod cli;

use cli::{bayestrial, csv_file, json, path, stderr};

/// RBesT's `AS` data (Baeten et al. 2013), as in RBesT's vignette "Getting started with RBesT
/// (binary)".
const AS: &str = "study,responders,n\nStudy 1,23,107\nStudy 2,12,44\nStudy 3,19,51\nStudy 4,9,39\n\
                  Study 5,39,139\nStudy 6,6,20\nStudy 7,9,78\nStudy 8,10,35\n";

/// RBesT's printed 4-component MAP prior for AS (vignette "Getting started with RBesT
/// (binary)", `print(map)`).
const AS_MAP: &str = "0.4612914:33.9513487:103.0146367,0.1917812:19.4400089:41.5205219,\
                      0.1893896:12.2692310:55.9202833,0.1575378:2.2521243:5.4812202";

#[test]
fn ess_of_rbest_as_map_by_three_methods() {
    // RBesT vignette "Getting started with RBesT (binary)": elir 38, moment 24, morita 95.
    for (method, want) in [("elir", 38.0), ("moment", 24.0), ("morita", 95.0)] {
        let v = json(&bayestrial(&[
            "prior",
            "ess",
            "--mixture",
            AS_MAP,
            "--method",
            method,
            "--json",
        ]));
        assert_eq!(v["method"], method);
        assert_eq!(v["ess"].as_f64().expect("ess").round(), want, "{method}");
    }
    // Robustified with weight 0.2 (Beta(1, 1)): ELIR 27.
    let robust = "0.36903312:33.9513487:103.0146367,0.15342496:19.4400089:41.5205219,\
                  0.15151168:12.2692310:55.9202833,0.12603024:2.2521243:5.4812202,0.2:1:1";
    let v = json(&bayestrial(&[
        "prior",
        "ess",
        "--mixture",
        robust,
        "--json",
    ]));
    assert_eq!(v["ess"].as_f64().expect("ess").round(), 27.0);
}

#[test]
fn ess_of_normal_and_gamma_mixtures() {
    let v = json(&bayestrial(&[
        "prior",
        "ess",
        "--family",
        "normal",
        "--sigma",
        "10",
        "--mixture",
        "1:0:2",
        "--json",
    ]));
    assert!((v["ess"].as_f64().expect("ess") - 25.0).abs() < 1e-9);
    let v = json(&bayestrial(&[
        "prior",
        "ess",
        "--family",
        "gamma",
        "--method",
        "moment",
        "--mixture",
        "1:20:4",
        "--json",
    ]));
    assert!((v["ess"].as_f64().expect("ess") - 4.0).abs() < 1e-9);
}

#[test]
fn ess_refuses_bad_mixtures_naming_the_component() {
    let out = bayestrial(&["prior", "ess", "--mixture", "0.5:1:1,0.4:2:2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("weights sum to 0.9"),
        "{}",
        stderr(&out)
    );
    let out = bayestrial(&["prior", "ess", "--mixture", "0.5:1:1,0.5:0:2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("component 2"), "{}", stderr(&out));
    let out = bayestrial(&["prior", "ess", "--mixture", "0.5:1:1,0.5:x:2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("component 2: \"x\" is not a number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn map_on_as_prints_a_protocol_line_and_its_summary() {
    let file = csv_file(AS);
    let v = json(&bayestrial(&[
        "prior",
        "map",
        "--historical",
        path(&file),
        "--robust",
        "0.2",
        "--json",
    ]));
    let protocol = v["protocol"].as_str().expect("protocol");
    assert!(
        protocol.starts_with("prior = { mixture = [ { weight = "),
        "{protocol}"
    );
    assert!(
        protocol.ends_with("{ weight = 0.2, beta = [1, 1] } ] }"),
        "{protocol}"
    );
    // The exact predictive against RBesT's MCMC summary (mean 0.255, sd 0.0864): see
    // tests/ess_map_reference.rs for the tolerance.
    let mean = v["predictive"]["mean"].as_f64().expect("mean");
    let sd = v["predictive"]["sd"].as_f64().expect("sd");
    assert!(
        (mean - 0.255).abs() < 0.005 && (sd - 0.0864).abs() < 0.005,
        "{mean} {sd}"
    );
    let ess = v["ess_elir"].as_f64().expect("ess");
    assert!(ess > 20.0 && ess < 35.0, "{ess}");
    assert!(v["tau"]["median"].as_f64().expect("tau") > 0.3);
    let table = bayestrial(&[
        "prior",
        "map",
        "--historical",
        path(&file),
        "--components",
        "2",
    ]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("2 fitted component(s)") && text.contains("ESS (ELIR)"),
        "{text}"
    );
}

#[test]
fn map_on_normal_data_with_sd_and_n() {
    // RBesT's Crohn's disease data (Hueber et al. 2012), σ = 88.
    let file = csv_file(
        "study,mean,sd,n\nGastr06,-51,88,74\nAIMed07,-49,88,166\nNEJM07,-36,88,328\n\
         Gastr01a,-47,88,20\nAPhTh04,-90,88,25\nGastr01b,-54,88,58\n",
    );
    let v = json(&bayestrial(&[
        "prior",
        "map",
        "--historical",
        path(&file),
        "--json",
    ]));
    assert_eq!(v["sigma"].as_f64(), Some(88.0));
    // RBesT's MCMC summary: mean −50, sd 19.3 (MC error about 0.5).
    let mean = v["predictive"]["mean"].as_f64().expect("mean");
    let sd = v["predictive"]["sd"].as_f64().expect("sd");
    assert!(
        (mean + 50.0).abs() < 1.5 && (sd - 19.3).abs() < 1.5,
        "{mean} {sd}"
    );
    assert!(v["protocol"]
        .as_str()
        .expect("protocol")
        .contains("normal = ["));
}

#[test]
fn bad_historical_files_name_the_line_and_column() {
    for (text, code, message) in [
        ("study,responders,n\n", 2, "no historical studies"),
        (
            "study,responders,n\nA,30,20\n",
            2,
            ":2: column responders: 30 exceeds n = 20",
        ),
        (
            "study,responders,n\nA,3,20\nB,3,-5\n",
            2,
            ":3: column n: \"-5\" is not a whole number",
        ),
        (
            "study,responders,n\nA,three,20\n",
            2,
            ":2: column responders: \"three\"",
        ),
        (
            "study,mean,se\nA,1,0\n",
            2,
            ":2: column se: 0 must be positive",
        ),
        ("trial,x,y\nA,1,2\n", 2, ":1: the header must be"),
    ] {
        let file = csv_file(text);
        let out = bayestrial(&["prior", "map", "--historical", path(&file)]);
        assert_eq!(out.status.code(), Some(code), "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{text}: {}", stderr(&out));
    }
    let file = csv_file(AS);
    let out = bayestrial(&[
        "prior",
        "map",
        "--historical",
        path(&file),
        "--robust",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = bayestrial(&[
        "prior",
        "map",
        "--historical",
        path(&file),
        "--components",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("between 1 and 7"), "{}", stderr(&out));
}

#[test]
fn the_printed_map_prior_line_is_accepted_by_a_protocol_and_validates() {
    // The line `prior map` prints is pasted, as printed, as the control arm's prior of a
    // shipped platform protocol; the protocol validator accepts it.
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/protocols/data/ankylosing-spondylitis-placebo.csv"
    );
    let out = bayestrial(&["prior", "map", "--historical", data, "--robust", "0.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("prior = { mixture = ["))
        .unwrap_or_else(|| panic!("a protocol prior line in {text}"));
    let protocol = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/protocols/platform-binary-4arm.toml"
    ))
    .unwrap_or_else(|e| panic!("the shipped protocol: {e}"));
    let with_map = protocol.replacen("id = \"soc\"\n", &format!("id = \"soc\"\n{line}\n"), 1);
    assert_ne!(with_map, protocol, "the control arm was found");
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .unwrap_or_else(|e| panic!("a scratch file: {e}"));
    std::fs::write(file.path(), &with_map).unwrap_or_else(|e| panic!("write: {e}"));
    let checked = bayestrial(&["validate", path(&file)]);
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
}
