//! One database for one test: a fresh SQLite file, or a fresh PostgreSQL database when
//! `BAYESTRIAL_TEST_POSTGRES` names a server; plain SQL as an ordinary client, and SQL that
//! bypasses the append-only triggers (a tamperer with write access to the database).

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use bayestrial::service::{Randomness, Service, ServiceConfig, SteppingClock};
use bayestrial::store::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

/// The append-only tables whose triggers a tamperer drops.
const GUARDED: [&str; 2] = ["audit_events", "checkpoints"];

/// One database for one test, dropped (PostgreSQL) with it.
pub struct Backend {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres_admin: Option<(String, String)>,
}

impl Backend {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = dir.path().join("bayestrial.db").display().to_string();
        Self {
            url,
            dir,
            postgres_admin: None,
        }
    }

    pub fn postgres() -> Option<Self> {
        let base = std::env::var("BAYESTRIAL_TEST_POSTGRES").ok()?;
        let name = format!(
            "bt_{}_{}",
            std::process::id(),
            Randomness::Os.bytes32()[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut admin = PgConnection::establish(&base).expect("PostgreSQL server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
        Some(Self {
            url: format!("{prefix}/{name}"),
            dir: tempfile::tempdir().expect("temporary directory"),
            postgres_admin: Some((base, name)),
        })
    }

    /// SQLite always; PostgreSQL too when the environment names a server.
    pub fn all() -> Vec<Self> {
        let mut all = vec![Self::sqlite()];
        all.extend(Self::postgres());
        all
    }

    pub fn name(&self) -> &'static str {
        if self.postgres_admin.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    pub fn service(&self) -> Service {
        self.service_with(|_| ())
    }

    /// [`Backend::service`] with `adjust` applied to its configuration.
    pub fn service_with(&self, adjust: impl FnOnce(&mut ServiceConfig)) -> Service {
        let mut config = self.config();
        adjust(&mut config);
        Service::open(config).expect("service opens")
    }

    /// The configuration [`Backend::service`] opens: a stepping clock, seeded randomness.
    pub fn config(&self) -> ServiceConfig {
        let mut config = ServiceConfig::new(DatabaseUrl::parse(&self.url).expect("database URL"));
        config.data_dir = self.dir.path().to_path_buf();
        config.clock = Arc::new(SteppingClock::starting_at(1_780_000_000));
        config.randomness = Randomness::seeded(42);
        config.pool_size = 10;
        config
    }

    /// Runs SQL as an ordinary client (the triggers apply).
    pub fn plain(&self, sql: &str) -> Result<(), diesel::result::Error> {
        match &self.postgres_admin {
            None => SqliteConnection::establish(&self.url)
                .expect("sqlite")
                .batch_execute(sql),
            Some(_) => PgConnection::establish(&self.url)
                .expect("postgres")
                .batch_execute(sql),
        }
    }

    /// Runs SQL that bypasses the append-only triggers of the audit records and the
    /// checkpoints (a tamperer with database access, the server stopped).
    pub fn tamper(&self, sql: &str) {
        match &self.postgres_admin {
            None => {
                let mut drop = String::new();
                for table in GUARDED {
                    drop.push_str(&format!(
                        "DROP TRIGGER IF EXISTS {table}_no_update; \
                         DROP TRIGGER IF EXISTS {table}_no_delete; "
                    ));
                }
                let mut conn = SqliteConnection::establish(&self.url).expect("sqlite");
                conn.batch_execute(&format!("{drop}{sql}")).expect("tamper");
            }
            Some(_) => {
                let (mut off, mut on) = (String::new(), String::new());
                for table in GUARDED {
                    off.push_str(&format!("ALTER TABLE {table} DISABLE TRIGGER USER; "));
                    on.push_str(&format!(
                        "ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only; \
                         ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate; "
                    ));
                }
                let mut conn = PgConnection::establish(&self.url).expect("postgres");
                conn.batch_execute(&format!("{off}{sql}; {on}"))
                    .expect("tamper");
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.postgres_admin {
            if let Ok(mut admin) = PgConnection::establish(base) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
