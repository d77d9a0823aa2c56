//! A tiny real SMTP server for tests: plain text (no TLS), accepts any
//! sender, recipient and login, and keeps every message it accepts.
//!
//! It speaks what lettre needs: `EHLO`/`HELO`, `AUTH PLAIN`/`AUTH LOGIN`
//! (any credentials pass; advertised because lettre only logs in when the
//! server offers it), `MAIL FROM`, `RCPT TO`, `DATA`, `RSET`, `NOOP`, `QUIT`,
//! several messages per connection and several connections at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The raw message after `DATA`, dot-unstuffed, CRLF line endings,
    /// without the terminating `.` line.
    pub data: String,
}

impl ReceivedMail {
    /// The first header named `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((key, value)) = line.split_once(':')
                && key.trim().eq_ignore_ascii_case(name)
            {
                found = Some(value.trim().to_owned());
            }
        }
        found
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    logins: Mutex<Vec<String>>,
    reject: AtomicUsize,
    connections: AtomicUsize,
}

/// A running sink; dropping it stops accepting and closes its connections.
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts listening on 127.0.0.1 on a free port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let shared = Arc::new(Shared::default());
        let acceptor = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpSink {
            port,
            shared,
            acceptor,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in order of acceptance.
    pub async fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Polls until at least `n` messages arrived or `timeout` passed, then
    /// returns whatever arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages().await;
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The next `n` messages get `451 4.3.0 try again later` at the end of
    /// `DATA` (and are not kept).
    pub fn reject_next(&self, n: usize) {
        self.shared.reject.store(n, Ordering::SeqCst);
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The user names that logged in with `AUTH`, in order.
    pub fn logins(&self) -> Vec<String> {
        self.shared.logins.lock().unwrap().clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Aborting the acceptor drops its JoinSet, which aborts every connection task.
        self.acceptor.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                sessions.spawn(session(stream, Arc::clone(&shared)));
            }
            // Reap finished sessions so the set does not grow without bound.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

const NAME: &str = "smtp-sink.test";

/// One connection, start to `QUIT` (or until the client goes away).
async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();

    write
        .write_all(format!("220 {NAME} ESMTP ready\r\n").as_bytes())
        .await?;
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(());
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => format!(
                "250-{NAME} greets {rest}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"
            ),
            "HELO" => format!("250 {NAME}\r\n"),
            "AUTH" => auth(rest, &mut lines, &mut write, &shared).await?,
            "MAIL" => match path_after(rest, "FROM:") {
                Some(address) => {
                    from = Some(address);
                    to.clear();
                    "250 2.1.0 OK\r\n".to_owned()
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n".to_owned(),
            },
            "RCPT" => match (&from, path_after(rest, "TO:")) {
                (None, _) => "503 5.5.1 MAIL first\r\n".to_owned(),
                (Some(_), Some(address)) => {
                    to.push(address);
                    "250 2.1.5 OK\r\n".to_owned()
                }
                (Some(_), None) => "501 5.5.4 syntax: RCPT TO:<address>\r\n".to_owned(),
            },
            "DATA" if from.is_none() || to.is_empty() => "503 5.5.1 RCPT first\r\n".to_owned(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut lines).await? else {
                    return Ok(());
                };
                let mail = ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                };
                let rejected = shared
                    .reject
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if rejected {
                    "451 4.3.0 try again later\r\n".to_owned()
                } else {
                    shared.messages.lock().unwrap().push(mail);
                    "250 2.0.0 OK queued\r\n".to_owned()
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return write.shutdown().await;
            }
            _ => "502 5.5.2 command not recognized\r\n".to_owned(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Accepts any credentials, remembering the user name.
async fn auth(
    rest: &str,
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
) -> std::io::Result<String> {
    let (mechanism, initial) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut prompt = async |challenge: &str| -> std::io::Result<Option<String>> {
        write
            .write_all(format!("334 {challenge}\r\n").as_bytes())
            .await?;
        Ok(read_line(lines)
            .await?
            .map(|l| l.trim_end_matches(['\r', '\n']).to_owned()))
    };
    let user = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let response = if initial.is_empty() {
                prompt("").await?.unwrap_or_default()
            } else {
                initial.to_owned()
            };
            // authzid \0 authcid \0 password
            decode(&response)
                .split('\0')
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        }
        "LOGIN" => {
            let user = if initial.is_empty() {
                prompt("VXNlcm5hbWU6").await?.unwrap_or_default() // "Username:"
            } else {
                initial.to_owned()
            };
            prompt("UGFzc3dvcmQ6").await?; // "Password:"
            decode(&user)
        }
        _ => return Ok("504 5.5.4 unrecognized authentication type\r\n".to_owned()),
    };
    shared.logins.lock().unwrap().push(user);
    Ok("235 2.7.0 Authentication successful\r\n".to_owned())
}

fn decode(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `FROM:<a@b> BODY=8BITMIME` → `a@b` (the prefix is matched case-insensitively).
fn path_after(rest: &str, prefix: &str) -> Option<String> {
    let head = rest.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let path = rest[prefix.len()..].trim_start();
    let path = path.split_whitespace().next().unwrap_or_default();
    let inner = path.strip_prefix('<')?.strip_suffix('>')?;
    Some(inner.to_owned())
}

/// One line including its line ending, or `None` at end of stream.
async fn read_line(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if lines.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The message body up to the lone `.` line, dot-unstuffed; `None` if the
/// client went away first.
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(lines).await? else {
            return Ok(None);
        };
        if line == ".\r\n" || line == ".\n" {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
