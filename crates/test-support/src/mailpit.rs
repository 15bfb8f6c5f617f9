//! Mail the services send, read back through Mailpit's HTTP API.
//!
//! Tests send through the stack's Mailpit (`make infra`): SMTP at `SMTP_URL`,
//! its API at `MAILPIT_URL`. Mailpit refuses recipients containing `fail`
//! (550), so retries and the dead-letter queue are exercised. Every test gets
//! its own mail domain ([`Mailbox::address`]) and only ever reads mail sent
//! to that domain, so tests running at once never see each other's mail.

use serde::Deserialize;

/// The SMTP server the services under test send to: `SMTP_URL` or the local default.
pub fn smtp_url() -> String {
    std::env::var("SMTP_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "smtp://127.0.0.1:2525".into())
}

/// Mailpit's web UI and API: `MAILPIT_URL` or the local default.
pub fn mailpit_url() -> String {
    std::env::var("MAILPIT_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:8025".into())
        .trim_end_matches('/')
        .to_string()
}

/// One mail as Mailpit parsed it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mail {
    #[serde(rename = "ID")]
    pub id: String,
    pub subject: String,
    #[serde(default)]
    pub to: Vec<Address>,
    /// The plain-text part (empty when there is none).
    #[serde(default)]
    pub text: String,
    /// The HTML part (empty when there is none).
    #[serde(rename = "HTML", default)]
    pub html: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    pub address: String,
}

impl Mail {
    /// Both parts, decoded: what a reader of the mail sees.
    pub fn body(&self) -> String {
        format!("{}\n{}", self.text, self.html)
    }

    pub fn is_to(&self, address: &str) -> bool {
        self.to
            .iter()
            .any(|a| a.address.eq_ignore_ascii_case(address))
    }
}

/// A summary from Mailpit's search: no body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    #[serde(rename = "ID")]
    pub id: String,
    pub subject: String,
    #[serde(default)]
    pub to: Vec<Address>,
}

impl Summary {
    pub fn is_to(&self, address: &str) -> bool {
        self.to
            .iter()
            .any(|a| a.address.eq_ignore_ascii_case(address))
    }
}

#[derive(Deserialize)]
struct SearchPage {
    messages: Vec<Summary>,
}

/// One test's view of Mailpit: its own mail domain.
pub struct Mailbox {
    api: String,
    smtp: String,
    domain: String,
    http: reqwest::Client,
}

impl Mailbox {
    /// Checks Mailpit answers (or fails loudly with how to start it) and
    /// picks a mail domain no other test uses.
    pub async fn connect() -> Self {
        let api = mailpit_url();
        let http = reqwest::Client::new();
        let info = http
            .get(format!("{api}/api/v1/info"))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        if let Err(e) = info {
            panic!(
                "Mailpit is not reachable at {api}: {e}\n\
                 Start it with `make infra` (or set MAILPIT_URL and SMTP_URL to a Mailpit you have)."
            );
        }
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Self {
            api,
            smtp: smtp_url(),
            domain: format!("t{}.example.com", &unique[..12]),
            http,
        }
    }

    /// The SMTP URL the service under test sends to.
    pub fn smtp_url(&self) -> String {
        self.smtp.clone()
    }

    /// `local@<this test's domain>`; a `local` containing `fail` is refused.
    pub fn address(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    async fn search(&self, to: &str) -> Vec<Summary> {
        let url = format!("{}/api/v1/search", self.api);
        let response = self
            .http
            .get(&url)
            .query(&[
                ("query", format!("to:\"{to}\"")),
                ("limit", "100000".into()),
            ])
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let mut page: SearchPage = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("reading {url}: {e}"));
        // Mailpit lists newest first; tests read in the order mail arrived.
        page.messages.reverse();
        page.messages
    }

    /// Every mail sent to this test's domain, oldest first, without bodies.
    pub async fn summaries(&self) -> Vec<Summary> {
        self.search(&format!("@{}", self.domain)).await
    }

    /// The mails to `address` (exactly), oldest first, with their bodies.
    pub async fn mails_to(&self, address: &str) -> Vec<Mail> {
        let mut mails = Vec::new();
        for summary in self.search(address).await {
            if summary.is_to(address) {
                mails.push(self.message(&summary.id).await);
            }
        }
        mails
    }

    /// One mail with its bodies.
    pub async fn message(&self, id: &str) -> Mail {
        let url = format!("{}/api/v1/message/{id}", self.api);
        self.http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("reading {url}: {e}"))
    }
}
