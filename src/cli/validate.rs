//! `bayestrial validate FILE...`.

use std::path::PathBuf;
use std::process::ExitCode;

use bayestrial::protocol::Protocol;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Protocol files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Validates every file; prints one line per valid file and every message for invalid ones.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let mut all_valid = true;
    for file in &args.files {
        match Protocol::load(file) {
            Ok(protocol) => {
                let design = match (protocol.trial.design, &protocol.precision) {
                    (bayestrial::protocol::Design::Platform, None) => "platform".to_owned(),
                    (bayestrial::protocol::Design::Platform, Some(precision)) => format!(
                        "precision platform ({} strata, {} signatures)",
                        precision.strata.len(),
                        precision.signatures.len()
                    ),
                    (bayestrial::protocol::Design::Nof1, _) => "n-of-1".to_owned(),
                };
                println!(
                    "{}: ok ({design} design, {} arms)",
                    file.display(),
                    protocol.arms.len()
                );
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
