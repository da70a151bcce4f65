//! `bayestrial validate FILE...`.

use std::path::PathBuf;
use std::process::ExitCode;

use bayestrial::protocol::precision::Precision;
use bayestrial::protocol::Protocol;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Protocol files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Precision designs: also list every eligible stratum with the arms that may enrol it and
    /// the signatures that contain it, and each signature with its strata.
    #[arg(long)]
    strata: bool,
}

/// Validates every file; prints one line per valid file and every message for invalid ones.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let mut all_valid = true;
    for file in &args.files {
        match Protocol::load(file) {
            Ok(protocol) => {
                let plural =
                    |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                let summary = match (protocol.trial.design, &protocol.precision) {
                    (bayestrial::protocol::Design::Platform, None) => {
                        format!("platform design, {}", plural(protocol.arms.len(), "arm"))
                    }
                    (bayestrial::protocol::Design::Platform, Some(precision)) => format!(
                        "precision platform design, {}, {}, {}",
                        plural(protocol.arms.len(), "arm"),
                        if precision.strata.len() == 1 {
                            "1 stratum".to_owned()
                        } else {
                            format!("{} strata", precision.strata.len())
                        },
                        plural(precision.signatures.len(), "signature")
                    ),
                    (bayestrial::protocol::Design::Nof1, _) => {
                        format!("n-of-1 design, {}", plural(protocol.arms.len(), "arm"))
                    }
                };
                println!("{}: ok ({summary})", file.display());
                if let (true, Some(precision)) = (args.strata, &protocol.precision) {
                    print!("{}", strata_listing(&protocol, precision));
                }
            }
            Err(errors) => {
                all_valid = false;
                eprintln!("{errors}");
            }
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every eligible stratum with its arms and signatures, then every signature with its strata
/// and the arms assessed in it (those eligible in at least one of its strata).
fn strata_listing(protocol: &Protocol, precision: &Precision) -> String {
    let mut out = String::from("  strata (stratum: arms that may enrol it; signatures):\n");
    for (s, stratum) in precision.strata.iter().enumerate() {
        let arms: Vec<&str> = precision
            .arms_in(s)
            .filter_map(|a| protocol.arms.get(a).map(|arm| arm.id.as_str()))
            .collect();
        let signatures: Vec<&str> = precision
            .signatures
            .iter()
            .filter(|g| g.strata.contains(s))
            .map(|g| g.id.as_str())
            .collect();
        out.push_str(&format!(
            "    {}: {}; {}\n",
            stratum.label,
            arms.join(", "),
            if signatures.is_empty() {
                "no signature".to_owned()
            } else {
                signatures.join(", ")
            }
        ));
    }
    out.push_str("  signatures (signature = selections: strata):\n");
    for signature in &precision.signatures {
        let strata: Vec<&str> = signature
            .strata
            .iter()
            .filter_map(|s| precision.strata.get(s).map(|st| st.label.as_str()))
            .collect();
        out.push_str(&format!(
            "    {} = {}: {}\n",
            signature.id,
            signature.written,
            strata.join("; ")
        ));
    }
    out
}
