//! `examples/replicas/docker-compose.yml`, run as written (without Docker):
//! two real sealgate processes with the file's settings, on one real Redis,
//! where the file names only container paths and addresses replaced by the
//! test's own. A session made on one replica opens on the other, and its
//! sign-out there is refused on both.

use crate::helpers::{new_dir, set_cookies, ALICE, ALICE_PASSWORD};
use crate::support::network::free_port;
use crate::support::redis_server::RedisServer;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const COMPOSE: &str = include_str!("../../examples/replicas/docker-compose.yml");

/// The `SEALGATE__` settings of the compose file's replicas, in order.
fn compose_settings() -> Vec<(String, String)> {
    COMPOSE
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- SEALGATE__"))
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (format!("SEALGATE__{key}"), value.to_owned()))
        .collect()
}

/// A gateway process, stopped when dropped.
struct Replica {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `sealgate serve` with the compose file's settings; only what names
/// a container's world (files, addresses, Redis's host) is this test's.
fn replica(dir: &Path, redis: &RedisServer) -> Replica {
    let port = free_port();
    let log = dir.join(format!("replica-{port}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .args(["--config", "config/sealgate.toml", "serve"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, value) in compose_settings() {
        let value = match key.as_str() {
            "SEALGATE__SERVER__LISTEN" => format!("127.0.0.1:{port}"),
            "SEALGATE__KEYS__PATH" => dir.join("keys.json").display().to_string(),
            "SEALGATE__CREDENTIALS__USERS_FILE" => dir.join("users.toml").display().to_string(),
            "SEALGATE__STORE__URL" => redis.url(),
            _ => value,
        };
        command.env(key, value);
    }
    Replica { child: command.spawn().unwrap(), base: format!("http://127.0.0.1:{port}"), log }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Until `/readyz` answers 200 (the store's revocations read), for at most 10 s.
async fn ready(replica: &mut Replica) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if replica.child.try_wait().unwrap().is_some() {
            let log = std::fs::read_to_string(&replica.log).unwrap_or_default();
            panic!("the replica exited: the compose settings do not start:\n{log}");
        }
        if let Ok(response) = client().get(format!("{}/readyz", replica.base)).send().await {
            if response.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the replica never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verify(replica: &Replica, cookie: &str) -> u16 {
    let response = client().get(format!("{}/auth/verify", replica.base)).header("Cookie", cookie).send().await.unwrap();
    response.status().as_u16()
}

#[test]
fn the_compose_file_sets_what_a_production_fleet_needs() {
    let settings: std::collections::HashMap<_, _> = compose_settings().into_iter().collect();
    assert_eq!(settings["SEALGATE__MODE"], "production");
    assert_eq!(settings["SEALGATE__STORE__KIND"], "redis");
    assert!(settings["SEALGATE__STORE__URL"].starts_with("redis://"));
    assert!(COMPOSE.contains("sealgate-1:") && COMPOSE.contains("sealgate-2:"), "two replicas");
}

#[tokio::test]
async fn two_replicas_as_the_compose_file_runs_them_share_sessions_and_sign_outs() {
    let dir = new_dir();
    let redis = RedisServer::start();
    let (mut first, mut second) = (replica(dir.path(), &redis), replica(dir.path(), &redis));
    ready(&mut first).await;
    ready(&mut second).await;

    let signed_in = client()
        .post(format!("{}/auth/signin/credentials", first.base))
        .header("Origin", "https://auth.example.com")
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = set_cookies(signed_in.headers())
        .into_iter()
        .find(|c| c.name == "__Host-sealgate")
        .expect("a production session cookie");
    assert!(session.attributes.contains("secure"));
    let cookie = format!("{}={}", session.name, session.value);
    assert_eq!(verify(&second, &cookie).await, 200, "one key set: the other replica opens it");

    let signed_out = client()
        .post(format!("{}/auth/signout", second.base))
        .header("Origin", "https://auth.example.com")
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    let deadline = Instant::now() + Duration::from_secs(1);
    while verify(&first, &cookie).await != 401 {
        assert!(Instant::now() < deadline, "the sign-out on one replica did not reach the other within 1 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(verify(&second, &cookie).await, 401);
}
