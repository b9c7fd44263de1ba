//! Real reverse proxies for the tests: an upstream that echoes what it was
//! told about the user, and nginx started from `examples/nginx/` on loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An upstream app that answers every request with the identity headers it
/// received, as JSON.
pub async fn spawn_echo_upstream() -> String {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    async fn echo(req: HttpRequest) -> HttpResponse {
        let mut seen = serde_json::Map::new();
        for (name, value) in req.headers() {
            if name.as_str().starts_with("x-auth-") {
                seen.insert(name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").into());
            }
        }
        seen.insert("uri".into(), req.uri().to_string().into());
        HttpResponse::Ok().json(seen)
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server =
        HttpServer::new(|| App::new().default_service(web::to(echo))).workers(1).listen(listener).unwrap().run();
    tokio::spawn(server);
    address
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
    _dir: TempDir,
}

impl Nginx {
    pub fn start(port: u16, sealgate: &str, upstream: &str) -> Nginx {
        let nginx = require("nginx");
        let dir = tempfile::tempdir().unwrap();
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx/sealgate.conf")).unwrap();
        let site = template
            .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
            .replace("{{SEALGATE}}", sealgate)
            .replace("{{UPSTREAM}}", upstream);
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
        Nginx { port, child, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
