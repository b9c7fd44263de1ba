//! A fleet of two real `sealgate serve` processes sharing one key file,
//! rotated in stages while they run: no replica ever sees a cookie sealed
//! with a key it does not have yet.

use super::{cookie_sealed_with, eventually};
use crate::helpers::{new_dir, set_cookies, ALICE, ALICE_PASSWORD};
use reqwest::redirect::Policy;
use reqwest::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// One `sealgate serve` process on a loopback port, its log in a file.
struct Replica {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sealgate(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.join("users.toml"))
        .env("SEALGATE__SERVER__WORKERS", "1")
        .env("SEALGATE__LOG__LEVEL", "info")
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG");
    command
}

/// Run a CLI command on the shared key file; its stdout.
fn cli(dir: &Path, args: &[&str]) -> String {
    let Output { status, stdout, stderr } = sealgate(dir).args(args).output().unwrap();
    assert!(status.success(), "sealgate {args:?}: {}", String::from_utf8_lossy(&stderr));
    String::from_utf8(stdout).unwrap()
}

async fn start(dir: &Path, name: &str, reload_interval: &str) -> Replica {
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = sealgate(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SEALGATE__KEYS__RELOAD_INTERVAL", reload_interval)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let replica = Replica { child, address: format!("http://127.0.0.1:{port}"), log };
    eventually(&format!("{name} is up"), || async {
        client().get(format!("{}/healthz", replica.address)).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    replica
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(30)).build().unwrap()
}

impl Replica {
    async fn verify(&self, cookie: &str) -> u16 {
        let response = client().get(format!("{}/auth/verify", self.address)).header("cookie", cookie);
        response.send().await.unwrap().status().as_u16()
    }

    /// Sign alice in here; the session cookie this replica sealed.
    async fn sign_in(&self) -> String {
        let form = [("username", ALICE), ("password", ALICE_PASSWORD), ("remember", "true")];
        let url = format!("{}/auth/signin/credentials", self.address);
        let response = client().post(url).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 303, "alice could not sign in");
        let cookies = set_cookies(response.headers());
        let session: Vec<String> = cookies
            .iter()
            .filter(|c| c.name.starts_with("sealgate") && !c.name.contains("-flow") && !c.is_removal())
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        assert!(!session.is_empty(), "no session cookie in {cookies:?}");
        session.join("; ")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The `kid` a session cookie was sealed with.
fn kid_of(cookie: &str) -> String {
    use base64::Engine;
    let token = cookie.split_once('=').unwrap().1;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_replicas_sharing_a_key_file_rotate_in_stages_without_a_restart() {
    let dir = new_dir();
    let path = dir.path().join("keys.json");
    let old_kid = sealgate::crypto::keys::read_key_set(&path).unwrap().current().kid().to_owned();
    let (a, b) = tokio::join!(start(dir.path(), "a", "100ms"), start(dir.path(), "b", "100ms"));
    let old_cookie = a.sign_in().await;
    assert_eq!(kid_of(&old_cookie), old_kid);
    assert_eq!(b.verify(&old_cookie).await, 200, "any replica opens any session");

    // Step 1: `keygen --next`. Wait until both replicas open with the new key.
    cli(dir.path(), &["keygen", "--next"]);
    let set = sealgate::crypto::keys::read_key_set(&path).unwrap();
    let next_kid = set.iter().find(|k| k.kid() != old_kid).unwrap().kid().to_owned();
    let ahead = cookie_sealed_with(&path, &next_kid, "sealgate");
    eventually("both replicas open with the next key", || async {
        a.verify(&ahead).await == 200 && b.verify(&ahead).await == 200
    })
    .await;
    assert_eq!(kid_of(&a.sign_in().await), old_kid, "a next key seals nothing");

    // Step 2: `keys activate`. A seals with it, and B opens what A sealed.
    cli(dir.path(), &["keys", "activate", &next_kid]);
    let mut new_cookie = a.sign_in().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while kid_of(&new_cookie) != next_kid {
        assert!(std::time::Instant::now() < deadline, "A never sealed with the activated key");
        tokio::time::sleep(Duration::from_millis(100)).await;
        new_cookie = a.sign_in().await;
    }
    assert_eq!(b.verify(&new_cookie).await, 200, "B opens a cookie A sealed with the activated key");
    assert_eq!(b.verify(&old_cookie).await, 200, "and the sessions from before");

    // A broken file: both refuse it, log it, and keep the last good set.
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, "{\"keys\": [").unwrap();
    eventually("both replicas refuse the broken file", || async {
        [&a, &b].iter().all(|replica| replica.log().contains("reload refused"))
    })
    .await;
    for replica in [&a, &b] {
        assert_eq!(replica.verify(&old_cookie).await, 200);
        assert_eq!(replica.verify(&new_cookie).await, 200);
        assert!(replica.child.id() > 0);
    }
    std::fs::write(&path, &good).unwrap();

    // Step 3: `keys retire` the old key: its sessions end on both.
    cli(dir.path(), &["keys", "retire", &old_kid]);
    eventually("the old key's sessions end on both replicas", || async {
        a.verify(&old_cookie).await == 401 && b.verify(&old_cookie).await == 401
    })
    .await;
    assert_eq!((a.verify(&new_cookie).await, b.verify(&new_cookie).await), (200, 200));
    for replica in [&a, &b] {
        let log = replica.log();
        for key in serde_json::from_str::<serde_json::Value>(&good).unwrap()["keys"].as_array().unwrap() {
            assert!(!log.contains(key["k"].as_str().unwrap()), "key material in a replica's log");
        }
    }
}

#[tokio::test]
async fn a_replica_that_does_not_poll_reloads_on_sighup() {
    let dir = new_dir();
    let path = dir.path().join("keys.json");
    let replica = start(dir.path(), "c", "0s").await;
    cli(dir.path(), &["keygen", "--next"]);
    let current = sealgate::crypto::keys::read_key_set(&path).unwrap().current().kid().to_owned();
    let set = sealgate::crypto::keys::read_key_set(&path).unwrap();
    let next_kid = set.iter().find(|k| k.kid() != current).unwrap().kid().to_owned();
    let ahead = cookie_sealed_with(&path, &next_kid, "sealgate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(replica.verify(&ahead).await, 401, "no polling: the file is not read again by itself");

    let hup = Command::new("kill").args(["-HUP", &replica.child.id().to_string()]).status().unwrap();
    assert!(hup.success());
    eventually("SIGHUP reloads the key file", || async { replica.verify(&ahead).await == 200 }).await;
    assert!(replica.log().contains("SIGHUP"), "{}", replica.log());
}
