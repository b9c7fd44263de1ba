//! The real reverse proxies in front of sealgate: [`Proxy`] starts nginx
//! (`examples/nginx/sealgate.conf`) or Caddy (`examples/caddy/Caddyfile`)
//! exactly as the example is written, with its `{{LISTEN}}`, `{{SEALGATE}}`
//! and `{{UPSTREAM}}` filled in with loopback addresses. Also the upstream
//! app that echoes what it was told about the user, and what every example
//! must get right: each `X-Auth-*` header sealgate can send is set or
//! cleared by each.

use crate::support::network::{stop, wait_for_port};
use crate::support::require::{require, Tool};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// Debian's nginx, with `auth_request`.
    Nginx,
    /// Debian's Caddy (2.6), with `forward_auth`.
    Caddy,
}

/// A proxy running on a loopback port; stopped when dropped.
pub struct RunningProxy {
    pub proxy: Proxy,
    pub port: u16,
    child: Child,
    /// Its config, its log and (Caddy) its home: nothing is written elsewhere.
    dir: TempDir,
}

fn example(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

impl Proxy {
    /// The proxy on `port`, in front of sealgate at `sealgate` (host:port)
    /// and an app at `upstream` (host:port).
    pub fn start(self, port: u16, sealgate: &str, upstream: &str) -> RunningProxy {
        self.start_sites(port, sealgate, &[(None, upstream)])
    }

    /// The example's site once per `(host name, upstream)`, all on `port`,
    /// its global part (nginx's `upstream` and `map`, Caddy's options)
    /// once: one proxy routing several hosts by name.
    pub fn start_with_hosts(self, port: u16, sealgate: &str, hosts: &[(&str, &str)]) -> RunningProxy {
        let sites: Vec<(Option<&str>, &str)> = hosts.iter().map(|(name, upstream)| (Some(*name), *upstream)).collect();
        self.start_sites(port, sealgate, &sites)
    }

    fn start_sites(self, port: u16, sealgate: &str, sites: &[(Option<&str>, &str)]) -> RunningProxy {
        let program = require(self.tool());
        let dir = tempfile::tempdir().unwrap();
        let (template, site_start) = match self {
            Proxy::Nginx => (example("examples/nginx/sealgate.conf"), "\nserver {"),
            Proxy::Caddy => (example("examples/caddy/Caddyfile"), "\n{{LISTEN}} {"),
        };
        let at = template.find(site_start).expect("the example has one site") + 1;
        let (global, site) = template.split_at(at);
        let mut config = global.replace("{{SEALGATE}}", sealgate);
        for (name, upstream) in sites {
            let site = site.replace("{{SEALGATE}}", sealgate).replace("{{UPSTREAM}}", upstream);
            config.push_str(&match (self, name) {
                (Proxy::Nginx, None) => site.replace("{{LISTEN}}", &format!("127.0.0.1:{port}")),
                (Proxy::Nginx, Some(name)) => {
                    let listen = "    listen {{LISTEN}};\n";
                    assert!(site.contains(listen), "the nginx example's listen line moved");
                    site.replace(listen, &format!("    listen 127.0.0.1:{port};\n    server_name {name};\n"))
                }
                (Proxy::Caddy, None) => site.replace("{{LISTEN}}", &format!("http://127.0.0.1:{port}")),
                (Proxy::Caddy, Some(name)) => site.replace("{{LISTEN}}", &format!("http://{name}:{port}")),
            });
        }
        let mut child = match self {
            Proxy::Nginx => run_nginx(&program, dir.path(), &config),
            Proxy::Caddy => run_caddy(&program, dir.path(), &config),
        };
        wait_for_port(&mut child, port, self.name(), &dir.path().join(self.log_file()));
        RunningProxy { proxy: self, port, child, dir }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "caddy",
        }
    }

    fn tool(self) -> Tool {
        match self {
            Proxy::Nginx => Tool::Nginx,
            Proxy::Caddy => Tool::Caddy,
        }
    }

    fn log_file(self) -> &'static str {
        match self {
            Proxy::Nginx => "error.log",
            Proxy::Caddy => "caddy.log",
        }
    }
}

/// nginx with `site` included in a minimal `http {}` of its own, writing
/// its pid, temp files and error log in `dir`.
fn run_nginx(nginx: &Path, dir: &Path, site: &str) -> Child {
    let d = dir.display();
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let main = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    Command::new(nginx)
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Caddy running `caddyfile`, its home, data and config directories in `dir`.
fn run_caddy(caddy: &Path, dir: &Path, caddyfile: &str) -> Child {
    let config = dir.join("Caddyfile");
    std::fs::write(&config, caddyfile).unwrap();
    let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
    Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl RunningProxy {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the proxy has logged so far (nginx: its error log), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(self.proxy.log_file())).unwrap_or_default()
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let signal = match self.proxy {
            Proxy::Nginx => "-QUIT",
            Proxy::Caddy => "-TERM",
        };
        stop(&mut self.child, signal);
    }
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
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/identity_headers.rs")).unwrap();
    let mut names: Vec<String> = source
        .split('"')
        .filter(|piece| {
            piece.len() > "x-auth-".len()
                && piece.starts_with("x-auth-")
                && piece.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        // A prefix (`x-auth-access-token-{id}`) as the example configs name it: for `github`.
        .map(|piece| if piece.ends_with('-') { format!("{piece}github") } else { piece.to_owned() })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 9, "found only {names:?}");
    names
}

/// Every identity header, forged.
pub fn forged(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    identity_header_names().into_iter().fold(request, |request, name| request.header(name, "forged"))
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
