//! E-mail: the mailer that sends outbox rows. It is an enum so that tests and replays choose
//! where mail goes (a real SMTP server, `.eml` files, or memory) without globals.
//!
//! This module formats and sends one message; it knows nothing of trials or the database.
//! The service's outbox worker reads the queue and marks rows sent (at-least-once delivery).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, FileTransport, Message, SmtpTransport, Transport};

/// Errors of the mailer.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An address does not parse.
    #[error("{field}: {address:?} is not an e-mail address: {problem}")]
    Address {
        /// `from` or `to`.
        field: &'static str,
        /// The address.
        address: String,
        /// Why.
        problem: String,
    },
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The transport refused or failed.
    #[error("cannot send to {to} via {via}: {problem}")]
    Send {
        /// Recipient.
        to: String,
        /// The transport (`smtp://host:port`, a folder, memory).
        via: String,
        /// The transport's error.
        problem: String,
        /// Whether it failed for good (an SMTP 5xx reply) rather than for now (a 4xx reply, a
        /// refused connection, a full disk).
        permanent: bool,
    },
}

impl NotifyError {
    /// Whether sending the same message again cannot succeed: an address the mailer refuses,
    /// a message that cannot be built, an SMTP 5xx reply. Everything else is worth retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Address { .. } | Self::Build(_) => true,
            Self::Send { permanent, .. } => *permanent,
        }
    }
}

/// The longest e-mail address accepted, in bytes (RFC 5321's limit on a forward path).
pub const MAX_ADDRESS: usize = 254;

/// An e-mail address that the mailer would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address:?} is not an e-mail address: {problem}")]
pub struct BadAddress {
    /// The address as given (cut at 300 characters).
    pub address: String,
    /// Why.
    pub problem: String,
}

/// Parses an e-mail address with the mailer's own parser (lettre's [`Address`]), so that an
/// address accepted when it is entered is never refused when a message is sent. Surrounding
/// spaces are ignored; at most [`MAX_ADDRESS`] bytes.
pub fn parse_address(text: &str) -> Result<Address, BadAddress> {
    let text = text.trim();
    let bad = |problem: String| BadAddress {
        address: text.chars().take(300).collect(),
        problem,
    };
    if text.len() > MAX_ADDRESS {
        return Err(bad(format!(
            "{} bytes long; an address is at most {MAX_ADDRESS} bytes",
            text.len()
        )));
    }
    text.parse::<Address>().map_err(|e| bad(e.to_string()))
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Where an SMTP mailer connects. Plain SMTP (no TLS): meant for a relay on the same host or
/// network, which forwards with TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name and password for AUTH, if the relay needs them.
    pub credentials: Option<(String, String)>,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// A real SMTP server.
    Smtp {
        /// The sender address.
        from: Mailbox,
        /// Where it connects (for messages).
        settings: SmtpSettings,
        /// The transport (pooled connections).
        transport: Box<SmtpTransport>,
    },
    /// One `.eml` file per message in a folder (the default: `data/outbox/`).
    File {
        /// The sender address.
        from: Mailbox,
        /// The folder.
        dir: PathBuf,
    },
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<Mail>>>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn mailbox(field: &'static str, address: &str) -> Result<Mailbox, NotifyError> {
    address
        .parse()
        .map_err(|e: lettre::address::AddressError| NotifyError::Address {
            field,
            address: address.to_owned(),
            problem: e.to_string(),
        })
}

impl Mailer {
    /// An SMTP mailer sending as `from`.
    pub fn smtp(from: &str, settings: SmtpSettings) -> Result<Self, NotifyError> {
        let mut builder = SmtpTransport::builder_dangerous(&settings.host).port(settings.port);
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self::Smtp {
            from: mailbox("from", from)?,
            settings,
            transport: Box::new(builder.build()),
        })
    }

    /// A mailer writing `.eml` files into `dir` (created when missing).
    pub fn file(from: &str, dir: PathBuf) -> Result<Self, NotifyError> {
        std::fs::create_dir_all(&dir).map_err(|e| NotifyError::Send {
            to: "(any)".into(),
            via: dir.display().to_string(),
            problem: e.to_string(),
            permanent: false,
        })?;
        Ok(Self::File {
            from: mailbox("from", from)?,
            dir,
        })
    }

    /// A mailer keeping messages in memory; the vector is shared with the caller.
    pub fn memory() -> (Self, Arc<Mutex<Vec<Mail>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        (Self::Memory(Arc::clone(&sent)), sent)
    }

    /// Where mail goes, in words (logs, the startup banner).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { settings, .. } => format!("smtp://{}:{}", settings.host, settings.port),
            Self::File { dir, .. } => format!("files in {}", dir.display()),
            Self::Memory(_) => "memory".to_owned(),
        }
    }

    fn message(from: &Mailbox, mail: &Mail) -> Result<Message, NotifyError> {
        Message::builder()
            .from(from.clone())
            .to(mailbox("to", &mail.to)?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| NotifyError::Build(e.to_string()))
    }

    /// Sends one message.
    pub fn send(&self, mail: &Mail) -> Result<(), NotifyError> {
        let failed = |problem: String, permanent: bool| NotifyError::Send {
            to: mail.to.clone(),
            via: self.describe(),
            problem,
            permanent,
        };
        match self {
            Self::Smtp {
                from, transport, ..
            } => {
                let message = Self::message(from, mail)?;
                transport
                    .send(&message)
                    .map(|_| ())
                    .map_err(|e| failed(e.to_string(), e.is_permanent()))
            }
            Self::File { from, dir } => {
                let message = Self::message(from, mail)?;
                FileTransport::new(dir)
                    .send(&message)
                    .map(|_| ())
                    .map_err(|e| failed(e.to_string(), false))
            }
            Self::Memory(sent) => {
                // Check the addresses as the real transports would.
                mailbox("to", &mail.to)?;
                sent.lock()
                    .map_err(|_| failed("the memory mailer's lock is poisoned".into(), false))?
                    .push(mail.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_mailer_writes_an_eml_file_per_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = Mailer::file("bayestrial@localhost", dir.path().join("outbox")).expect("file");
        mailer
            .send(&Mail {
                to: "stat@example.org".into(),
                subject: "[T1] trial stopped".into(),
                body: "Body.\n".into(),
            })
            .expect("sent");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .expect("dir")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].path()).expect("read");
        assert!(text.contains("Subject: [T1] trial stopped"), "{text}");
        assert!(text.contains("To: stat@example.org"), "{text}");
    }

    #[test]
    fn addresses_are_parsed_by_the_mailer() {
        assert_eq!(
            parse_address(" chair@dmc.example ").unwrap().to_string(),
            "chair@dmc.example"
        );
        for bad in ["a@b@c.d", "not an address", "", "@example.org", "x@"] {
            let error = parse_address(bad).unwrap_err();
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(parse_address(&long)
            .unwrap_err()
            .problem
            .contains("at most 254"));
    }

    #[test]
    fn a_bad_address_is_named() {
        let (mailer, sent) = Mailer::memory();
        let error = mailer
            .send(&Mail {
                to: "not an address".into(),
                subject: "s".into(),
                body: "b".into(),
            })
            .expect_err("refused");
        assert!(error.to_string().contains("not an address"), "{error}");
        assert!(sent.lock().expect("lock").is_empty());
    }
}
