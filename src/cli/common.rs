//! What the subcommands that open the live service share: the database arguments and the
//! report of a service error (exit code 2).
//!
//! No subcommand here, and nothing that imports a subcommand: `live`, `export` and `serve` import
//! this file, never the other way round.

use std::process::ExitCode;

use bayestrial::service::{Service, ServiceConfig, ServiceError};
use bayestrial::store::{self, DatabaseUrl};

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// `postgres://…`, `sqlite://PATH` or a file path.
    #[arg(long, env = "BAYESTRIAL_DATABASE_URL", default_value = store::DEFAULT_DATABASE)]
    pub(super) database_url: String,
    /// Where the server key lives (default: the SQLite file's directory, or ./data).
    #[arg(long, env = "BAYESTRIAL_DATA_DIR")]
    pub(super) data_dir: Option<std::path::PathBuf>,
}

impl DatabaseArgs {
    /// Opens the service on this database.
    pub(super) fn open(&self) -> Result<Service, ServiceError> {
        self.open_with(|_| ())
    }

    /// Opens the service on this database, with `adjust` applied to the configuration.
    pub(super) fn open_with(
        &self,
        adjust: impl FnOnce(&mut ServiceConfig),
    ) -> Result<Service, ServiceError> {
        let url = DatabaseUrl::parse(&self.database_url)?;
        let mut config = ServiceConfig::new(url);
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        adjust(&mut config);
        Service::open(config)
    }
}

/// Prints `error` with its cause chain to stderr and returns exit code 2.
pub(super) fn fail(error: &ServiceError) -> ExitCode {
    let message = error.to_string();
    eprintln!("error: {message}");
    // The whole cause chain, without repeating what a message already says.
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        source = cause.source();
    }
    ExitCode::from(2)
}
