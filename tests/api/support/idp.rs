//! The project's test identity provider (npm `oidc-provider`, `tests/idp/`),
//! started as a child process on a loopback port, and a client that signs in
//! at it the way a person would (through its HTML interaction forms), or
//! as the test client itself to get raw provider tokens.

use crate::support::require::{require, Tool};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::redirect::Policy;
use reqwest::Client;
use sealgate::config::{ProviderKind, ProviderSettings, SecretSource};
use sha2::{Digest, Sha256};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

pub const CLIENT_ID: &str = "sealgate-test";
pub const CLIENT_SECRET: &str = "a-client-secret-for-tests-only";

/// A redirect URI that [`TestIdp::start`] always registers (besides
/// `IdpOptions::redirect_uris`), for [`TestIdp::sign_in_as_client`]: the IdP
/// redirects there and nothing ever fetches it (port 9 is discard).
pub const TEST_CLIENT_REDIRECT: &str = "http://127.0.0.1:9/test-client/callback";

/// The resource server known to an IdP started with `jwt_access_tokens`:
/// access tokens requested with `resource=API_RESOURCE` are RFC 9068 JWTs
/// (RS256, `typ: at+jwt`, signed with the IdP's JWKS key) with
/// `aud: API_AUDIENCE` and, when asked for, `scope: API_SCOPE`.
pub const API_RESOURCE: &str = "https://api.sealgate.test";
pub const API_AUDIENCE: &str = "sealgate-api";
pub const API_SCOPE: &str = "api:read";

#[derive(Debug, Clone, Default)]
pub struct IdpOptions {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub access_token_ttl: Option<u64>,
    pub rotate_refresh_tokens: bool,
    /// `--jwt-access-tokens`: resource indicators for [`API_RESOURCE`] (JWT
    /// access tokens) and the client_credentials grant. Access tokens asked
    /// for without a resource stay opaque.
    pub jwt_access_tokens: bool,
}

/// What the IdP's token endpoint answered to the test client.
#[derive(Debug, Clone)]
pub struct IdpTokens {
    pub id_token: String,
    pub access_token: String,
    pub expires_in: Option<i64>,
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
        require(Tool::TestIdp);
        let node = require(Tool::Node);
        // Now and then node sits in a futex at start-up and never listens
        // (seen with Node 20, which oidc-provider 9 calls unsupported, when
        // several IdPs start at once): such a start is killed and retried.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match TestIdp::try_start(&node, &options).await {
                Ok(idp) => return idp,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("the test IdP did not start, 3 times:\n{}", failures.join("\n"));
    }

    /// One start of the IdP, waiting 10 s (it takes about half a second) for
    /// its `READY` line.
    async fn try_start(node: &std::path::Path, options: &IdpOptions) -> Result<TestIdp, String> {
        let mut command = Command::new(node);
        command.arg("server.js").args(["--port", "0", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
        for uri in &options.redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        if !options.redirect_uris.iter().any(|uri| uri == TEST_CLIENT_REDIRECT) {
            command.args(["--redirect-uri", TEST_CLIENT_REDIRECT]);
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
        if options.jwt_access_tokens {
            command.arg("--jwt-access-tokens");
        }
        // Its stderr (oidc-provider's notices) is kept for failure messages.
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = command
            .current_dir(idp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("the test IdP did not start: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            outcome => {
                let exited = child.try_wait();
                let _ = child.kill().await;
                let stderr = std::fs::read_to_string(stderr.path()).unwrap_or_default();
                return Err(format!("not ready ({outcome:?}, exited: {exited:?}); its stderr: {}", stderr.trim()));
            }
        };
        let issuer = line.strip_prefix("READY ").unwrap_or_else(|| panic!("unexpected IdP output: {line}")).to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(TestIdp { issuer, child: Some(child) })
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

    /// Make the IdP behave like another provider (`POST /test/quirks`, see tests/idp/README.md).
    pub async fn set_quirks(&self, quirks: serde_json::Value) {
        let response =
            reqwest::Client::new().post(format!("{}/test/quirks", self.issuer)).json(&quirks).send().await.unwrap();
        assert_eq!(response.status(), 200, "quirks {quirks}: {}", response.text().await.unwrap());
    }

    pub async fn revoke_grants(&self, sub: &str) {
        let response =
            reqwest::Client::new().post(format!("{}/test/revoke-grants?sub={sub}", self.issuer)).send().await.unwrap();
        assert!(response.status().is_success());
    }

    /// Deprovision an account (`POST /test/delete-account`): userinfo then
    /// answers its access tokens 401 and refresh grants `invalid_grant`.
    pub async fn delete_account(&self, sub: &str) {
        let response =
            reqwest::Client::new().post(format!("{}/test/delete-account?sub={sub}", self.issuer)).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Register the test client again with `metadata` on top (`POST
    /// /test/client`: `backchannel_logout_uri`,
    /// `backchannel_logout_session_required`; null removes one).
    pub async fn set_client(&self, metadata: serde_json::Value) {
        let response =
            reqwest::Client::new().post(format!("{}/test/client", self.issuer)).json(&metadata).send().await.unwrap();
        assert_eq!(response.status(), 200, "client metadata {metadata}: {}", response.text().await.unwrap());
    }

    /// A compact JWS of `claims` signed (RS256) with the IdP's current key,
    /// under `header` (default `{"alg": "RS256", "kid": <its kid>}`, the
    /// members given replacing those): a token the IdP could have sent.
    pub async fn sign(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/test/sign", self.issuer))
            .json(&serde_json::json!({ "header": header, "claims": claims }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: serde_json::Value = response.json().await.unwrap();
        answer["token"].as_str().unwrap().to_owned()
    }

    /// End the IdP session `browser` holds, as its person would: RP-initiated
    /// logout at the end-session endpoint, confirmed ("yes, sign me out").
    /// The IdP posts its logout tokens before it answers.
    pub async fn end_session(&self, browser: &Client) {
        let page = browser.get(self.endpoint("end_session_endpoint").await).send().await.unwrap();
        assert_eq!(page.status(), 200, "the IdP asks to confirm the logout");
        let html = page.text().await.unwrap();
        let between = |after: &str| -> String {
            let start = html.find(after).unwrap_or_else(|| panic!("no {after} in {html}")) + after.len();
            html[start..].split('"').next().unwrap().to_owned()
        };
        let (action, xsrf) = (between("action=\""), between("name=\"xsrf\" value=\""));
        let confirmed = browser.post(action).form(&[("xsrf", xsrf.as_str()), ("logout", "yes")]).send().await.unwrap();
        assert!(confirmed.status().is_redirection(), "the IdP signs out: {}", confirmed.status());
    }

    /// Replace the IdP's signing key with a new one (the old one leaves its
    /// JWKS); the new `kid`.
    pub async fn rotate_signing_key(&self) -> String {
        let response =
            reqwest::Client::new().post(format!("{}/test/rotate-signing-key", self.issuer)).send().await.unwrap();
        assert!(response.status().is_success());
        let answer: serde_json::Value = response.json().await.unwrap();
        answer["kid"].as_str().unwrap().to_owned()
    }

    /// `{"token_requests": {"authorization_code": n, "refresh_token": n,
    /// "client_credentials": n}, "refresh_failures": n, "jwks_requests": n,
    /// "introspection_requests": n}` (see tests/idp/README.md).
    pub async fn stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/test/stats", self.issuer)).await.unwrap().json().await.unwrap()
    }

    /// An endpoint from the IdP's discovery document, e.g. `token_endpoint`.
    async fn endpoint(&self, name: &str) -> String {
        let discovery: serde_json::Value = reqwest::get(format!("{}/.well-known/openid-configuration", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        discovery[name].as_str().unwrap_or_else(|| panic!("no {name} in the IdP's discovery document")).to_owned()
    }

    /// POST a form to the token endpoint as the test client
    /// (client_secret_basic), asserting success; the JSON answer.
    async fn token_request(&self, form: &[(&str, &str)]) -> serde_json::Value {
        let response = Client::new()
            .post(self.endpoint("token_endpoint").await)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "token request {form:?} failed: {status} {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Sign in as `login` through the authorization code flow (PKCE S256,
    /// scopes `openid profile email groups`) as the test client itself,
    /// redirecting to [`TEST_CLIENT_REDIRECT`], and exchange the code: the
    /// provider's own tokens, as a relying party would get them.
    ///
    /// With `resource` (needs `jwt_access_tokens`; [`API_RESOURCE`] is the
    /// only one known), it is sent at both endpoints and [`API_SCOPE`] is
    /// requested too: the access token is then a JWT for that resource
    /// (`sub` the account, `aud` [`API_AUDIENCE`], `scope` [`API_SCOPE`]),
    /// while the ID token is as usual. Without it the access token is opaque.
    pub async fn sign_in_as_client(&self, login: &str, password: &str, resource: Option<&str>) -> IdpTokens {
        let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let scope = match resource {
            Some(_) => format!("openid profile email groups {API_SCOPE}"),
            None => "openid profile email groups".to_owned(),
        };

        let mut authorize = Url::parse(&self.endpoint("authorization_endpoint").await).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", TEST_CLIENT_REDIRECT)
            .append_pair("scope", &scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(resource) = resource {
            authorize.query_pairs_mut().append_pair("resource", resource);
        }
        let callback =
            authorize_at_idp(authorize.as_str(), Answer::SignIn { login, password }, TEST_CLIENT_REDIRECT).await;
        let param =
            |name: &str| callback.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned());
        assert_eq!(param("state").as_deref(), Some(state.as_str()), "state in {callback}");
        assert_eq!(param("iss").as_deref(), Some(self.issuer.as_str()), "iss in {callback}");
        let code = param("code").unwrap_or_else(|| panic!("no code in {callback}"));

        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", TEST_CLIENT_REDIRECT),
            ("code_verifier", &verifier),
        ];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let body = self.token_request(&form).await;
        let string = |name: &str| body[name].as_str().map(str::to_owned);
        let tokens = IdpTokens {
            id_token: string("id_token").unwrap_or_else(|| panic!("no id_token in {body}")),
            access_token: string("access_token").unwrap_or_else(|| panic!("no access_token in {body}")),
            expires_in: body["expires_in"].as_i64(),
        };
        let payload = tokens.id_token.split('.').nth(1).expect("the ID token is a JWS");
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["nonce"], nonce.as_str(), "nonce in the ID token");
        tokens
    }

    /// An access token from the client_credentials grant (needs
    /// `jwt_access_tokens`). With `resource` [`API_RESOURCE`] it is a JWT
    /// with `aud` [`API_AUDIENCE`] whose `sub` and `client_id` are both
    /// [`CLIENT_ID`], and `scope` the requested ones the resource has (pass
    /// `Some(API_SCOPE)`; none requested, no `scope` claim). Without
    /// `resource` it is opaque.
    pub async fn client_credentials_token(&self, resource: Option<&str>, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let body = self.token_request(&form).await;
        body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {body}")).to_owned()
    }
}

/// How the person answers at the IdP.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    SignIn { login: &'a str, password: &'a str },
    Deny,
}

/// A browser at the IdP: keeps the IdP's cookies, follows no redirect.
pub fn idp_browser() -> Client {
    Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap()
}

/// Follow the authorization URL at the IdP like a browser, answer the
/// interaction form, and return the URL the IdP finally redirects to (the
/// callback, not followed).
pub async fn authorize_at_idp(authorize_url: &str, answer: Answer<'_>, callback_prefix: &str) -> Url {
    authorize_at_idp_in(&idp_browser(), authorize_url, answer, callback_prefix).await
}

/// [`authorize_at_idp`] in `browser`, which keeps the IdP session it signs in to.
pub async fn authorize_at_idp_in(
    browser: &Client,
    authorize_url: &str,
    answer: Answer<'_>,
    callback_prefix: &str,
) -> Url {
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
        revalidate: None,
        bearer: Default::default(),
        keep_claims: Vec::new(),
        verification: None,
    }
}
