//! `examples/monitoring/`: the alert rules pass promtool and their own rule
//! tests, and every metric the dashboard and the alerts name is one a real
//! gateway process exports. The process serves `/metrics` on
//! `server.metrics_listen` only, counts exactly what it answered (one
//! process, so no other test's requests), and writes an access line per
//! sign-in request and none per `/auth/verify`.

use crate::helpers::{new_dir, set_cookies, ALICE, ALICE_PASSWORD};
use crate::support::network::free_port;
use crate::support::require::{require, Tool};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monitoring")
}

fn promtool(args: &[&str]) {
    let output = Command::new(require(Tool::Promtool)).args(args).current_dir(monitoring()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
}

#[test]
fn the_alert_rules_and_the_scrape_config_pass_promtool_and_the_rule_tests() {
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts_test.yml"]);
    promtool(&["check", "config", "prometheus.yml"]);
}

/// The metric families the dashboard's and the alerts' queries name.
fn named_metrics() -> BTreeSet<String> {
    let dashboard = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().iter())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    queries.push(std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap());
    let mut names = BTreeSet::new();
    for query in &queries {
        for (at, _) in query.match_indices("sealgate_") {
            let name: String = query[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .fold(name.clone(), |name, suffix| name.strip_suffix(suffix).map(str::to_owned).unwrap_or(name));
            names.insert(family);
        }
    }
    names
}

/// A `sealgate serve` process, stopped when dropped.
struct Gateway {
    child: Child,
    base: String,
    metrics: String,
    log: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn start(dir: &Path) -> Gateway {
    let (port, metrics_port) = (free_port(), free_port());
    let log = dir.join("gateway.log");
    let child = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["--config", "config/sealgate.toml", "serve"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG")
        .env("SEALGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SEALGATE__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("SEALGATE__SERVER__METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.join("users.toml"))
        .env("SEALGATE__STORE__PATH", dir.join("store.db"))
        .env("SEALGATE__LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut gateway = Gateway {
        child,
        base: format!("http://127.0.0.1:{port}"),
        metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if gateway.child.try_wait().unwrap().is_some() {
            panic!("the gateway exited:\n{}", std::fs::read_to_string(&gateway.log).unwrap_or_default());
        }
        if client().get(&gateway.metrics).send().await.is_ok_and(|r| r.status() == 200) {
            return gateway;
        }
        assert!(Instant::now() < deadline, "the metrics listener never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Gateway {
    async fn sign_in(&self, password: &str) -> reqwest::Response {
        client()
            .post(format!("{}/auth/signin/credentials", self.base))
            .header("Origin", &self.base)
            .form(&[("username", ALICE), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    async fn verify(&self, cookie: Option<&str>) -> u16 {
        let mut request = client().get(format!("{}/auth/verify", self.base));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

/// The value of one series, as the text names it (labels in their order).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn a_gateway_counts_what_it_answered_on_its_metrics_listener_and_logs_sign_ins_not_verifies() {
    let dir = new_dir();
    let gateway = start(dir.path()).await;

    assert_eq!(gateway.sign_in("not the password").await.status(), 303);
    let signed_in = gateway.sign_in(ALICE_PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    let session = set_cookies(signed_in.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    let cookie = format!("sealgate={}", session.value);
    for _ in 0..3 {
        assert_eq!(gateway.verify(Some(&cookie)).await, 200);
    }
    assert_eq!(gateway.verify(None).await, 401);
    let main_listener = client().get(format!("{}/metrics", gateway.base)).send().await.unwrap();
    assert_eq!(main_listener.status(), 404, "with metrics_listen, /metrics is not on the public listener");

    let text = client().get(&gateway.metrics).send().await.unwrap().text().await.unwrap();
    for (series, expected) in [
        ("sealgate_signins_total{provider=\"credentials\"}", 1.0),
        ("sealgate_signin_failures_total{provider=\"credentials\",reason=\"invalid_credentials\"}", 1.0),
        ("sealgate_verify_total{outcome=\"ok\",source=\"cookie\"}", 3.0),
        ("sealgate_verify_total{outcome=\"anonymous\",source=\"none\"}", 1.0),
        ("sealgate_http_requests_total{route=\"/auth/verify\",status=\"200\"}", 3.0),
        ("sealgate_http_requests_total{route=\"/auth/verify\",status=\"401\"}", 1.0),
        ("sealgate_http_requests_total{route=\"/auth/signin/credentials\",status=\"303\"}", 2.0),
        ("sealgate_http_request_duration_seconds_count{route=\"/auth/verify\"}", 4.0),
        ("sealgate_open_cache_entries", 1.0),
        // The first verify opens the cookie; the two after it find it opened.
        ("sealgate_open_cache_lookups_total{result=\"hit\"}", 2.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in:\n{text}");
    }

    // Every family the dashboard and the alerts name is one sealgate
    // exports (a family shows in the text once it has a series; the unit
    // tests of `metrics` check that each of NAMES is registered).
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .flat_map(|family| [family.to_owned(), format!("{family}_total")])
        .collect();
    let named = named_metrics();
    assert!(named.len() >= 10, "the dashboard and alerts name {named:?}");
    let unknown: Vec<&String> =
        named.iter().filter(|name| !sealgate::metrics::NAMES.contains(&name.as_str())).collect();
    assert!(unknown.is_empty(), "named but not a sealgate metric: {unknown:?}");
    for family in
        ["sealgate_http_requests_total", "sealgate_verify_total", "sealgate_signins_total", "sealgate_open_cache_bytes"]
    {
        assert!(named.contains(family) && exported.contains(family), "{family}: {named:?}\n{text}");
    }

    // One access line per sign-in request, none per verify; no secret in any.
    let log = std::fs::read_to_string(&gateway.log).unwrap();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "sealgate::access")
        .collect();
    let routes: Vec<&str> = access.iter().map(|line| line["fields"]["route"].as_str().unwrap()).collect();
    assert_eq!(routes, ["/auth/signin/credentials", "/auth/signin/credentials"], "{log}");
    for line in &access {
        assert_eq!(line["fields"]["method"], "POST");
        assert_eq!(line["fields"]["status"], 303);
        assert_eq!(line["fields"]["client"], "127.0.0.1");
        assert!(line["fields"]["ms"].as_f64().unwrap() > 0.0);
    }
    for secret in [ALICE_PASSWORD, session.value.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

/// The lines of the gateway's JSON log with `message`.
fn logged(log: &str, message: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == message)
        .collect()
}

#[tokio::test]
async fn the_start_up_log_says_once_what_the_gateway_is_and_no_secret() {
    let dir = new_dir();
    let gateway = start(dir.path()).await;
    let log = std::fs::read_to_string(&gateway.log).unwrap();

    let starting = logged(&log, "sealgate is starting");
    assert_eq!(starting.len(), 1, "{log}");
    let fields = &starting[0]["fields"];
    assert_eq!(fields["config"], "config/sealgate.toml");
    assert_eq!(fields["mode"], "Development");
    assert_eq!(fields["listen"], gateway.base.trim_start_matches("http://"));
    assert_eq!(fields["signin"], format!("{}/auth/signin", gateway.base));
    assert_eq!(fields["metrics_listen"], gateway.metrics.trim_start_matches("http://").trim_end_matches("/metrics"));

    let users = logged(&log, "password sign-in on");
    assert_eq!(users.len(), 1, "{log}");
    assert_eq!(users[0]["fields"]["users"], 3, "the test users file has three accounts");

    let keys = std::fs::read_to_string(dir.path().join("keys.json")).unwrap();
    let set: serde_json::Value = serde_json::from_str(&keys).unwrap();
    let kid = set["keys"][0]["kid"].as_str().unwrap();
    let loaded = logged(&log, "keys loaded");
    assert_eq!(loaded.len(), 1, "{log}");
    assert_eq!(loaded[0]["fields"]["current"], kid);
    let secret = set["keys"][0]["k"].as_str().unwrap();
    assert!(!log.contains(secret), "a key reached the log");
    assert_eq!(logged(&log, "sealgate is listening").len(), 1, "{log}");
}
