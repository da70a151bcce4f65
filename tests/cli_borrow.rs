//! `bayestrial borrow` as a user runs it: the JSON keys of both models and both outcome kinds,
//! and the exit codes and `FILE:LINE` messages of bad input.

#[path = "common/cli.rs"]
mod cli;

use cli::{bayestrial, csv_file, json, path};

/// The ten sarcoma subtypes of Chugh et al. (2009) as analysed by Neuenschwander et al. (2016).
const CHUGH: &str = "stratum,responders,n\nangiosarcoma,2,15\newing,0,13\nfibrosarcoma,1,12\n\
leiomyosarcoma,6,28\nliposarcoma,7,29\nmfh,3,29\nosteosarcoma,5,26\nmpnst,1,5\n\
rhabdomyosarcoma,0,2\nsynovial,3,20\n";

fn exnex_args<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "borrow",
        "--model",
        "exnex",
        "--data",
        file,
        "--mu-prior",
        "normal:-1.735,2.617",
        "--tau-prior",
        "halfnormal:1",
        "--nex-prior",
        "normal:-1.734,2.795",
        "--ex-weight",
        "0.5",
        "--p0",
        "0.1",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn exnex_json_has_the_keys_of_the_issue() {
    let file = csv_file(CHUGH);
    let value = json(&bayestrial(&exnex_args(path(&file), &["--json"])));
    let strata = value["strata"].as_array().expect("strata");
    assert_eq!(strata.len(), 10);
    for s in strata {
        for key in [
            "stratum",
            "mean",
            "sd",
            "ci95",
            "p_above_p0",
            "p_exchangeable",
        ] {
            assert!(s.get(key).is_some(), "{key} missing in {s}");
        }
        let p = s["p_exchangeable"].as_f64().expect("a number");
        assert!(p > 0.0 && p < 1.0);
    }
    assert_eq!(strata[0]["stratum"], "angiosarcoma");
    for key in ["mean", "sd", "median", "ci95"] {
        assert!(value["mu"].get(key).is_some());
        assert!(value["tau"].get(key).is_some());
    }
}

#[test]
fn the_table_names_every_stratum() {
    let file = csv_file(CHUGH);
    let output = bayestrial(&exnex_args(path(&file), &[]));
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for name in ["angiosarcoma", "synovial", "mu", "tau"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn normal_strata_under_the_hierarchical_model() {
    let file = csv_file("stratum,mean,se\na,1.2,0.4\nb,0.8,0.3\nc,2.1,0.5\n");
    let value = json(&bayestrial(&[
        "borrow",
        "--model",
        "bhm",
        "--data",
        path(&file),
        "--mu-prior",
        "normal:0,10",
        "--tau-prior",
        "halfnormal:1",
        "--p0",
        "1",
        "--json",
    ]));
    assert_eq!(value["outcome"], "normal");
    for s in value["strata"].as_array().expect("strata") {
        assert_eq!(s["p_exchangeable"].as_f64(), Some(1.0));
    }
}

fn error_of(file_text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let file = csv_file(file_text);
    let output = bayestrial(&exnex_args(path(&file), extra));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_files_are_refused_with_file_line_and_column() {
    let cases: [(&str, &str); 6] = [
        (
            "stratum,responders,n\na,5,4\n",
            ":2: column responders: 5 is more than n = 4",
        ),
        ("stratum,responders,n\na,-1,4\n", ":2: column responders"),
        ("stratum,responders,n\na,x,4\n", ":2: column responders"),
        (
            "stratum,responders,n\na,1,4\na,2,4\n",
            ":3: column stratum: \"a\" appears twice",
        ),
        ("", "the file is empty"),
        ("stratum,responders,n\n", "no strata"),
    ];
    for (text, expected) in cases {
        let (code, stderr) = error_of(text, &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    }
    let many: String = std::iter::once("stratum,responders,n\n".to_owned())
        .chain((0..65).map(|i| format!("s{i},1,4\n")))
        .collect();
    let (code, stderr) = error_of(&many, &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(":66: too many strata: at most 64"),
        "{stderr}"
    );
    let (code, stderr) = error_of("stratum,mean,se\na,1,0\n", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains(":2: column se"), "{stderr}");
}

#[test]
fn bad_priors_are_refused_naming_the_flag() {
    let file = csv_file(CHUGH);
    for (flag, value) in [
        ("--mu-prior", "normal:0"),
        ("--mu-prior", "gauss:0,1"),
        ("--mu-prior", "normal:0,-1"),
        ("--tau-prior", "halfnormal:0"),
        ("--tau-prior", "halfcauchy:1"),
    ] {
        let mut args = exnex_args(path(&file), &[]);
        let at = args.iter().position(|a| *a == flag).expect("flag present");
        args[at + 1] = value;
        let output = bayestrial(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&flag[2..]), "{flag} not named in {stderr}");
    }
}
