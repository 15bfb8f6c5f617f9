//! A tiny SMTP server for development and tests.
//!
//! It speaks enough ESMTP for `lettre` and ordinary clients (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) and writes each accepted
//! mail as an `.eml` file into a folder, or keeps it in memory (tests) when
//! given none.
//! Recipients containing one of the configured `reject` substrings get a
//! permanent `550`, which is how the notification tests make sends fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Largest mail accepted, in bytes.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// One accepted mail: the envelope and the raw message as sent after DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The value of the first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(value) = found.as_mut() {
                if line.starts_with([' ', '\t']) {
                    value.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    found = Some(value.trim().to_string());
                }
            }
        }
        found
    }
}

impl Mail {
    /// Every body part decoded (quoted-printable and base64 undone), one
    /// after the other: what a reader of the mail sees, for assertions.
    pub fn decoded(&self) -> String {
        let mut out = String::new();
        let mut encoding = String::new();
        let mut in_headers = true;
        let mut part: Vec<&str> = Vec::new();
        let flush = |encoding: &str, part: &mut Vec<&str>, out: &mut String| {
            match encoding {
                "base64" => {
                    use base64::Engine;
                    let joined: String = part.concat();
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(joined) {
                        out.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                "quoted-printable" => out.push_str(&decode_quoted_printable(&part.join("\r\n"))),
                _ => out.push_str(&part.join("\r\n")),
            }
            out.push('\n');
            part.clear();
        };
        for line in self.data.split("\r\n") {
            if line.starts_with("--") && line.len() > 2 && !line.contains(' ') {
                flush(&encoding, &mut part, &mut out);
                encoding.clear();
                in_headers = true;
                continue;
            }
            if in_headers {
                if line.is_empty() {
                    in_headers = false;
                } else if let Some((key, value)) = line.split_once(':') {
                    if key.eq_ignore_ascii_case("content-transfer-encoding") {
                        encoding = value.trim().to_ascii_lowercase();
                    }
                }
                continue;
            }
            part.push(line);
        }
        flush(&encoding, &mut part, &mut out);
        out
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    reject: Vec<String>,
    rejected: u64,
}

/// A running catcher. It stops when the runtime it was started on stops.
#[derive(Clone)]
pub struct Catcher {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// How to run a catcher.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where each accepted mail is written as `<time>-<n>.eml` (and not kept in
    /// memory); none keeps mails in memory only, for [`Catcher::mails`].
    pub dir: Option<PathBuf>,
    /// Recipients containing any of these substrings are refused with 550.
    pub reject: Vec<String>,
}

impl Catcher {
    /// Bind `listen` (e.g. `127.0.0.1:0`) and serve in the background.
    pub async fn start(listen: &str, config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        if let Some(dir) = &config.dir {
            tokio::fs::create_dir_all(dir).await?;
        }
        let state = Arc::new(Mutex::new(State {
            reject: config.reject,
            ..State::default()
        }));
        let catcher = Self {
            addr,
            state: state.clone(),
        };
        let dir = config.dir.map(Arc::new);
        let counter = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let session = Session {
                    state: state.clone(),
                    dir: dir.clone(),
                    counter: counter.clone(),
                };
                tokio::spawn(async move {
                    if let Err(e) = session.serve(stream).await {
                        eprintln!("smtp-catcher: session ended: {e}");
                    }
                });
            }
        });
        Ok(catcher)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://host:port`, as the notification service's `smtp_url` wants it.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written
        // in a way that matters for a mail catcher; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every accepted mail so far, in arrival order (only without a folder).
    pub fn mails(&self) -> Vec<Mail> {
        self.lock().mails.clone()
    }

    /// Accepted mails with `address` among the recipients.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.lock()
            .mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .cloned()
            .collect()
    }

    /// How many recipients were refused.
    pub fn rejected(&self) -> u64 {
        self.lock().rejected
    }

    /// Change which recipients are refused (e.g. to let a replay succeed).
    pub fn set_reject(&self, reject: Vec<String>) {
        self.lock().reject = reject;
    }
}

struct Session {
    state: Arc<Mutex<State>>,
    dir: Option<Arc<PathBuf>>,
    counter: Arc<AtomicU64>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn serve(self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        write.write_all(b"220 smtp-catcher ESMTP ready\r\n").await?;
        let mut from: Option<String> = None;
        let mut to: Vec<String> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end();
            let verb = command
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => {
                    b"250-smtp-catcher\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
                }
                "HELO" => b"250 smtp-catcher\r\n",
                "MAIL" => match address_after(command, "FROM:") {
                    Some(address) => {
                        from = Some(address);
                        to.clear();
                        b"250 2.1.0 OK\r\n"
                    }
                    None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
                },
                "RCPT" => match (&from, address_after(command, "TO:")) {
                    (None, _) => b"503 5.5.1 MAIL first\r\n",
                    (_, None) => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
                    (Some(_), Some(address)) => {
                        let refused = {
                            let mut state = self.lock();
                            let lower = address.to_ascii_lowercase();
                            let refused = state
                                .reject
                                .iter()
                                .any(|r| !r.is_empty() && lower.contains(&r.to_ascii_lowercase()));
                            if refused {
                                state.rejected += 1;
                            }
                            refused
                        };
                        if refused {
                            b"550 5.1.1 Mailbox unavailable (refused by smtp-catcher)\r\n"
                        } else {
                            to.push(address);
                            b"250 2.1.5 OK\r\n"
                        }
                    }
                },
                "DATA" => {
                    if from.is_none() || to.is_empty() {
                        b"503 5.5.1 RCPT first\r\n"
                    } else {
                        write
                            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await?;
                        let Some(data) = read_data(&mut reader).await? else {
                            write.write_all(b"552 5.3.4 Message too big\r\n").await?;
                            from = None;
                            to.clear();
                            continue;
                        };
                        let mail = Mail {
                            from: from.take().unwrap_or_default(),
                            to: std::mem::take(&mut to),
                            data,
                        };
                        self.store(mail).await?;
                        b"250 2.0.0 OK queued\r\n"
                    }
                }
                "RSET" => {
                    from = None;
                    to.clear();
                    b"250 2.0.0 OK\r\n"
                }
                "NOOP" => b"250 2.0.0 OK\r\n",
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 5.5.2 Command not recognized\r\n",
            };
            write.write_all(reply).await?;
        }
    }

    async fn store(&self, mail: Mail) -> std::io::Result<()> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if let Some(dir) = &self.dir {
            let name = format!(
                "{}-{:06}.eml",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                n
            );
            let mut file = format!("X-Envelope-From: <{}>\r\n", mail.from);
            for to in &mail.to {
                file.push_str(&format!("X-Envelope-To: <{to}>\r\n"));
            }
            file.push_str(&mail.data);
            tokio::fs::write(dir.join(name), file).await?;
            // The folder is the record: a long-running stack's catcher must not
            // grow by every mail of every sale.
            return Ok(());
        }
        self.lock().mails.push(mail);
        Ok(())
    }
}

/// `MAIL FROM:<a@b> BODY=8BITMIME` → `a@b`.
fn address_after(command: &str, keyword: &str) -> Option<String> {
    let upper = command.to_ascii_uppercase();
    let start = upper.find(keyword)? + keyword.len();
    let rest = command[start..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

/// Read the message after DATA up to the lone `.` line, undoing dot-stuffing.
/// `None` when it is larger than [`MAX_MESSAGE`] (the rest is still consumed).
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    let mut too_big = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" || line == ".\n" {
            break;
        }
        let content = line.strip_prefix('.').unwrap_or(&line);
        if data.len() + content.len() > MAX_MESSAGE {
            too_big = true;
        } else {
            data.push_str(content);
        }
    }
    Ok((!too_big).then_some(data))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_from_commands() {
        assert_eq!(
            address_after("MAIL FROM:<a@b.c> BODY=8BITMIME", "FROM:"),
            Some("a@b.c".into())
        );
        assert_eq!(address_after("rcpt to: <x@y>", "TO:"), Some("x@y".into()));
        assert_eq!(address_after("RCPT TO:x@y", "TO:"), None);
    }

    #[tokio::test]
    async fn a_plain_smtp_session_is_stored_and_refusals_counted() {
        let catcher = Catcher::start(
            "127.0.0.1:0",
            Config {
                dir: None,
                reject: vec!["fail".into()],
            },
        )
        .await
        .unwrap();
        let stream = TcpStream::connect(catcher.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("220"));
        for (command, expect) in [
            ("HELO me\r\n", "250"),
            ("MAIL FROM:<a@x>\r\n", "250"),
            ("RCPT TO:<will-fail@x>\r\n", "550"),
            ("RCPT TO:<ok@x>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: hi\r\n\r\n..dotted\r\n.\r\n", "250"),
            ("QUIT\r\n", "221"),
        ] {
            write.write_all(command.as_bytes()).await.unwrap();
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            assert!(line.starts_with(expect), "{command:?} got {line:?}");
        }
        let mails = catcher.mails_to("ok@x");
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].header("subject").as_deref(), Some("hi"));
        assert!(mails[0].data.contains("\r\n.dotted\r\n"));
        assert_eq!(catcher.rejected(), 1);
    }

    #[test]
    fn bodies_are_decoded_for_assertions() {
        let mail = Mail {
            from: "a@x".into(),
            to: vec!["b@x".into()],
            data: "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nHello =E2=80=94 A=\r\nda\r\n\
                   --b1\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--b1--\r\n"
                .into(),
        };
        let text = mail.decoded();
        assert!(text.contains("Hello \u{2014} Ada"), "{text}");
        assert!(text.contains("<b>hi</b>"), "{text}");
    }
}
