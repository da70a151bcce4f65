//! The outbox sender: e-mail queued in a command's transaction is sent afterwards by a worker,
//! and each row is marked sent only after the mailer accepted it (at-least-once delivery:
//! a crash between the two sends that message again).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Service, ServiceError};
use crate::notify::{Mail, Mailer};
use crate::store::OutboxRow;

/// Rows sent per pass.
const BATCH: i64 = 100;

impl Service {
    /// Sends unsent outbox rows, oldest first, and marks each one sent. Stops at the first
    /// failure (it is retried on the next pass) and returns how many were sent.
    #[tracing::instrument(skip_all, fields(mailer = %mailer.describe()))]
    pub fn deliver_outbox(&self, mailer: &Mailer) -> Result<usize, ServiceError> {
        let mut conn = self.conn()?;
        let mut sent = 0;
        for row in OutboxRow::pending(&mut conn, BATCH)? {
            let mail = Mail {
                to: row.recipient.clone(),
                subject: row.subject.clone(),
                body: row.body.clone(),
            };
            if let Err(error) = mailer.send(&mail) {
                tracing::warn!(id = row.id, %error, "outbox message not sent; retrying later");
                return Err(ServiceError::Conflict(format!(
                    "outbox message {}: {error}",
                    row.id
                )));
            }
            OutboxRow::mark_sent(&mut conn, row.id, self.clock.now().as_str())?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// Runs [`Service::deliver_outbox`] every `every` on its own thread until `stop` is set.
pub fn spawn_outbox_worker(
    service: Arc<Service>,
    mailer: Mailer,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("outbox".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match service.deliver_outbox(&mailer) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sent = n, "outbox: e-mail sent"),
                    Err(error) => tracing::warn!(%error, "outbox: delivery failed"),
                }
                std::thread::sleep(every);
            }
        })
}
