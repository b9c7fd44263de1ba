//! A real SMTP server on loopback: aiosmtpd (`tests/support/smtp_sink.py`,
//! in the venv `scripts/install-test-deps.sh` makes), saving each message
//! it receives as a file the tests read the sign-in code from.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VENV_PYTHON: &str = "tests/support/.venv/bin/python";
const SINK: &str = "tests/support/smtp_sink.py";

/// The SMTP server; killed on drop.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
    /// With TLS: the throwaway self-signed certificate it presents (PEM),
    /// for 127.0.0.1, which a client trusts through `email.ca_file`.
    pub cert: Option<PathBuf>,
}

/// How the SMTP server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Offers STARTTLS, and refuses mail before it.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Smtps,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
}

impl Mail {
    /// Whether the message came over TLS (STARTTLS or smtps).
    pub fn over_tls(&self) -> bool {
        self.raw.lines().nth(1) == Some("X-TLS: yes")
    }

    /// The envelope recipient(s), as the server received them.
    pub fn to(&self) -> &str {
        self.raw.lines().next().and_then(|line| line.strip_prefix("X-Envelope-To: ")).unwrap_or_default()
    }

    /// The sign-in code: the first run of six or more digits after "code is:".
    pub fn code(&self) -> String {
        let after = self.raw.split_once("code is:").map(|(_, rest)| rest).expect("no code in the message");
        let start = after.find(|c: char| c.is_ascii_digit()).expect("no digits after `code is:`");
        let code: String = after[start..].chars().take_while(char::is_ascii_digit).collect();
        assert!(code.len() >= 6, "not a code: {code}");
        code
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(None)
    }

    /// A server speaking TLS with a fresh self-signed certificate (made
    /// with the openssl CLI, `scripts/install-test-deps.sh`).
    pub fn start_tls(tls: SmtpTls) -> SmtpSink {
        SmtpSink::start_with(Some(tls))
    }

    fn start_with(tls: Option<SmtpTls>) -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(VENV_PYTHON);
        assert!(python.exists(), "aiosmtpd is not installed: run bash scripts/install-test-deps.sh");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(python);
        command.arg(root.join(SINK)).arg(port.to_string()).arg(dir.path());
        let mut cert = None;
        if let Some(tls) = tls {
            let (cert_path, key_path) = (dir.path().join(".cert.pem"), dir.path().join(".key.pem"));
            let made = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
                .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2"])
                // A server certificate, not a CA one (webpki refuses a CA as the end entity).
                .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
                .arg("-keyout")
                .arg(&key_path)
                .arg("-out")
                .arg(&cert_path)
                .stderr(Stdio::null())
                .status()
                .expect("openssl is not installed: run bash scripts/install-test-deps.sh");
            assert!(made.success(), "openssl could not make a test certificate");
            command.arg(if tls == SmtpTls::StartTls { "starttls" } else { "smtps" }).arg(&cert_path).arg(&key_path);
            cert = Some(cert_path);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the SMTP sink");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start");
        SmtpSink { port, dir, child, cert }
    }

    /// Where the messages are saved (`<n>.eml`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let n = path.file_name()?.to_str()?.strip_suffix(".eml")?.parse().ok()?;
                Some((n, path))
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, path)| path).collect()
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        self.files().iter().map(|path| Mail { raw: std::fs::read_to_string(path).unwrap() }).collect()
    }

    /// The `n`th message (1-based), waiting up to 10 s for it.
    pub async fn message(&self, n: usize) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self.messages().into_iter().nth(n - 1) {
                return mail;
            }
            assert!(Instant::now() < deadline, "message {n} never arrived ({} so far)", self.messages().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The newest message's code, once `n` messages have arrived.
    pub async fn code(&self, n: usize) -> String {
        self.message(n).await.code()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
