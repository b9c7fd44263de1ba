//! Real reverse proxies for the tests: an upstream that echoes what it was
//! told about the user, and nginx and caddy started from `examples/nginx/` and
//! `examples/caddy/` on loopback. Also what every example must get right:
//! each `X-Auth-*` header sealgate can send is set or cleared by each.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An upstream app that answers every request with the identity headers it
/// received, as JSON, with the request's URI, its `Host`, and the
/// upstream's own address (`upstream`, to tell several apart).
pub async fn spawn_echo_upstream() -> String {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    async fn echo(req: HttpRequest, me: web::Data<String>) -> HttpResponse {
        let mut seen = serde_json::Map::new();
        for (name, value) in req.headers() {
            if name.as_str().starts_with("x-auth-") {
                seen.insert(name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").into());
            }
        }
        seen.insert("uri".into(), req.uri().to_string().into());
        let host = req.headers().get("host").map(|h| h.to_str().unwrap_or("<binary>").to_owned());
        seen.insert("host".into(), host.into());
        seen.insert("upstream".into(), me.get_ref().clone().into());
        HttpResponse::Ok().json(seen)
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let me = web::Data::new(address.clone());
    let server = HttpServer::new(move || App::new().app_data(me.clone()).default_service(web::to(echo)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    address
}

/// Every `X-Auth-*` header sealgate can send, read from the source that
/// defines them, so that a new one cannot be forgotten by the tests.
pub fn identity_header_names() -> Vec<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/verify.rs")).unwrap();
    let mut names: Vec<String> = source
        .split('"')
        .filter(|piece| piece.starts_with("x-auth-") && piece.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 9, "found only {names:?}");
    names
}

/// `/public` for anyone, `admin.test` for admins only, `127.0.0.1` (the
/// host the tests reach nginx by) for admins only too; permissions for
/// admins, so that `X-Auth-Permissions` is sent.
pub fn host_rules(s: &mut sealgate::config::Settings) {
    use sealgate::config::{Access, RuleSettings};
    let rule = |hosts: &[&str], paths: &[&str], allow, groups: &[&str]| RuleSettings {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        allow,
        ..RuleSettings::default()
    };
    s.policy.rules = vec![
        rule(&[], &["/public"], Access::Public, &[]),
        rule(&["admin.test"], &[], Access::Authenticated, &["admins"]),
        rule(&["127.0.0.1"], &["/admin"], Access::Authenticated, &["admins"]),
    ];
    s.policy.permissions = [("admins".to_owned(), vec!["read:orders".to_owned()])].into();
}

/// Every identity header, forged.
pub fn forged(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    identity_header_names().into_iter().fold(request, |request, name| request.header(name, "forged"))
}

/// One raw HTTP/1.1 exchange on a fresh connection (`Connection: close`),
/// for requests a client library will not send (an absolute-form target
/// with another `Host`, a malformed `Host`): the status and the body.
pub async fn raw_http(port: u16, request_line: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("{request_line}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// Wait until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str, log: Option<&Path>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = log.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
            panic!("{what} did not start listening on {port}\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn require(binary: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path;
        }
    }
    panic!("`{binary}` is not installed; run `bash scripts/install-test-deps.sh` (scripts/test.sh does)");
}

/// Debian's nginx, running `examples/nginx/sealgate.conf`.
pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl Nginx {
    pub fn start(port: u16, sealgate: &str, upstream: &str) -> Nginx {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx/sealgate.conf")).unwrap();
        let site = template
            .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
            .replace("{{SEALGATE}}", sealgate)
            .replace("{{UPSTREAM}}", upstream);
        Nginx::run(port, site)
    }

    /// The example's `server` block once per `(server_name, upstream)`, on
    /// one port (the first is the default server), everything before it
    /// (the `upstream` and `map`) once: one nginx routing several hosts.
    pub fn start_with_servers(port: u16, sealgate: &str, servers: &[(&str, &str)]) -> Nginx {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx/sealgate.conf")).unwrap();
        let at = template.find("\nserver {").expect("the example has a server block") + 1;
        let (preamble, server) = template.split_at(at);
        let listen = "    listen {{LISTEN}};\n";
        assert!(server.contains(listen));
        let mut site = preamble.replace("{{SEALGATE}}", sealgate);
        for (name, upstream) in servers {
            site.push_str(
                &server
                    .replace(listen, &format!("{listen}    server_name {name};\n"))
                    .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
                    .replace("{{UPSTREAM}}", upstream),
            );
        }
        Nginx::run(port, site)
    }

    fn run(port: u16, site: String) -> Nginx {
        let nginx = require("nginx");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        let main = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new(nginx)
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "nginx", Some(&dir.path().join("error.log")));
        Nginx { port, child, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx's error log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child, "-QUIT");
    }
}

/// Debian's caddy (2.6), running `examples/caddy/Caddyfile`. Its home, data
/// and config directories are in a temporary directory, so it writes nothing
/// anywhere else.
pub struct Caddy {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl Caddy {
    pub fn start(port: u16, sealgate: &str, upstream: &str) -> Caddy {
        let caddy = require("caddy");
        let dir = tempfile::tempdir().unwrap();
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/caddy/Caddyfile")).unwrap();
        let site = template
            .replace("{{LISTEN}}", &format!("http://127.0.0.1:{port}"))
            .replace("{{SEALGATE}}", sealgate)
            .replace("{{UPSTREAM}}", upstream);
        let config = dir.path().join("Caddyfile");
        std::fs::write(&config, site).unwrap();
        let log_path = dir.path().join("caddy.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("caddy did not start listening on {port} ({exited:?})\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Caddy { port, child, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What caddy has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        stop(&mut self.child, "-TERM");
    }
}

/// Ask a child to stop with `signal`, then kill it if it has not in 5 s.
fn stop(child: &mut Child, signal: &str) {
    let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A TCP forwarder in front of a provider that a test can take down: while
/// down, every connection is closed at once, as if the provider were gone.
/// (Freezing the provider instead would let it process a request after the
/// client timed out, which with rotating refresh tokens is a different story.)
pub struct Switch {
    pub port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Switch {
    pub async fn to(target: String) -> Switch {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(AtomicBool::new(false));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, open) = (down.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().unwrap().push(task.abort_handle());
            }
        });
        Switch { port, down, connections }
    }

    /// Down: refuse new connections and cut the open ones (a client's pool
    /// would otherwise keep reaching the provider).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            for connection in self.connections.lock().unwrap().drain(..) {
                connection.abort();
            }
        }
    }
}

/// Every `X-Auth-*` header sealgate can send is set or cleared by every
/// example, Traefik's (which the tests cannot run) included.
#[test]
fn every_example_sets_or_clears_every_identity_header() {
    let lines = |example: &str| -> Vec<String> {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(example)).unwrap();
        text.lines().map(|line| line.trim().to_lowercase()).collect()
    };
    let (nginx, caddy, traefik) = (
        lines("examples/nginx/sealgate.conf"),
        lines("examples/caddy/Caddyfile"),
        lines("examples/traefik/dynamic.yml"),
    );
    for name in identity_header_names() {
        let variable = format!("$upstream_http_{};", name.replace('-', "_"));
        let copied = nginx.iter().find(|l| l.starts_with("auth_request_set ") && l.ends_with(&variable));
        let var =
            copied.and_then(|l| l.split_whitespace().nth(1)).unwrap_or_else(|| panic!("nginx: {name} not copied"));
        assert!(nginx.contains(&format!("proxy_set_header {name} {var};")), "nginx: {name} not set from {var}");

        assert!(caddy.contains(&format!("request_header -{name}")), "caddy: the client's {name} not removed");
        assert!(caddy.contains(&name), "caddy: {name} not in copy_headers");
        assert!(
            caddy.iter().any(|l| l.starts_with("request_header @unset_") && l.ends_with(&format!(" -{name}"))),
            "caddy: {name} placeholder not removed"
        );

        assert!(traefik.contains(&format!("- {name}")), "traefik: {name} not in authResponseHeaders");
    }
}
