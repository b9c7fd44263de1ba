//! The project's test identity provider (npm `oidc-provider`, `tests/idp/`),
//! started as a child process on a loopback port, and a client that signs in
//! at it the way a person would (through its HTML interaction forms).

use reqwest::redirect::Policy;
use reqwest::Client;
use sealgate::config::{ProviderKind, ProviderSettings, SecretSource};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

pub const CLIENT_ID: &str = "sealgate-test";
pub const CLIENT_SECRET: &str = "a-client-secret-for-tests-only";

#[derive(Debug, Clone, Default)]
pub struct IdpOptions {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub access_token_ttl: Option<u64>,
    pub rotate_refresh_tokens: bool,
}

pub struct TestIdp {
    pub issuer: String,
    child: Option<Child>,
}

fn idp_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

impl TestIdp {
    pub async fn start(options: IdpOptions) -> TestIdp {
        assert!(
            idp_dir().join("node_modules/oidc-provider").exists(),
            "the test IdP is not installed; run `bash scripts/install-test-deps.sh` (scripts/test.sh does)"
        );
        let mut command = Command::new("node");
        command.arg("server.js").args(["--port", "0", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
        for uri in &options.redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        for uri in &options.post_logout_redirect_uris {
            command.args(["--post-logout-redirect-uri", uri]);
        }
        if let Some(ttl) = options.access_token_ttl {
            command.args(["--access-token-ttl", &ttl.to_string()]);
        }
        if options.rotate_refresh_tokens {
            command.arg("--rotate-refresh-tokens");
        }
        let mut child = command
            .current_dir(idp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the IdP did not start in 30 s")
            .unwrap()
            .expect("the IdP exited before it was ready");
        let issuer = line.strip_prefix("READY ").unwrap_or_else(|| panic!("unexpected IdP output: {line}")).to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TestIdp { issuer, child: Some(child) }
    }

    /// A `[providers.<id>]` table for this IdP.
    pub fn provider(&self) -> ProviderSettings {
        let mut provider = oidc_provider(&self.issuer);
        provider.name = Some("Test IdP".into());
        provider.scopes = Some(["openid", "profile", "email", "groups", "offline_access"].map(String::from).to_vec());
        provider
    }

    /// Stop the IdP (to test what happens when it is down).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Freeze the IdP process (SIGSTOP): connections hang, as with a stuck provider.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Let a paused IdP run again (SIGCONT), with all its state.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().and_then(|c| c.id()).expect("the IdP is running");
        let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub async fn revoke_grants(&self, sub: &str) {
        let response =
            reqwest::Client::new().post(format!("{}/test/revoke-grants?sub={sub}", self.issuer)).send().await.unwrap();
        assert!(response.status().is_success());
    }

    pub async fn stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/test/stats", self.issuer)).await.unwrap().json().await.unwrap()
    }
}

/// How the person answers at the IdP.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    SignIn { login: &'a str, password: &'a str },
    Deny,
}

/// Follow the authorization URL at the IdP like a browser, answer the
/// interaction form, and return the URL the IdP finally redirects to (the
/// callback, not followed).
pub async fn authorize_at_idp(authorize_url: &str, answer: Answer<'_>, callback_prefix: &str) -> Url {
    let browser = Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap();
    let mut url = Url::parse(authorize_url).unwrap();
    let mut answered = false;
    for _ in 0..12 {
        let response = if url.path().starts_with("/interaction/") && !answered {
            answered = true;
            let page = browser.get(url.clone()).send().await.unwrap();
            assert_eq!(page.status(), 200, "interaction page at {url}");
            match answer {
                Answer::SignIn { login, password } => browser
                    .post(format!("{url}/login"))
                    .form(&[("login", login), ("password", password)])
                    .send()
                    .await
                    .unwrap(),
                Answer::Deny => browser.post(format!("{url}/abort")).send().await.unwrap(),
            }
        } else {
            browser.get(url.clone()).send().await.unwrap()
        };
        let status = response.status();
        assert!(status.is_redirection(), "expected a redirect from the IdP at {url}, got {status}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let next = url.join(&location).unwrap();
        if next.as_str().starts_with(callback_prefix) {
            return next;
        }
        url = next;
    }
    panic!("the IdP never redirected back to {callback_prefix}");
}

/// A plain `kind = "oidc"` provider table for `issuer`, with the test client.
pub fn oidc_provider(issuer: &str) -> ProviderSettings {
    ProviderSettings {
        kind: ProviderKind::Oidc,
        name: None,
        client_id: CLIENT_ID.into(),
        client_secret: Some(serde_json::from_value::<SecretSource>(CLIENT_SECRET.into()).unwrap()),
        issuer: Some(issuer.into()),
        base_url: None,
        scopes: None,
        authorize_url: None,
        token_url: None,
        userinfo_url: None,
        api_url: None,
        revocation_url: None,
        end_session_url: None,
        claims: Default::default(),
        revoke_on_signout: true,
        rp_initiated_logout: false,
        post_logout_redirect_url: None,
        pkce: true,
        client_auth: None,
        pass_access_token: false,
        bearer: Default::default(),
    }
}
