//! `bayestrial nof1 analyse` as a user runs it: the JSON keys, `--skip-days`, and the exit codes
//! and `FILE:LINE` messages of bad input.

#[path = "common/cli.rs"]
mod cli;

use cli::{bayestrial, csv_file, json, path};

/// Three patients, periods A B B A of 5 days with a 2-day washout; values from a fixed formula
/// (no randomness). `extreme_first_days` puts wild values on the first 2 days of every period.
fn series_csv(extreme_first_days: bool, drop_first_days: bool) -> String {
    let mut text = String::from("patient,treatment,period,day,value\n");
    for (p, effect) in [("P1", 1.0), ("P2", 0.3), ("P3", 1.6)] {
        let mut day = 0;
        for (period, treatment) in ["A", "B", "B", "A"].iter().enumerate() {
            for j in 0..7 {
                day += 1;
                if j >= 5 {
                    continue; // washout: nothing measured
                }
                let first_days = j < 2;
                if first_days && drop_first_days {
                    continue;
                }
                let wobble = ((day * 7 + period * 3) % 11) as f64 / 10.0 - 0.5;
                let mut value = 5.0 + if *treatment == "B" { effect } else { 0.0 } + wobble;
                if first_days && extreme_first_days {
                    value += if *treatment == "B" { -40.0 } else { 55.0 };
                }
                text.push_str(&format!("{p},{treatment},{},{day},{value}\n", period + 1));
            }
        }
    }
    text
}

#[test]
fn json_has_the_documented_keys() {
    let file = csv_file(&series_csv(false, false));
    let out = json(&bayestrial(&[
        "nof1",
        "analyse",
        path(&file),
        "--mcid",
        "0.5",
        "--json",
    ]));
    for key in [
        "file",
        "treatments",
        "model",
        "prior",
        "mcid",
        "better",
        "skip_days",
        "patients",
        "population",
    ] {
        assert!(out.get(key).is_some(), "missing {key}: {out}");
    }
    assert_eq!(out["treatments"], serde_json::json!(["A", "B"]));
    assert_eq!(out["model"], "iid");
    assert_eq!(out["prior"]["kind"], "vague");
    let patients = out["patients"].as_array().expect("patients");
    assert_eq!(patients.len(), 3);
    for p in patients {
        let effect = &p["effect"];
        assert!(effect["mean"].is_f64() && effect["sd"].is_f64());
        let ci = effect["ci95"].as_array().expect("ci95");
        assert_eq!(ci.len(), 2);
        assert!(ci[0].as_f64() < effect["mean"].as_f64());
        for key in ["p_effect_positive", "p_beyond_mcid"] {
            let v = p[key].as_f64().expect(key);
            assert!((0.0..=1.0).contains(&v));
        }
        assert_eq!(p["n"]["A"], 10);
        assert_eq!(p["n"]["B"], 10);
        assert!(p.get("rho").is_none(), "rho only with --ar1");
    }
    assert_eq!(patients[0]["patient"], "P1");
    let pop = &out["population"];
    for key in [
        "mean",
        "ci95",
        "p_effect_positive",
        "p_beyond_mcid",
        "tau",
        "tau_scale",
        "shrunken",
        "empirical_bayes",
    ] {
        assert!(pop.get(key).is_some(), "population.{key} missing: {pop}");
    }
    for key in ["mean", "median", "ci95"] {
        assert!(pop["tau"].get(key).is_some());
    }
    for key in [
        "mu_hat",
        "tau_hat",
        "log_likelihood",
        "iterations",
        "converged",
    ] {
        assert!(pop["empirical_bayes"].get(key).is_some());
    }
    assert_eq!(pop["shrunken"].as_array().map(Vec::len), Some(3));

    let ar = json(&bayestrial(&[
        "nof1",
        "analyse",
        path(&file),
        "--ar1",
        "--json",
    ]));
    assert_eq!(ar["model"], "ar1");
    for p in ar["patients"].as_array().expect("patients") {
        let rho = p["rho"].as_f64().expect("rho with --ar1");
        assert!(rho > -1.0 && rho < 1.0);
    }
}

#[test]
fn skip_days_leaves_out_the_first_days_of_every_period() {
    // Extreme values on the first two days of each period; skipping them must give exactly the
    // analysis of the file without those rows.
    let with_extremes = csv_file(&series_csv(true, false));
    let without = csv_file(&series_csv(false, true));
    for extra in [
        &[][..],
        &["--ar1"][..],
        &["--prior", "flat", "--better", "lower"][..],
    ] {
        let mut skipped_args = vec![
            "nof1",
            "analyse",
            path(&with_extremes),
            "--skip-days",
            "2",
            "--mcid",
            "0.4",
            "--json",
        ];
        skipped_args.extend_from_slice(extra);
        let mut plain_args = vec!["nof1", "analyse", path(&without), "--mcid", "0.4", "--json"];
        plain_args.extend_from_slice(extra);
        let mut skipped = json(&bayestrial(&skipped_args));
        let mut plain = json(&bayestrial(&plain_args));
        assert_eq!(skipped["skip_days"], 2);
        for report in [&mut skipped, &mut plain] {
            let object = report.as_object_mut().expect("an object");
            object.remove("file");
            object.remove("skip_days");
        }
        assert_eq!(skipped, plain, "with {extra:?}");
        assert_eq!(skipped["patients"][0]["n"]["A"], 6);
    }
    // And without skipping, the extremes dominate: the effect turns strongly negative.
    let raw = json(&bayestrial(&[
        "nof1",
        "analyse",
        path(&with_extremes),
        "--json",
    ]));
    let mean = raw["patients"][0]["effect"]["mean"].as_f64().expect("mean");
    assert!(mean < -10.0, "{mean}");
}

#[test]
fn bad_csv_exits_2_naming_the_file_line_and_column() {
    let cases = [
        (
            "patient,treatment,period,day,value\nP1,A,1,1,3.0\nP1,B,2,x,4.0\n",
            ":3: column day",
        ),
        (
            "patient,treatment,period,day,value\nP1,A,1,1,3.0\nP1,B,0,2,4.0\n",
            ":3: column period",
        ),
        (
            "patient,treatment,period,day,value\nP1,A,1,1,3.0\nP1,B,2,2,abc\n",
            ":3: column value",
        ),
        (
            "patient,treatment,period,day,value\nP1,A,1,1,3.0\nP1,B,2,2\n",
            ":3: expected 5 columns",
        ),
        (
            "patient,treatment,day,period,value\nP1,A,1,1,3.0\n",
            ":1: the header must be",
        ),
        (
            "patient,treatment,period,day,value\nP1,A,1,1,3.0\nP1,B,1,2,4.0\n",
            ":3: column treatment",
        ),
    ];
    for (text, expected) in cases {
        let file = csv_file(text);
        let out = bayestrial(&["nof1", "analyse", path(&file)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}\n{stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", path(&file))),
            "{expected:?} not in {stderr}"
        );
    }
    let out = bayestrial(&["nof1", "analyse", "/nonexistent/file.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let file = csv_file(&series_csv(false, false));
    for bad in [
        &["--prior", "nig:1,2"][..],
        &["--mcid", "-1"][..],
        &["--tau-scale", "0"][..],
        &["--better", "sideways"][..],
    ] {
        let mut args = vec!["nof1", "analyse", path(&file)];
        args.extend_from_slice(bad);
        assert_eq!(bayestrial(&args).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn data_the_model_cannot_take_exit_1_naming_the_patient() {
    // The flat prior needs every treatment observed; P2 never had B.
    let text = "patient,treatment,period,day,value\n\
                P1,A,1,1,3.0\nP1,A,1,2,3.5\nP1,B,2,3,4.0\nP1,B,2,4,4.4\n\
                P2,A,1,1,2.0\nP2,A,1,2,2.5\nP2,A,2,3,2.2\n";
    let file = csv_file(text);
    let out = bayestrial(&["nof1", "analyse", path(&file), "--prior", "flat"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("patient \"P2\""), "{stderr}");
}

#[test]
fn the_table_shows_patients_and_the_population() {
    let file = csv_file(&series_csv(false, false));
    let out = bayestrial(&["nof1", "analyse", path(&file), "--mcid", "0.5"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "P1",
        "P3",
        "population (3 patients",
        "empirical Bayes",
        "effect = B − A",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in\n{stdout}");
    }
}
