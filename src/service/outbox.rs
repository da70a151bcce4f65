//! The outbox sender: e-mail queued in a command's transaction is sent afterwards by a worker,
//! and each row is marked sent only after the mailer accepted it (at-least-once delivery:
//! a crash between the two sends that message again).
//!
//! One message cannot stop the others: a message that fails for good (an address the mailer
//! refuses, an SMTP 5xx reply) is **parked** with its reason and shown to the admin; one that
//! fails for now (an SMTP 4xx reply, a refused connection) is tried again after an exponential
//! backoff ([`retry_delay`]), its next attempt time stored; the pass goes on with the rest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::clock::shifted;
use super::{Actor, Permission, Service, ServiceError};
use crate::notify::{Mail, Mailer};
use crate::store::OutboxRow;

/// Rows sent per pass.
const BATCH: i64 = 100;

/// The delay before the first retry, in seconds.
pub const RETRY_BASE_SECONDS: i64 = 60;

/// The longest delay between two attempts, in seconds (6 hours).
pub const RETRY_CAP_SECONDS: i64 = 6 * 60 * 60;

/// Parked messages shown to the admin.
const PARKED_SHOWN: i64 = 200;

/// The delay before the next attempt after `attempts` failed ones (1, 2, …):
/// `min(RETRY_BASE_SECONDS · 2^(attempts − 1), RETRY_CAP_SECONDS)`.
pub fn retry_delay(attempts: i32) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    (RETRY_BASE_SECONDS << doublings).min(RETRY_CAP_SECONDS)
}

/// What one pass of the outbox sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Messages the mailer accepted.
    pub sent: usize,
    /// Messages that failed for now, to be retried after their backoff.
    pub deferred: usize,
    /// Messages that failed for good and were parked.
    pub parked: usize,
}

impl Service {
    /// Sends the outbox rows that are due (not sent, not parked, past their next attempt time),
    /// oldest first: marks each one sent, parks it on a permanent failure, or defers it with an
    /// exponential backoff on a temporary one, and goes on with the others.
    #[tracing::instrument(skip_all, fields(mailer = %mailer.describe()))]
    pub fn deliver_outbox(&self, mailer: &Mailer) -> Result<Delivery, ServiceError> {
        let mut conn = self.conn()?;
        let mut done = Delivery::default();
        let now = self.clock.now();
        for row in OutboxRow::pending(&mut conn, now.as_str(), BATCH)? {
            let mail = Mail {
                to: row.recipient.clone(),
                subject: row.subject.clone(),
                body: row.body.clone(),
            };
            let attempts = row.attempts.saturating_add(1);
            match mailer.send(&mail) {
                Ok(()) => {
                    OutboxRow::mark_sent(&mut conn, row.id, self.clock.now().as_str())?;
                    done.sent += 1;
                }
                Err(error) if error.is_permanent() => {
                    tracing::warn!(id = row.id, %error, "outbox message parked: it cannot be sent");
                    let reason = truncate(&error.to_string());
                    OutboxRow::park(&mut conn, row.id, attempts, now.as_str(), &reason)?;
                    done.parked += 1;
                }
                Err(error) => {
                    let next = shifted(&now, retry_delay(attempts));
                    tracing::warn!(id = row.id, %error, attempts, next = %next, "outbox message not sent; retrying later");
                    let reason = truncate(&error.to_string());
                    OutboxRow::defer(&mut conn, row.id, attempts, next.as_str(), &reason)?;
                    done.deferred += 1;
                }
            }
        }
        Ok(done)
    }

    /// The parked messages (newest first, at most 200), for the admin.
    pub fn parked_mail(&self, actor: &Actor) -> Result<Vec<OutboxRow>, ServiceError> {
        actor.require(Permission::ManageUsers)?;
        let mut conn = self.conn()?;
        Ok(OutboxRow::parked(&mut conn, PARKED_SHOWN)?)
    }
}

/// A failure's text, cut to 1,000 characters for storing.
fn truncate(text: &str) -> String {
    text.chars().take(1000).collect()
}

/// Runs [`Service::deliver_outbox`] every `every` on its own thread until `stop` is set.
pub fn spawn_outbox_worker(
    service: Arc<Service>,
    mailer: Mailer,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    spawn_every("outbox", every, stop, move || {
        match service.deliver_outbox(&mailer) {
            Ok(Delivery {
                sent: 0,
                deferred: 0,
                parked: 0,
            }) => {}
            Ok(done) => tracing::info!(
                sent = done.sent,
                deferred = done.deferred,
                parked = done.parked,
                "outbox: e-mail delivered"
            ),
            Err(error) => tracing::warn!(%error, "outbox: delivery failed"),
        }
    })
}

/// Runs `task` every `every` on a thread named `name` until `stop` is set (the outbox sender,
/// the daily witness).
pub(super) fn spawn_every(
    name: &str,
    every: Duration,
    stop: Arc<AtomicBool>,
    mut task: impl FnMut() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                task();
                std::thread::sleep(every);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_is_capped() {
        assert_eq!(retry_delay(1), 60);
        assert_eq!(retry_delay(2), 120);
        assert_eq!(retry_delay(5), 960);
        assert_eq!(retry_delay(9), 15_360);
        assert_eq!(retry_delay(10), RETRY_CAP_SECONDS);
        assert_eq!(retry_delay(i32::MAX), RETRY_CAP_SECONDS);
        assert_eq!(retry_delay(0), 60);
    }
}
