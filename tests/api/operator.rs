//! An operator's first day, on the real binary: the README's production
//! recipe as written, paths that resolve next to the config file from any
//! working directory, every config problem in one run, `--help`, and the
//! API-token deny list reloaded on `SIGHUP` by a running process.

use crate::helpers::new_dir;
use crate::keys::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary with no `SEALGATE*` variable of the test's own environment.
fn sealgate(cwd: &Path) -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_sealgate")), cwd)
}

/// `bash -c SCRIPT`, finding `sealgate` on PATH as an operator's shell would.
fn shell(cwd: &Path, script: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_sealgate")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = clean(Command::new("bash"), cwd);
    command.arg("-c").arg(script).env("PATH", path);
    command
}

fn clean(mut command: Command, cwd: &Path) -> Command {
    command.current_dir(cwd).env_remove("RUST_LOG").stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SEALGATE") {
            command.env_remove(name);
        }
    }
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let Output { status, stdout, stderr } = command.output().unwrap();
    (status.success(), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `sealgate serve` process, its log in a file; killed when dropped.
struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(mut command: Command, port: u16, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).unwrap();
        let child = command.stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap();
        let server = Server { child, address: format!("http://127.0.0.1:{port}"), log };
        eventually("the gateway is up", || async {
            reqwest::get(format!("{}/healthz", server.address)).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn hang_up(&self) {
        let hup = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().unwrap();
        assert!(hup.success());
    }

    async fn verify_bearer(&self, token: &str) -> u16 {
        let client = reqwest::Client::new();
        client.get(format!("{}/auth/verify", self.address)).bearer_auth(token).send().await.unwrap().status().as_u16()
    }
}

/// The README's "Running in production" shell block.
fn production_recipe() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("\n## Running in production\n").nth(1).expect("a Running in production section");
    let block = section.split("```sh\n").nth(1).expect("a shell block in it");
    block.split("\n```").next().unwrap().to_owned()
}

#[tokio::test]
async fn the_production_recipe_in_the_readme_works_as_written_from_another_directory() {
    // Arrange: /etc/sealgate and /var/lib/sealgate in a temp dir, the
    // binary on PATH, and a working directory that is neither.
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let recipe = production_recipe()
        .replace("/etc/sealgate", &root.path().join("etc/sealgate").display().to_string())
        .replace("/var/lib/sealgate", &root.path().join("var/lib/sealgate").display().to_string());
    let (setup, serve) = recipe.trim_end().rsplit_once('\n').unwrap();
    assert!(serve.starts_with("sealgate serve"), "the block ends by serving: {serve}");

    // Act: every step but `serve`, as a shell runs them.
    let (ok, stdout, stderr) = run(&mut shell(elsewhere.path(), &format!("set -euo pipefail\n{setup}")));
    assert!(ok, "the recipe failed:\n{stdout}\n{stderr}");

    // Assert: keys next to the config, announced by absolute path; nothing in the working directory.
    let keys = root.path().join("etc/sealgate/keys/sealgate.jwks.json");
    assert!(keys.exists(), "keygen wrote {}:\n{stdout}", keys.display());
    assert!(stdout.contains(&keys.display().to_string()), "keygen prints the absolute path:\n{stdout}");
    assert!(stdout.contains("configuration OK: mode Production"), "{stdout}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written in the working directory");

    // The last step serves (on a free loopback port instead of 4180).
    let port = free_port();
    let mut command = shell(elsewhere.path(), &format!("exec {serve}"));
    command.env("SEALGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"));
    let server = Server::start(command, port, root.path().join("serve.log")).await;
    let ready = reqwest::get(format!("{}/readyz", server.address)).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", server.log());
    let form = [("username", "alice"), ("password", "a long passphrase")];
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let signin = client
        .post(format!("{}/auth/signin/credentials", server.address))
        .header("origin", "https://auth.example.com")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 303, "alice signs in with the recipe's password: {}", server.log());
}

#[test]
fn relative_paths_in_a_config_file_resolve_next_to_it_from_any_working_directory() {
    // Arrange: a config with relative paths in one directory; the commands run from another.
    let seeded = new_dir();
    let config_dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(config_dir.path().join("etc")).unwrap();
    std::fs::copy(seeded.path().join("users.toml"), config_dir.path().join("etc/people.toml")).unwrap();
    std::fs::write(config_dir.path().join("etc/revoked.txt"), "# none yet\n").unwrap();
    let config = config_dir.path().join("etc/gate.toml");
    std::fs::write(
        &config,
        "[cookie]\ninsecure_http = true\n[keys]\npath = \"secrets/keys.json\"\n[credentials]\nenabled = true\nusers_file = \"people.toml\"\n\
         [api_tokens]\ndeny_list = \"./revoked.txt\"\n[store]\npath = \"../state/gate.db\"\n",
    )
    .unwrap();
    let config_arg = config.display().to_string();

    // Act
    let (ok, stdout, stderr) = run(sealgate(elsewhere.path()).args(["keygen", "--config", &config_arg]));

    // Assert
    assert!(ok, "{stderr}");
    let keys = config_dir.path().join("etc/secrets/keys.json");
    assert!(keys.exists(), "keygen writes next to the config's keys.path: {stdout}");
    assert!(stdout.contains(&keys.display().to_string()), "the absolute path is printed: {stdout}");
    let (ok, stdout, stderr) = run(sealgate(elsewhere.path()).args(["check-config", "--config", &config_arg]));
    assert!(ok, "{stderr}");
    let users = config_dir.path().join("etc/people.toml");
    assert!(stdout.contains(&format!("users: {}", users.display())), "{stdout}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written in the working directory");

    // A path from the environment resolves against the working directory.
    let (ok, stdout, stderr) = run(sealgate(elsewhere.path())
        .args(["keygen", "--config", &config_arg])
        .env("SEALGATE__KEYS__PATH", "from-env/keys.json"));
    assert!(ok, "{stderr}");
    let from_env = elsewhere.path().join("from-env/keys.json");
    assert!(from_env.exists() && stdout.contains(&from_env.display().to_string()), "{stdout}");
}

#[test]
fn without_a_config_file_the_embedded_default_says_where_it_looks_and_a_failed_start_writes_no_keys() {
    // Arrange: an empty directory: no config/sealgate.toml, no users file.
    let empty = tempfile::tempdir().unwrap();

    // Act
    let (ok, _, stderr) = run(sealgate(empty.path()).arg("serve"));
    let (checked, _, check_stderr) = run(sealgate(empty.path()).arg("check-config"));

    // Assert
    assert!(!ok && !checked);
    let stderr = format!("{stderr}{check_stderr}");
    let users = empty.path().join("config/users.toml");
    for text in [&stderr, &check_stderr] {
        assert!(text.contains(&users.display().to_string()), "names where it looked for users:\n{text}");
    }
    assert!(stderr.contains("embedded default"), "says it runs on the embedded default:\n{stderr}");
    assert!(stderr.contains(&empty.path().join("keys/sealgate.jwks.json").display().to_string()), "{stderr}");
    assert!(!empty.path().join("keys").exists(), "no keys/ written by a start that failed");
}

#[test]
fn production_with_the_shipped_demo_user_says_how_to_fix_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, _, stderr) = run(sealgate(repo)
        .arg("check-config")
        .env("SEALGATE__MODE", "production")
        .env("SEALGATE__SERVER__PUBLIC_URL", "https://auth.example.com")
        .env("SEALGATE__COOKIE__INSECURE_HTTP", "false"));
    assert!(!ok);
    assert!(stderr.contains("is a demo user"), "{stderr}");
    assert!(stderr.contains("remove it from the users file"), "{stderr}");
    assert!(stderr.contains("SEALGATE__CREDENTIALS__ENABLED=false"), "names the env var:\n{stderr}");
}

#[test]
fn check_config_names_every_problem_of_every_section_and_the_users_file_in_one_run() {
    // Arrange: an unknown key, a wrong type and a bad value in three sections,
    // one from the environment, and a users file with a broken hash.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "[[users]]\nusername = \"bob\"\npassword_hash = \"nope\"\n").unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "[server]\nworkers = \"many\"\n[cookie]\nsame_site = \"sideways\"\n[session]\nidle_lifetimes = \"1h\"\n\
         [credentials]\nenabled = true\nusers_file = \"users.toml\"\n",
    )
    .unwrap();
    let shown = config.display().to_string();

    // Act
    let (ok, _, stderr) =
        run(sealgate(dir.path()).args(["check-config", "--config", &shown]).env("SEALGATE__OAUTH__TIMEOUT", "soon"));

    // Assert
    assert!(!ok, "exits non-zero");
    for expected in [
        format!("{shown}: server.workers: invalid type"),
        format!("{shown}: cookie.same_site: unknown variant"),
        format!("{shown}: session.idle_lifetimes: unknown field"),
        "environment variable SEALGATE__OAUTH__TIMEOUT".to_owned(),
        "user `bob`".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in\n{stderr}");
    }
    assert!(!stderr.contains("default."), "no internal prefix:\n{stderr}");
}

#[test]
fn help_of_every_command_shows_examples_and_the_environment() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for command in [
        &[][..],
        &["serve"],
        &["keygen"],
        &["keys"],
        &["check-config"],
        &["hash-password"],
        &["session"],
        &["token"],
        &["sessions"],
        &["assertion-keys"],
        &["keys", "activate"],
        &["session", "mint"],
        &["token", "revoke"],
        &["sessions", "revoke"],
        &["assertion-keys", "generate"],
    ] {
        let (ok, stdout, stderr) = run(sealgate(repo).args(command).arg("--help"));
        assert!(ok, "{command:?}: {stderr}");
        assert!(
            stdout.contains("Examples:\n  sealgate") || stdout.contains("Examples:\n  printf"),
            "{command:?}:\n{stdout}"
        );
        for name in ["SEALGATE_CONFIG", "SEALGATE__SECTION__KEY", "SEALGATE__MODE", "--config"] {
            assert!(stdout.contains(name), "{command:?} --help names {name}:\n{stdout}");
        }
        // A subcommand's examples show that subcommand.
        let invocation = ["sealgate"].iter().chain(command).copied().collect::<Vec<_>>().join(" ");
        assert!(stdout.contains(&invocation), "{command:?} --help shows `{invocation}`:\n{stdout}");
    }
}

#[tokio::test]
async fn a_running_gateway_reloads_the_deny_list_on_sighup_and_refuses_a_broken_one() {
    // Arrange: a real process that polls nothing (reload on SIGHUP only), an API token it accepts.
    let dir = new_dir();
    let deny = dir.path().join("revoked.txt");
    std::fs::write(&deny, "# revoked API tokens\n").unwrap();
    let with_files = |command: &mut Command| {
        command
            .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
            .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.path().join("users.toml"))
            .env("SEALGATE__API_TOKENS__DENY_LIST", &deny)
            .env("SEALGATE__KEYS__RELOAD_INTERVAL", "0s")
            .env("SEALGATE__STORE__KIND", "none")
            .env("SEALGATE__SERVER__WORKERS", "1");
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut mint = sealgate(repo);
    with_files(mint.args(["token", "mint", "--user", "ci", "--name", "deploy"]));
    let (ok, token, stderr) = run(&mut mint);
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    let mut inspect = sealgate(repo);
    with_files(inspect.args(["token", "inspect", &token]));
    let (_, claims, _) = run(&mut inspect);
    let jti = serde_json::from_str::<serde_json::Value>(&claims).unwrap()["jti"].as_str().unwrap().to_owned();
    let port = free_port();
    let mut serve = sealgate(repo);
    with_files(serve.args(["serve", "--listen", &format!("127.0.0.1:{port}")]));
    let server = Server::start(serve, port, dir.path().join("serve.log")).await;
    assert_eq!(server.verify_bearer(&token).await, 200);

    // Act: revoke, then hang up.
    std::fs::write(&deny, format!("# revoked API tokens\n{jti}\n")).unwrap();
    server.hang_up();

    // Assert (no request before the reload is seen: a request would look at the file too)
    eventually("SIGHUP reloads the deny list", || async { server.log().contains("1 revoked token id(s)") }).await;
    assert_eq!(server.verify_bearer(&token).await, 401);

    // A broken list (a whole token pasted by mistake) is refused; the last good one stays.
    std::fs::write(&deny, format!("{jti}\n{token} is the one to revoke\n")).unwrap();
    server.hang_up();
    eventually("the broken list is refused", || async { server.log().contains("reload refused") }).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the per-second look at the file too
    assert_eq!(server.verify_bearer(&token).await, 401, "the last good list stays in force");
    assert!(!server.log().contains(&token), "the refused line is not logged");
}
