//! `spawn_app()` and the typed helpers the tests read as stories with.

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use sealgate::clock::ManualClock;
use sealgate::config::{Settings, DEFAULT_CONFIG};
use sealgate::credentials::Credentials;
use sealgate::crypto::keys::{self, KeyAlg};
use sealgate::identity::User;
use sealgate::providers::credentials::hash_password;
use sealgate::session::Session;
use sealgate::startup::{Application, Gateway, KeyInit};
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;

pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "correct horse battery staple";
pub const BOB: &str = "bob";
pub const BOB_PASSWORD: &str = "hunter2-but-longer";
/// A user with so many groups that the session needs several cookie chunks.
pub const CROWD: &str = "crowd";
pub const CROWD_PASSWORD: &str = "many many groups";
/// The provider of sessions the tests seal themselves, as `sealgate session
/// mint` names them (a `credentials` session needs an account in the users file).
pub const MINTED: &str = "cli";
/// Where the test server believes it lives; Origin checks compare against it.
pub const PUBLIC_URL: &str = "http://gate.test";

/// Hashing is slow on purpose; hash each test password once per run.
fn users_toml() -> &'static str {
    static USERS: OnceLock<String> = OnceLock::new();
    USERS.get_or_init(|| {
        let hash = |p: &str| hash_password(&SecretString::from(p.to_owned())).unwrap();
        let groups: Vec<String> = (0..160).map(|i| format!("\"team-{i:03}-with-a-long-descriptive-name\"")).collect();
        format!(
            r#"
[[users]]
username = "{ALICE}"
password_hash = "{}"
email = "alice@example.com"
name = "Alice Liddell"
groups = ["admins", "staff"]

[[users]]
username = "{BOB}"
password_hash = "{}"
email = "bob@example.com"

[[users]]
username = "{CROWD}"
password_hash = "{}"
groups = [{}]
"#,
            hash(ALICE_PASSWORD),
            hash(BOB_PASSWORD),
            hash(CROWD_PASSWORD),
            groups.join(", ")
        )
    })
}

#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    /// Keeps cookies and does not follow redirects.
    pub client: Client,
    pub clock: ManualClock,
    pub sessions: actix_web::web::Data<Credentials>,
    pub keys_path: PathBuf,
    /// What the app was started with (a replica starts with the same).
    pub settings: Settings,

    /// Holds the key set and users file for the app's lifetime.
    pub _dir: Arc<TempDir>,
}

/// Settings for a test app whose files live in `dir`.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.public_url = PUBLIC_URL.into();
    settings.server.workers = 1;
    settings.keys.path = dir.path().join("keys.json");
    settings.credentials.users_file = dir.path().join("users.toml");
    settings.store.path = dir.path().join("sealgate.db");
    settings.log.level = "warn".into();
    settings
}

/// A directory with the test users and a `dir` key set.
pub fn new_dir() -> TempDir {
    new_dir_for(KeyAlg::Dir)
}

/// A directory with the test users and a key set of `alg`, as `sealgate
/// keygen --alg` writes it.
pub fn new_dir_for(alg: KeyAlg) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), users_toml()).unwrap();
    keys::keygen(&dir.path().join("keys.json"), alg).unwrap();
    dir
}

pub fn client() -> Client {
    Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap()
}

/// A test app with the default test settings: `Spawn::new().run()`.
pub async fn spawn_app() -> TestApp {
    Spawn::new().run().await
}

/// A test app with its settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    Spawn::new().configure(configure).run().await
}

/// How a test app starts, for the stories that need more than
/// [`spawn_app_with`]: `Spawn::new().alg(alg).configure(|s| ...).ready().run()`.
/// One change to the test settings.
type Configure<'a> = Box<dyn FnOnce(&mut Settings) + 'a>;

pub struct Spawn<'a> {
    alg: KeyAlg,
    ready: bool,
    configure: Vec<Configure<'a>>,
}

impl Default for Spawn<'_> {
    fn default() -> Self {
        Spawn::new()
    }
}

impl<'a> Spawn<'a> {
    pub fn new() -> Spawn<'a> {
        Spawn { alg: KeyAlg::Dir, ready: false, configure: Vec::new() }
    }

    /// Seal sessions with a key set of `alg` (the default is `dir`).
    pub fn alg(mut self, alg: KeyAlg) -> Spawn<'a> {
        self.alg = alg;
        self
    }

    /// Change the test settings (in order, when called more than once).
    pub fn configure(mut self, configure: impl FnOnce(&mut Settings) + 'a) -> Spawn<'a> {
        self.configure.push(Box::new(configure));
        self
    }

    /// Return only once `/readyz` answers 200 (providers discovered).
    pub fn ready(mut self) -> Spawn<'a> {
        self.ready = true;
        self
    }

    pub async fn run(self) -> TestApp {
        let dir = Arc::new(new_dir_for(self.alg));
        let mut settings = test_settings(&dir);
        session_format_from_env(&dir, &mut settings);
        for configure in self.configure {
            configure(&mut settings);
        }
        let app = spawn_in(dir, settings, ManualClock::at(chrono::Utc::now().timestamp())).await;
        if self.ready {
            wait_ready(&app).await;
        }
        app
    }
}

/// The session format the suite runs in: `SEALGATE_TEST_SESSION_FORMAT` =
/// `sealed` (the default), `nested-p256` (ECDH-ES+A256KW on P-256, ES256)
/// or `nested-x25519` (on X25519, EdDSA). For a nested run the key file
/// gets the key pairs `sealgate keygen --alg ECDH-ES+A256KW` adds, and
/// `session.format = "nested"`; scripts/test.sh runs the session modules
/// once per format.
pub fn session_format_from_env(dir: &TempDir, settings: &mut Settings) {
    use sealgate::config::SessionFormat;
    use sealgate::crypto::keys::{EncCurve, PairKind, SignAlg};
    let (enc, sig) = match std::env::var("SEALGATE_TEST_SESSION_FORMAT").as_deref() {
        Err(_) | Ok("") | Ok("sealed") => return,
        Ok("nested-p256") => (EncCurve::P256, SignAlg::Es256),
        Ok("nested-x25519") => (EncCurve::X25519, SignAlg::EdDsa),
        Ok(other) => panic!("SEALGATE_TEST_SESSION_FORMAT={other}: not sealed, nested-p256 or nested-x25519"),
    };
    keys::keygen_pair(&dir.path().join("keys.json"), PairKind::Enc(enc), PairKind::Sig(sig), false).unwrap();
    settings.session.format = SessionFormat::Nested;
}

/// The `alg` the outer header of a session cookie from [`Spawn::run`] has:
/// the symmetric key's `alg`, or `ECDH-ES+A256KW` in a nested run.
pub fn session_alg(alg: KeyAlg) -> &'static str {
    match std::env::var("SEALGATE_TEST_SESSION_FORMAT") {
        Ok(format) if format.starts_with("nested") => "ECDH-ES+A256KW",
        _ => alg.as_str(),
    }
}

/// Wait until the app is ready (`/readyz` is 200: every provider's
/// discovery is done), for at most 10 s.
pub async fn wait_ready(app: &TestApp) {
    for _ in 0..200 {
        if app.get("/readyz").await.status() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the app never became ready: /readyz is {}", app.get("/readyz").await.status());
}

/// Start an app on existing files and clock (e.g. after rotating keys).
pub async fn spawn_in(dir: Arc<TempDir>, settings: Settings, clock: ManualClock) -> TestApp {
    try_spawn_in(dir, settings, clock).await.unwrap_or_else(|e| panic!("the app did not start: {e}"))
}

/// Every log line the test apps wrote, at debug level and above (trace for
/// sealgate itself), so tests can check that no secret was ever logged.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug,sealgate=trace"))
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .try_init();
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

pub async fn try_spawn_in(dir: Arc<TempDir>, settings: Settings, clock: ManualClock) -> Result<TestApp, String> {
    capture_logs();
    let gateway = Gateway::assemble(settings.clone(), Arc::new(clock.clone()), KeyInit::CreateInDevelopment)
        .map_err(|e| e.to_string())?;
    let sessions = gateway.credentials.clone();
    let app = Application::build(gateway).map_err(|e| e.to_string())?;
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        address,
        client: client(),
        clock,
        sessions,
        keys_path: settings.keys.path.clone(),
        settings,
        _dir: dir,
    })
}

impl TestApp {
    /// Another replica of this gateway: the same settings, files (key set,
    /// users, local store) and clock, its own process state and port.
    pub async fn replica(&self) -> TestApp {
        spawn_in(self._dir.clone(), self.settings.clone(), self.clock.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET with exactly this Cookie header, bypassing the cookie jar.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Response {
        Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(self.url(path)).form(form).send().await.unwrap()
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Response {
        self.post_form(
            "/auth/signin/credentials",
            &[("username", username), ("password", password), ("remember", "true")],
        )
        .await
    }

    pub async fn sign_in_as_alice(&self) -> Response {
        let response = self.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(response.status(), 303, "alice could not sign in");
        response
    }

    pub async fn verify(&self) -> Response {
        self.get("/auth/verify").await
    }

    /// `GET /auth/session`'s JSON.
    pub async fn session_json(&self) -> serde_json::Value {
        self.get("/auth/session").await.json().await.unwrap()
    }

    /// The same gateway in a browser of its own (an empty cookie jar).
    pub fn other_browser(&self) -> TestApp {
        TestApp { client: client(), ..self.clone() }
    }

    /// Seal a session as the app would, and return it as a Cookie header.
    pub fn cookie_for(&self, session: &Session) -> String {
        let value = self.sessions.codec.seal(session).unwrap();
        self.cookie_header(&value)
    }

    pub fn cookie_header(&self, value: &str) -> String {
        let parts = self.sessions.cookies.split(value).unwrap();
        parts.into_iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// A session for `user_id` as `sealgate session mint` makes one
    /// (provider `cli`): not a password sign-in, so no users-file account
    /// stands behind it.
    pub fn session_for(&self, user_id: &str) -> Session {
        let mut user = User::new(user_id);
        user.email = Some(format!("{user_id}@example.com"));
        self.sessions.codec.start(user, MINTED, true, None).unwrap()
    }

    pub fn cookie_name(&self) -> String {
        self.sessions.cookies.name.clone()
    }
}

/// Every `Set-Cookie` of a response as `(name, value, attributes)`.
pub fn set_cookies(headers: &HeaderMap) -> Vec<SetCookie> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let text = v.to_str().unwrap().to_owned();
            let (pair, attributes) = text.split_once(';').unwrap_or((text.as_str(), ""));
            let (name, value) = pair.split_once('=').unwrap();
            SetCookie {
                name: name.into(),
                value: value.into(),
                attributes: attributes.to_ascii_lowercase(),
                raw: text.clone(),
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Everything after the first `;`, lower-cased.
    pub attributes: String,
    pub raw: String,
}

impl SetCookie {
    pub fn is_removal(&self) -> bool {
        self.value.is_empty() && self.attributes.contains("max-age=0")
    }
}

/// The `alg` in the protected header of a sealed value (compact JWE), to
/// check which key algorithm sealed it.
pub fn sealed_alg(value: &str) -> String {
    use base64::Engine as _;
    let header = value.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

pub fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Keep the state in `redis` (with a short ping and timeout, so an outage shows quickly).
pub fn on_redis(settings: &mut Settings, redis: &crate::support::redis_server::RedisServer) {
    settings.store.kind = sealgate::config::store::StoreKind::Redis;
    settings.store.url = Some(sealgate::config::store::RedisUrl::new(&redis.url()));
    settings.store.poll_interval = std::time::Duration::from_millis(100);
    settings.store.timeout = std::time::Duration::from_millis(500);
}

/// Keep the state in `redis` when given one, else in the local file the
/// test settings name.
pub fn on_store(settings: &mut Settings, redis: Option<&crate::support::redis_server::RedisServer>) {
    if let Some(redis) = redis {
        on_redis(settings, redis);
    }
}

impl TestApp {
    /// Until `/readyz` says the store is `state` (`None`: ready), for at most 10 s.
    pub async fn wait_for_store(&self, state: Option<&str>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let body: serde_json::Value = self.get("/readyz").await.json().await.unwrap();
            if body.get("store").and_then(|s| s.as_str()) == state {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the store never became {state:?}: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sign `username` in with a password, and return the session cookie as
    /// a Cookie header (what a browser, or someone who copied it, sends).
    pub async fn signed_in_cookie(&self, username: &str, password: &str) -> String {
        let form = [("username", username), ("password", password), ("remember", "true")];
        let response = client().post(self.url("/auth/signin/credentials")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 303, "{username} could not sign in");
        let cookies = set_cookies(response.headers());
        let session = cookies.iter().find(|c| c.name == self.cookie_name() && !c.is_removal());
        let session = session.unwrap_or_else(|| panic!("no session cookie for {username}: {cookies:?}"));
        format!("{}={}", session.name, session.value)
    }

    /// The status `/auth/verify` answers for exactly this Cookie header.
    pub async fn verify_cookie(&self, cookie: &str) -> u16 {
        self.get_with_cookie("/auth/verify", cookie).await.status().as_u16()
    }
}
