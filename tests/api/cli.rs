//! The `sealgate` binary's subcommands, run as an operator would.

use crate::helpers::{new_dir, spawn_in, test_settings};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use sealgate::clock::ManualClock;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

fn sealgate(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.join("users.toml"))
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn hash_password_hashes_one_line_without_its_newline() {
    let dir = new_dir();
    for input in [&b"open sesame\n"[..], b"open sesame\r\n", b"open sesame"] {
        let output = sealgate(dir.path(), &["hash-password"], Some(input));
        assert!(output.status.success(), "{}", stderr(&output));
        let phc = stdout(&output).trim().to_owned();
        let hash = PasswordHash::new(&phc).unwrap();
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        assert!(argon2::Argon2::default().verify_password(b"open sesame", &hash).is_ok());
        assert!(argon2::Argon2::default().verify_password(b"open sesame\n", &hash).is_err());
    }
    let empty = sealgate(dir.path(), &["hash-password"], Some(b"\n"));
    assert!(!empty.status.success());
}

#[test]
fn check_config_accepts_the_default_and_env_overrides_any_key() {
    let dir = new_dir();
    let ok = sealgate(dir.path(), &["check-config"], None);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("configuration OK") && stdout(&ok).contains("1 key(s)"), "{}", stdout(&ok));

    // Before the first start there is no key file: it says so, and writes none.
    let fresh = tempfile::tempdir().unwrap();
    let not_yet = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["check-config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", fresh.path().join("keys.json"))
        .env_remove("SEALGATE_CONFIG")
        .output()
        .unwrap();
    assert!(not_yet.status.success(), "{}", stderr(&not_yet));
    assert!(stdout(&not_yet).contains("no key file yet"), "{}", stdout(&not_yet));
    assert!(!fresh.path().join("keys.json").exists());

    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    let overridden = command
        .args(["check-config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
        .env("SEALGATE__SERVER__LISTEN", "127.0.0.1:5555")
        .output()
        .unwrap();
    assert!(stdout(&overridden).contains("127.0.0.1:5555"), "{}", stdout(&overridden));
}

/// Runs `sealgate hash-password` on a terminal (util-linux `script` gives it
/// a pty), typing each line only once the prompt is shown, as a person would.
fn hash_password_on_a_terminal(lines: &[&str]) -> (bool, String) {
    use std::io::Read;
    use std::sync::Mutex;
    let command = format!("{} hash-password", env!("CARGO_BIN_EXE_sealgate"));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux `script` (Debian's bsdutils) runs the command on a terminal");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    for (line, prompt) in lines.iter().zip(["Password: ", "Again: "]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !seen.lock().unwrap().contains(prompt) {
            assert!(std::time::Instant::now() < deadline, "no prompt {prompt:?}: {}", seen.lock().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    (status.success(), seen)
}

#[test]
fn hash_password_asks_twice_on_a_terminal_without_echo() {
    let (ok, screen) = hash_password_on_a_terminal(&["open sesame", "open sesame"]);
    assert!(ok, "{screen}");
    assert!(!screen.contains("open sesame"), "the password was echoed: {screen}");
    let phc = screen.split_whitespace().find(|word| word.starts_with("$argon2id$")).expect(&screen);
    let hash = PasswordHash::new(phc).unwrap();
    assert!(argon2::Argon2::default().verify_password(b"open sesame", &hash).is_ok());

    let (ok, screen) = hash_password_on_a_terminal(&["open sesame", "open sesam"]);
    assert!(!ok && screen.contains("differ") && !screen.contains("$argon2id$"), "{screen}");
}

#[test]
fn version_names_the_git_commit_it_was_built_from() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let output = sealgate(new_dir().path(), &["--version"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let version = stdout(&output);
    assert!(version.starts_with(&format!("sealgate {}", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(!head.trim().is_empty() && version.contains(&format!("(commit {})", head.trim())), "{version} vs {head}");
}

#[test]
fn lists_from_the_environment_read_in_plain_and_toml_form() {
    let dir = new_dir();
    let check = |value: &str| {
        Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .args(["check-config"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
            .env("SEALGATE__SERVER__TRUSTED_PROXIES", value)
            .env("SEALGATE__REDIRECTS__ALLOWED_HOSTS", "app.example.com, .example.org")
            .output()
            .unwrap()
    };

    for accepted in ["10.0.0.0/8,192.168.0.0/16", "10.0.0.0/8", "[\"10.0.0.0/8\", \"::1/128\"]"] {
        let output = check(accepted);
        assert!(output.status.success(), "{accepted}: {}", stderr(&output));
    }
    let refused = check("10.0.0.0/8,not-a-network");
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("not-a-network") || stderr(&refused).contains("invalid"), "{}", stderr(&refused));
}

#[test]
fn check_config_lists_every_problem_and_exits_nonzero() {
    let dir = new_dir();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        r#"
mode = "production"
[server]
listen = "not an address"
public_url = "http://gate.example.com"
[cookie]
insecure_http = true
[keys]
path = "/nonexistent/keys.json"
[session]
idle_lifetime = "2h"
absolute_lifetime = "1h"
[credentials]
enabled = true
users_file = "/nonexistent/users.toml"
"#,
    )
    .unwrap();
    // No environment overrides here: the file alone is judged.
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env_remove("SEALGATE__KEYS__PATH")
        .env_remove("SEALGATE__CREDENTIALS__USERS_FILE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = stderr(&output);
    for expected in [
        "server.listen",
        "requires an https",
        "insecure_http is not allowed",
        "absolute_lifetime must be at least",
        "no key set at `/nonexistent/keys.json`",
        "credentials.users_file `/nonexistent/users.toml`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "mode = \"development\"\n[server]\nlisten_on = \"x\"\n").unwrap();
    let output = sealgate(dir.path(), &["check-config", "--config", unknown.to_str().unwrap()], None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("listen_on"), "{}", stderr(&output));
}

#[test]
fn keygen_adds_a_current_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    for expected in [1, 2] {
        let output = sealgate(dir.path(), &["keygen"], None);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(sealgate::crypto::keys::read_key_set(&dir.path().join("keys.json")).unwrap().len(), expected);
    }
    let output = sealgate(dir.path(), &["keygen", "--alg", "A256KW"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let set = sealgate::crypto::keys::read_key_set(&dir.path().join("keys.json")).unwrap();
    assert_eq!(set.current().alg(), sealgate::crypto::keys::KeyAlg::A256Kw);
    assert!(stdout(&output).contains(set.current().kid()));
}

#[tokio::test]
async fn a_minted_cookie_is_accepted_by_a_server_with_the_same_keys_and_inspects_cleanly() {
    let dir = Arc::new(new_dir());
    let output = sealgate(
        dir.path(),
        &[
            "session",
            "mint",
            "--user",
            "ops-1",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--groups",
            "a,b",
            "--ttl",
            "120",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let cookie = stdout(&output).trim().to_owned();
    assert!(cookie.starts_with("sealgate="), "{cookie}");

    let app = spawn_in(dir.clone(), test_settings(&dir), ManualClock::at(chrono::Utc::now().timestamp())).await;
    let response = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-auth-user"], "ops-1");
    assert_eq!(response.headers()["x-auth-groups"], "a,b");
    assert_eq!(response.headers()["x-auth-provider"], "cli");
    app.clock.advance(120);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401, "--ttl is honoured");

    let inspected = sealgate(dir.path(), &["session", "inspect", &cookie], None);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let claims: serde_json::Value = serde_json::from_str(&stdout(&inspected)).unwrap();
    assert_eq!(claims["usr"]["id"], "ops-1");
    assert_eq!(claims["v"], 1);
    assert_eq!(claims["kind"], "session");
    let exp = chrono::DateTime::parse_from_rfc3339(claims["exp_rfc3339"].as_str().unwrap()).unwrap();
    assert_eq!(exp.timestamp(), claims["exp"].as_i64().unwrap(), "the RFC 3339 time is the epoch time");

    let tampered = format!("{}x", &cookie[..cookie.len() - 1]);
    let refused = sealgate(dir.path(), &["session", "inspect", &tampered], None);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("does not open"));
}

#[tokio::test]
async fn a_large_minted_session_comes_out_in_chunks() {
    let dir = Arc::new(new_dir());
    let groups: Vec<String> = (0..200).map(|i| format!("group-{i:03}-with-padding")).collect();
    let output = sealgate(dir.path(), &["session", "mint", "--user", "big", "--groups", &groups.join(",")], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let cookie = stdout(&output).trim().to_owned();
    assert!(cookie.starts_with("sealgate_1=") && cookie.contains("; sealgate_2="), "{}", &cookie[..20]);
    let app = spawn_in(dir.clone(), test_settings(&dir), ManualClock::at(chrono::Utc::now().timestamp())).await;
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    let inspected = sealgate(dir.path(), &["session", "inspect", &cookie], None);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
}

#[test]
fn providers_can_be_configured_entirely_from_the_environment() {
    let dir = new_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["check-config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
        .env("SEALGATE__PROVIDERS__CORP__KIND", "oidc")
        .env("SEALGATE__PROVIDERS__CORP__ISSUER", "https://login.example.com")
        .env("SEALGATE__PROVIDERS__CORP__CLIENT_ID", "sealgate")
        .env("SEALGATE__PROVIDERS__CORP__CLIENT_SECRET", "from-the-environment")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let missing_secret = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["check-config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
        .env("SEALGATE__PROVIDERS__CORP__KIND", "oidc")
        .env("SEALGATE__PROVIDERS__CORP__ISSUER", "https://login.example.com")
        .env("SEALGATE__PROVIDERS__CORP__CLIENT_ID", "sealgate")
        .output()
        .unwrap();
    assert!(!missing_secret.status.success());
    let text = stderr(&missing_secret);
    assert!(text.contains("providers.corp.client_secret is required"), "{text}");
    assert!(!text.contains("from-the-environment"));
}

#[tokio::test]
async fn an_api_token_minted_by_the_cli_is_a_bearer_credential() {
    let dir = Arc::new(new_dir());
    let output = sealgate(
        dir.path(),
        &["token", "mint", "--user", "deploy-bot", "--name", "ci", "--scopes", "deploy,read", "--ttl", "60"],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    assert!(stderr(&output).contains("token id "), "{}", stderr(&output));
    let app = spawn_in(dir.clone(), test_settings(&dir), ManualClock::at(chrono::Utc::now().timestamp())).await;
    let response = reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-auth-user"], "deploy-bot");
    assert_eq!(response.headers()["x-auth-source"], "api_token");
    app.clock.advance(60);
    let expired = reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(expired.status(), 401, "--ttl is honoured");
}

#[test]
fn keys_stage_a_rotation_and_refuse_what_would_break_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    let path = dir.path().join("keys.json");
    let run = |args: &[&str]| sealgate(dir.path(), args, None);
    let read = || sealgate::crypto::keys::read_key_set(&path).unwrap();
    let state_of = |kid: &str| read().get(kid).map(|k| k.state().as_str());

    assert!(run(&["keygen"]).status.success());
    let first = read().current().kid().to_owned();
    let output = run(&["keygen", "--next"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let next = read().iter().find(|k| k.kid() != first).unwrap().kid().to_owned();
    assert!(stdout(&output).contains(&format!("sealgate keys activate {next}")), "{}", stdout(&output));
    assert_eq!(read().current().kid(), first, "keygen --next does not change what seals");
    assert_eq!(state_of(&next), Some("next"));

    let list = run(&["keys", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    let row =
        |kid: &str| text.lines().find(|line| line.starts_with(kid)).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(row(&first)[1..], ["dir", "current", "0m"]);
    assert_eq!(row(&next)[1..], ["dir", "next", "0m"]);
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in file["keys"].as_array().unwrap() {
        assert!(!text.contains(key["k"].as_str().unwrap()), "keys list printed key material: {text}");
    }

    let refusals = [
        (vec!["keys", "activate", "nope"], "no key `nope`"),
        (vec!["keys", "retire", "nope"], "no key `nope`"),
        (vec!["keys", "retire", first.as_str()], "is the current key"),
    ];
    for (args, expected) in refusals {
        let output = run(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
    assert_eq!((read().len(), read().current().kid().to_owned()), (2, first.clone()), "refusals change nothing");

    let activated = run(&["keys", "activate", &next]);
    assert!(activated.status.success(), "{}", stderr(&activated));
    assert_eq!(read().current().kid(), next);
    assert_eq!(state_of(&first), Some("previous"));
    let retired = run(&["keys", "retire", &first]);
    assert!(retired.status.success(), "{}", stderr(&retired));
    assert_eq!(state_of(&first), None);
    assert_eq!(read().len(), 1);
    assert!(!run(&["keys", "retire", &next]).status.success(), "the last, current key stays");
}

#[test]
fn inspect_tells_an_api_token_and_a_flow_cookie_from_a_session_and_shows_no_secret() {
    let dir = new_dir();
    let minted = sealgate(dir.path(), &["token", "mint", "--user", "ci", "--name", "deploy", "--ttl", "600"], None);
    assert!(minted.status.success(), "{}", stderr(&minted));
    let token = stdout(&minted).trim().to_owned();
    for command in ["session", "token"] {
        let inspected = sealgate(dir.path(), &[command, "inspect", &token], None);
        assert!(inspected.status.success(), "{}", stderr(&inspected));
        let claims: serde_json::Value = serde_json::from_str(&stdout(&inspected)).unwrap();
        assert_eq!((claims["kind"].as_str(), claims["usr"]["id"].as_str()), (Some("api_token"), Some("ci")));
        assert!(claims["iat_rfc3339"].as_str().unwrap().ends_with('Z'));
    }

    let keys = sealgate::crypto::keys::read_key_set(&dir.path().join("keys.json")).unwrap();
    let clock = Arc::new(ManualClock::at(chrono::Utc::now().timestamp()));
    let flows = sealgate::session::flow::FlowCodec::new(&keys, clock, 600).unwrap();
    let flow = flows.start(
        "corp",
        "state-secret".into(),
        Some("nonce-secret".into()),
        Some("pkce-secret".into()),
        "/app".into(),
    );
    let sealed = flows.seal(&flow).unwrap();
    let inspected = sealgate(dir.path(), &["session", "inspect", &format!("sealgate-flow-2={sealed}")], None);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let text = stdout(&inspected);
    let claims: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((claims["kind"].as_str(), claims["provider"].as_str()), (Some("flow"), Some("corp")));
    assert!(!text.contains("-secret"), "{text}");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let dir = new_dir();
    let minted = sealgate(dir.path(), &["session", "mint", "--user", "ops"], None);
    let cookie = stdout(&minted).trim().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["session", "inspect", &cookie])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
        .env_remove("SEALGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command writes (as `| head -0` would).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(output.status.success(), "{:?} {}", output.status, stderr(&output));
}

#[tokio::test]
async fn token_revoke_adds_the_id_to_the_deny_list_and_a_running_gateway_refuses_the_token() {
    let dir = Arc::new(new_dir());
    let deny = dir.path().join("revoked.txt");
    std::fs::write(&deny, "# revoked API tokens\n").unwrap();
    let mut settings = test_settings(&dir);
    settings.api_tokens.deny_list = Some(deny.clone());
    let app = spawn_in(dir.clone(), settings, ManualClock::at(chrono::Utc::now().timestamp())).await;
    let (token, claims) =
        app.sessions.api_tokens.mint(sealgate::identity::User::new("ci"), "deploy", vec![], 3600).unwrap();
    let verify = || async {
        let response = reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth(&token).send().await.unwrap();
        response.status().as_u16()
    };
    assert_eq!(verify().await, 200);

    let revoke = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .args(["token", "revoke", id])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
            .env("SEALGATE__API_TOKENS__DENY_LIST", &deny)
            .output()
            .unwrap()
    };
    let revoked = revoke(&claims.jti);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    // The gateway looks at the file at most once a second, by its (test) clock.
    crate::keys::eventually("the revoked token is refused", || async {
        app.clock.advance(2);
        verify().await == 401
    })
    .await;
    let again = revoke(&claims.jti);
    assert!(again.status.success() && stdout(&again).contains("already revoked"), "{}", stdout(&again));
    assert_eq!(std::fs::read_to_string(&deny).unwrap().matches(claims.jti.as_str()).count(), 1);
    for bad in ["", "a b", "x\nother-id", &"a".repeat(65)] {
        assert!(!revoke(bad).status.success(), "{bad:?}");
    }
    assert!(!std::fs::read_to_string(&deny).unwrap().contains("other-id"));
}
