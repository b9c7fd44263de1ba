//! Fake OAuth 2.0 / OpenID Connect providers on wiremock, shaped after each
//! provider's documented API: GitHub (OAuth app flow, `GET /user`,
//! `GET /user/emails`), Discord (`/api/oauth2/token`, `GET /api/users/@me`),
//! X (`/2/oauth2/token`, `GET /2/users/me`), Google and GitLab (OpenID
//! Connect discovery, JWKS, RS256 ID tokens) and a generic OAuth 2.0 server
//! with a nested userinfo document.
//!
//! The fakes are stateful the way a real authorization server is: the
//! authorize endpoint issues a one-time code bound to the client, the
//! redirect URI, the PKCE challenge and the nonce, and redirects the browser
//! back with it; the token endpoint authenticates the client the way the
//! provider does (GitHub: `client_id`/`client_secret` in the form; the rest:
//! HTTP Basic), checks the code, the redirect URI and the PKCE verifier, and
//! only then issues an access token that the profile endpoints accept.

use crate::helpers::PUBLIC_URL;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sealgate::clock::{Clock, ManualClock};
use sealgate::config::ProviderSettings;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const CLIENT_ID: &str = "sealgate-test-client";
pub const CLIENT_SECRET: &str = "sealgate-test-client-secret";
/// The `kid` of the fake's signing key (and, on purpose, of the "other" key too).
pub const KEY_ID: &str = "fake-signing-key-1";

/// Which provider a fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// github.com: every endpoint overridden to point at the fake.
    GitHub,
    /// GitHub Enterprise Server: only `base_url` given; the API is `{base_url}/api/v3/`.
    GitHubEnterprise,
    Discord,
    X,
    /// Google through OIDC discovery (`issuer` set to the fake).
    Google,
    /// GitLab through OIDC discovery (`base_url` set to the fake, which makes it the issuer).
    GitLab,
    /// A generic OAuth 2.0 server with a nested userinfo document.
    OAuth2,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
}

/// A deliberate defect in the ID token the fake issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenTweak {
    #[default]
    None,
    /// A nonce other than the one in the authorization request.
    WrongNonce,
    /// Signed by a key that is not in the JWKS (under the same `kid`).
    OtherKey,
    /// Issued to another client.
    WrongAudience,
    /// Issued by another issuer.
    WrongIssuer,
    /// Expired an hour ago (by the app's clock).
    Expired,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FakeOptions {
    /// Advertise RFC 9207 (`authorization_response_iss_parameter_supported`)
    /// in discovery, and send `iss` on the authorization response.
    pub iss_parameter: bool,
}

impl Preset {
    pub fn is_oidc(self) -> bool {
        matches!(self, Preset::Google | Preset::GitLab)
    }

    pub fn client_auth(self) -> ClientAuth {
        match self {
            Preset::GitHub | Preset::GitHubEnterprise => ClientAuth::Post,
            _ => ClientAuth::Basic,
        }
    }

    pub fn authorize_path(self) -> &'static str {
        match self {
            Preset::GitHub | Preset::GitHubEnterprise => "/login/oauth/authorize",
            Preset::Discord => "/oauth2/authorize",
            Preset::X => "/i/oauth2/authorize",
            Preset::Google => "/o/oauth2/v2/auth",
            Preset::GitLab | Preset::OAuth2 => "/oauth/authorize",
        }
    }

    pub fn token_path(self) -> &'static str {
        match self {
            Preset::GitHub | Preset::GitHubEnterprise => "/login/oauth/access_token",
            Preset::Discord => "/api/oauth2/token",
            Preset::X => "/2/oauth2/token",
            Preset::Google => "/token",
            Preset::GitLab | Preset::OAuth2 => "/oauth/token",
        }
    }

    /// Where the REST API / userinfo lives on the fake.
    fn api_prefix(self) -> &'static str {
        match self {
            Preset::GitHubEnterprise => "/api/v3",
            Preset::Discord => "/api",
            _ => "",
        }
    }
}

/// One authorization code the fake handed out, and what it is bound to.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
}

struct Shared {
    preset: Preset,
    issuer: String,
    options: FakeOptions,
    grants: HashMap<String, Grant>,
    /// Every access token issued, with the scope it carries.
    access_tokens: Vec<String>,
    serial: u64,
    /// GitHub `/user`, Discord `@me`, X `data`, or the (OIDC or generic) userinfo document.
    profile: Value,
    /// GitHub `/user/emails`.
    emails: Value,
    /// OIDC: claims of the ID token besides iss, aud, exp, iat, nonce.
    id_token_claims: Value,
    tweak: IdTokenTweak,
    clock: Option<ManualClock>,
}

impl Shared {
    fn now(&self) -> i64 {
        self.clock.as_ref().map_or_else(|| chrono::Utc::now().timestamp(), Clock::now)
    }
}

type SharedState = Arc<Mutex<Shared>>;

/// A running fake provider.
pub struct FakeProvider {
    pub preset: Preset,
    pub server: MockServer,
    shared: SharedState,
}

fn random(n: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

/// `BASE64URL(SHA256(verifier))`, RFC 7636's S256.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The form fields of a request body.
pub fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

/// `(client_id, client_secret)` from an `Authorization: Basic` header (RFC 6749 §2.3.1).
pub fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

fn bearer(request: &Request) -> Option<String> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("token ")).map(str::to_owned)
}

// ---------------------------------------------------------------------------
// Keys

struct TestKey {
    private: Jwk,
    public: Jwk,
}

fn generate_key() -> TestKey {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut private = pair.to_jwk_private_key();
    private.set_key_id(KEY_ID);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(KEY_ID);
    public.set_key_use("sig");
    public.set_algorithm("RS256");
    TestKey { private, public }
}

fn signing_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate_key)
}

fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate_key)
}

fn sign(claims: &Value, key: &TestKey) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(KEY_ID);
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let signer = RS256.signer_from_jwk(&key.private).unwrap();
    jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

/// OIDC `at_hash`: the left half of SHA-256 of the access token, base64url.
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap())
}

// ---------------------------------------------------------------------------
// Default profiles, after each provider's documented examples.

fn default_profile(preset: Preset, issuer: &str) -> Value {
    match preset {
        Preset::GitHub | Preset::GitHubEnterprise => json!({
            "login": "octocat",
            "id": 583231,
            "node_id": "MDQ6VXNlcjU4MzIzMQ==",
            "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
            "gravatar_id": "",
            "url": "https://api.github.com/users/octocat",
            "html_url": "https://github.com/octocat",
            "type": "User",
            "site_admin": false,
            "name": "The Octocat",
            "company": "@github",
            "blog": "https://github.blog",
            "location": "San Francisco",
            "email": null,
            "hireable": null,
            "bio": null,
            "twitter_username": null,
            "public_repos": 8,
            "public_gists": 8,
            "followers": 9999,
            "following": 9,
            "created_at": "2011-01-25T18:44:36Z",
            "updated_at": "2024-01-22T12:14:17Z"
        }),
        Preset::Discord => json!({
            "id": "80351110224678912",
            "username": "nelly",
            "discriminator": "0",
            "global_name": "Nelly",
            "avatar": "8342729096ea3675442027381ff50dfe",
            "bot": false,
            "system": false,
            "mfa_enabled": true,
            "banner": "06c16474723fe537c283b8efa61a30c8",
            "accent_color": 16711680,
            "locale": "en-US",
            "verified": true,
            "email": "nelly@discord.com",
            "flags": 64,
            "premium_type": 1,
            "public_flags": 64
        }),
        Preset::X => json!({
            "id": "2244994945",
            "name": "X Developers",
            "username": "XDevelopers",
            "created_at": "2013-12-14T04:35:55.000Z",
            "description": "The voice of the X developer community",
            "verified": true,
            "profile_image_url": "https://pbs.twimg.com/profile_images/1683325380441128960/yRsRRjGO_normal.jpg"
        }),
        Preset::Google => json!({
            "sub": "110169484474386276334",
            "name": "Grace Hopper",
            "given_name": "Grace",
            "family_name": "Hopper",
            "picture": "https://lh3.googleusercontent.com/a/ACg8ocKxJ3aH1qB7xTnQ8Y0m=s96-c",
            "email": "grace@example.com",
            "email_verified": true,
            "hd": "example.com"
        }),
        Preset::GitLab => json!({
            "sub": "1234567",
            "sub_legacy": "2ff6b9e3c6f1c4f4d5a7a8f5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5",
            "name": "Jane Doe",
            "nickname": "jdoe",
            "preferred_username": "jdoe",
            "email": "jane@example.com",
            "email_verified": true,
            "website": "https://jane.example.com",
            "profile": format!("{issuer}/jdoe"),
            "picture": format!("{issuer}/uploads/-/system/user/avatar/1234567/avatar.png"),
            "groups": ["acme", "acme/platform", "acme/platform/infra"]
        }),
        Preset::OAuth2 => json!({
            "status": "ok",
            "data": {
                "uid": 90210,
                "login": "mhamilton",
                "display_name": "Margaret Hamilton",
                "contact": { "email": "margaret@example.org", "email_verified": true },
                "avatar": { "url": "https://cdn.example.org/avatars/90210.png" },
                "roles": ["apollo", "guidance", "software"]
            }
        }),
    }
}

fn default_emails() -> Value {
    json!([
        { "email": "octocat@github.com", "verified": true, "primary": true, "visibility": "public" },
        { "email": "octocat@users.noreply.github.com", "verified": true, "primary": false, "visibility": null }
    ])
}

fn default_id_token_claims(preset: Preset, issuer: &str) -> Value {
    match preset {
        Preset::Google => json!({
            "azp": CLIENT_ID,
            "sub": "110169484474386276334",
            "hd": "example.com",
            "email": "grace@example.com",
            "email_verified": true,
            "name": "Grace Hopper",
            "picture": "https://lh3.googleusercontent.com/a/ACg8ocKxJ3aH1qB7xTnQ8Y0m=s96-c",
            "given_name": "Grace",
            "family_name": "Hopper"
        }),
        Preset::GitLab => json!({
            "sub": "1234567",
            "sub_legacy": "2ff6b9e3c6f1c4f4d5a7a8f5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5",
            "name": "Jane Doe",
            "nickname": "jdoe",
            "preferred_username": "jdoe",
            "email": "jane@example.com",
            "email_verified": true,
            "website": "https://jane.example.com",
            "profile": format!("{issuer}/jdoe"),
            "picture": format!("{issuer}/uploads/-/system/user/avatar/1234567/avatar.png"),
            "groups_direct": ["acme", "acme/platform"]
        }),
        _ => json!({}),
    }
}

fn discovery(preset: Preset, issuer: &str, options: FakeOptions) -> Value {
    let mut doc = match preset {
        Preset::Google => json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/o/oauth2/v2/auth"),
            "device_authorization_endpoint": format!("{issuer}/device/code"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/v1/userinfo"),
            "revocation_endpoint": format!("{issuer}/revoke"),
            "jwks_uri": format!("{issuer}/oauth2/v3/certs"),
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token",
                "token id_token", "code token id_token", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat",
                "iss", "name", "picture", "sub"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
        }),
        Preset::GitLab => json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
            "jwks_uri": format!("{issuer}/oauth/discovery/keys"),
            "scopes_supported": ["api", "read_api", "read_user", "read_repository", "write_repository",
                "read_registry", "write_registry", "sudo", "openid", "profile", "email"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "password", "client_credentials",
                "device_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claim_types_supported": ["normal"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "sub_legacy", "name", "nickname",
                "preferred_username", "email", "email_verified", "website", "profile", "picture", "groups",
                "groups_direct"],
            "code_challenge_methods_supported": ["plain", "S256"]
        }),
        _ => Value::Null,
    };
    if options.iss_parameter {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    }
    doc
}

// ---------------------------------------------------------------------------
// Responders

/// `GET authorize`: what the provider does once the person has consented:
/// a 302 back to the redirect URI with a fresh one-time code.
struct Authorize(SharedState);

impl Respond for Authorize {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let mut shared = self.0.lock().unwrap();
        let bad = |why: &str| ResponseTemplate::new(400).set_body_string(format!("<h1>Bad request</h1><p>{why}</p>"));
        if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
            return bad("unknown client_id");
        }
        if query.get("response_type").map(String::as_str) != Some("code") {
            return bad("response_type must be code");
        }
        let Some(redirect_uri) = query.get("redirect_uri").cloned() else {
            return bad("redirect_uri is required");
        };
        let scope = query.get("scope").cloned().unwrap_or_default();
        if shared.preset.is_oidc() && !scope.split(' ').any(|s| s == "openid") {
            return bad("an OpenID Connect request needs the openid scope");
        }
        let code_challenge = query.get("code_challenge").cloned();
        if code_challenge.is_some() && query.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return bad("this fake only takes S256 challenges");
        }
        shared.serial += 1;
        let code = format!("code-{}-{}", shared.serial, random(20));
        shared.grants.insert(
            code.clone(),
            Grant {
                client_id: CLIENT_ID.into(),
                redirect_uri: Some(redirect_uri.clone()),
                code_challenge,
                nonce: query.get("nonce").cloned(),
                scope,
            },
        );
        let mut location = Url::parse(&redirect_uri).unwrap();
        {
            let mut pairs = location.query_pairs_mut();
            pairs.append_pair("code", &code);
            if let Some(state) = query.get("state") {
                pairs.append_pair("state", state);
            }
            if shared.options.iss_parameter {
                pairs.append_pair("iss", &shared.issuer);
            }
        }
        ResponseTemplate::new(302).insert_header("Location", location.as_str())
    }
}

/// `POST token`: the authorization-code grant.
struct Token(SharedState);

impl Token {
    fn error(preset: Preset, status: u16, error: &str, description: &str) -> ResponseTemplate {
        match preset {
            // GitHub answers token errors with 200 and an `error` field.
            Preset::GitHub | Preset::GitHubEnterprise => ResponseTemplate::new(200).set_body_json(json!({
                "error": error,
                "error_description": description,
                "error_uri": format!(
                    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{}",
                    error.replace('_', "-")
                ),
            })),
            _ => ResponseTemplate::new(status).set_body_json(json!({ "error": error, "error_description": description })),
        }
    }
}

impl Respond for Token {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = form(request);
        let field = |name: &str| form.get(name).map(String::as_str);
        let mut shared = self.0.lock().unwrap();
        let preset = shared.preset;

        let authenticated = match preset.client_auth() {
            ClientAuth::Post => {
                field("client_id") == Some(CLIENT_ID)
                    && field("client_secret") == Some(CLIENT_SECRET)
                    && request.headers.get("authorization").is_none()
            }
            ClientAuth::Basic => {
                basic_credentials(request) == Some((CLIENT_ID.into(), CLIENT_SECRET.into()))
                    && field("client_secret").is_none()
            }
        };
        if !authenticated {
            return match preset {
                Preset::GitHub | Preset::GitHubEnterprise => Token::error(
                    preset,
                    200,
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are incorrect.",
                ),
                _ => Token::error(preset, 401, "invalid_client", "Client authentication failed."),
            };
        }
        if field("grant_type") != Some("authorization_code") {
            return Token::error(preset, 400, "unsupported_grant_type", "Only authorization_code is supported.");
        }
        // A code works once: taking it out of the map makes a replay fail.
        let Some(grant) = field("code").and_then(|code| shared.grants.remove(code)) else {
            return match preset {
                Preset::GitHub | Preset::GitHubEnterprise => {
                    Token::error(preset, 200, "bad_verification_code", "The code passed is incorrect or expired.")
                }
                _ => Token::error(
                    preset,
                    400,
                    "invalid_grant",
                    "The provided authorization grant is invalid, expired, revoked, does not match the \
                     redirection URI used in the authorization request, or was issued to another client.",
                ),
            };
        };
        if grant.client_id != CLIENT_ID {
            return Token::error(preset, 400, "invalid_grant", "The code was issued to another client.");
        }
        if grant.redirect_uri.is_some() && field("redirect_uri") != grant.redirect_uri.as_deref() {
            return match preset {
                Preset::GitHub | Preset::GitHubEnterprise => Token::error(
                    preset,
                    200,
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                ),
                _ => Token::error(preset, 400, "invalid_grant", "redirect_uri does not match."),
            };
        }
        if let Some(challenge) = &grant.code_challenge {
            if field("code_verifier").map(s256).as_deref() != Some(challenge.as_str()) {
                return Token::error(preset, 400, "invalid_grant", "PKCE verification failed.");
            }
        }

        let access_token = match preset {
            Preset::GitHub | Preset::GitHubEnterprise => format!("gho_{}", random(36)),
            Preset::Google => format!("ya29.a0{}", random(60)),
            _ => random(40),
        };
        shared.access_tokens.push(access_token.clone());
        let now = shared.now();
        let scope = grant.scope.clone();
        let body = match preset {
            Preset::GitHub | Preset::GitHubEnterprise => {
                let scope = scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",");
                let accepts_json = request
                    .headers
                    .get("accept")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("application/json"));
                if !accepts_json {
                    // Without `Accept: application/json`, GitHub answers form-encoded.
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("access_token", &access_token)
                        .append_pair("scope", &scope)
                        .append_pair("token_type", "bearer")
                        .finish();
                    return ResponseTemplate::new(200).set_body_raw(body, "application/x-www-form-urlencoded");
                }
                json!({ "access_token": access_token, "token_type": "bearer", "scope": scope })
            }
            Preset::Discord => json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": random(30),
                "scope": scope,
            }),
            Preset::X => {
                let mut body = json!({
                    "token_type": "bearer",
                    "expires_in": 7200,
                    "access_token": access_token,
                    "scope": scope,
                });
                if scope.split(' ').any(|s| s == "offline.access") {
                    body["refresh_token"] = json!(random(40));
                }
                body
            }
            Preset::Google | Preset::GitLab => {
                let id_token = id_token(&shared, &grant, &access_token, now);
                let mut body = json!({
                    "access_token": access_token,
                    "expires_in": if preset == Preset::Google { 3599 } else { 7200 },
                    "scope": scope,
                    "token_type": "Bearer",
                    "id_token": id_token,
                });
                if preset == Preset::GitLab {
                    body["refresh_token"] = json!(random(64));
                    body["created_at"] = json!(now);
                }
                body
            }
            Preset::OAuth2 => json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": random(40),
            }),
        };
        ResponseTemplate::new(200).insert_header("Cache-Control", "no-store").set_body_json(body)
    }
}

fn id_token(shared: &Shared, grant: &Grant, access_token: &str, now: i64) -> String {
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now - 30,
        "at_hash": at_hash(access_token),
    });
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Value::Object(extra) = &shared.id_token_claims {
        for (key, value) in extra {
            claims[key] = value.clone();
        }
    }
    let mut key = signing_key();
    match shared.tweak {
        IdTokenTweak::None => {}
        IdTokenTweak::WrongNonce => claims["nonce"] = json!("a-nonce-sealgate-never-sent"),
        IdTokenTweak::OtherKey => key = other_key(),
        IdTokenTweak::WrongAudience => {
            claims["aud"] = json!("someone-elses-client-id");
            claims["azp"] = json!("someone-elses-client-id");
        }
        IdTokenTweak::WrongIssuer => claims["iss"] = json!("https://accounts.evil.example"),
        IdTokenTweak::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
    }
    sign(&claims, key)
}

#[derive(Debug, Clone, Copy)]
enum Api {
    GitHubUser,
    GitHubEmails,
    DiscordMe,
    XMe,
    Userinfo,
}

/// A profile endpoint that wants a bearer token the fake issued.
struct Profile(SharedState, Api);

impl Respond for Profile {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = self.0.lock().unwrap();
        let authorized = bearer(request).is_some_and(|token| shared.access_tokens.contains(&token));
        match self.1 {
            Api::GitHubUser | Api::GitHubEmails => {
                if request.headers.get("user-agent").is_none() {
                    return ResponseTemplate::new(403).set_body_string(
                        "Request forbidden by administrative rules. Please make sure your request has a \
                         User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).",
                    );
                }
                if !authorized {
                    return ResponseTemplate::new(401).set_body_json(json!({
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401"
                    }));
                }
                let body = match self.1 {
                    Api::GitHubUser => shared.profile.clone(),
                    _ => shared.emails.clone(),
                };
                ResponseTemplate::new(200).set_body_json(body)
            }
            Api::DiscordMe => {
                if !authorized {
                    return ResponseTemplate::new(401)
                        .set_body_json(json!({ "message": "401: Unauthorized", "code": 0 }));
                }
                ResponseTemplate::new(200).set_body_json(shared.profile.clone())
            }
            Api::XMe => {
                if !authorized {
                    return ResponseTemplate::new(401).set_body_json(json!({
                        "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"
                    }));
                }
                // Only the default fields, plus those asked for with `user.fields`.
                let asked: Vec<String> = request
                    .url
                    .query_pairs()
                    .filter(|(k, _)| k == "user.fields")
                    .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
                    .collect();
                let mut data = serde_json::Map::new();
                if let Value::Object(profile) = &shared.profile {
                    for (key, value) in profile {
                        if matches!(key.as_str(), "id" | "name" | "username") || asked.contains(key) {
                            data.insert(key.clone(), value.clone());
                        }
                    }
                }
                ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
            }
            Api::Userinfo => {
                if !authorized {
                    return ResponseTemplate::new(401)
                        .insert_header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
                        .set_body_json(json!({ "error": "invalid_token" }));
                }
                ResponseTemplate::new(200).set_body_json(shared.profile.clone())
            }
        }
    }
}

// ---------------------------------------------------------------------------

impl FakeProvider {
    pub async fn start(preset: Preset) -> FakeProvider {
        FakeProvider::start_with(preset, FakeOptions::default()).await
    }

    pub async fn start_with(preset: Preset, options: FakeOptions) -> FakeProvider {
        let server = MockServer::start().await;
        let issuer = server.uri();
        let shared = Arc::new(Mutex::new(Shared {
            preset,
            issuer: issuer.clone(),
            options,
            grants: HashMap::new(),
            access_tokens: Vec::new(),
            serial: 0,
            profile: default_profile(preset, &issuer),
            emails: default_emails(),
            id_token_claims: default_id_token_claims(preset, &issuer),
            tweak: IdTokenTweak::None,
            clock: None,
        }));
        let fake = FakeProvider { preset, server, shared };
        fake.mount().await;
        fake
    }

    async fn mount(&self) {
        let preset = self.preset;
        let shared = &self.shared;
        Mock::given(method("GET"))
            .and(path(preset.authorize_path()))
            .respond_with(Authorize(shared.clone()))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path(preset.token_path()))
            .respond_with(Token(shared.clone()))
            .mount(&self.server)
            .await;
        let prefix = preset.api_prefix();
        let apis: Vec<(String, Api)> = match preset {
            Preset::GitHub | Preset::GitHubEnterprise => {
                vec![(format!("{prefix}/user"), Api::GitHubUser), (format!("{prefix}/user/emails"), Api::GitHubEmails)]
            }
            Preset::Discord => vec![(format!("{prefix}/users/@me"), Api::DiscordMe)],
            Preset::X => vec![("/2/users/me".into(), Api::XMe)],
            Preset::Google => vec![("/v1/userinfo".into(), Api::Userinfo)],
            Preset::GitLab => vec![("/oauth/userinfo".into(), Api::Userinfo)],
            Preset::OAuth2 => vec![("/api/v1/me".into(), Api::Userinfo)],
        };
        for (route, api) in apis {
            Mock::given(method("GET"))
                .and(path(route))
                .respond_with(Profile(shared.clone(), api))
                .mount(&self.server)
                .await;
        }
        if preset.is_oidc() {
            let issuer = self.uri();
            let options = self.shared.lock().unwrap().options;
            let doc = discovery(preset, &issuer, options);
            let jwks_path = Url::parse(doc["jwks_uri"].as_str().unwrap()).unwrap().path().to_owned();
            Mock::given(method("GET"))
                .and(path("/.well-known/openid-configuration"))
                .respond_with(ResponseTemplate::new(200).set_body_json(doc))
                .mount(&self.server)
                .await;
            let public: &serde_json::Map<String, Value> = signing_key().public.as_ref();
            Mock::given(method("GET"))
                .and(path(jwks_path))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [public] })))
                .mount(&self.server)
                .await;
        }
    }

    /// The fake's base URL, without a trailing slash (also its issuer).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.uri())
    }

    /// A `[providers.<id>]` table for this preset, every endpoint at the fake.
    pub fn settings(&self) -> ProviderSettings {
        let uri = self.uri();
        let mut table = match self.preset {
            Preset::GitHub => json!({
                "kind": "github",
                "authorize_url": self.url(Preset::GitHub.authorize_path()),
                "token_url": self.url(Preset::GitHub.token_path()),
                "api_url": format!("{uri}/"),
            }),
            Preset::GitHubEnterprise => json!({ "kind": "github", "base_url": format!("{uri}/") }),
            Preset::Discord => json!({
                "kind": "discord",
                "authorize_url": self.url(Preset::Discord.authorize_path()),
                "api_url": format!("{uri}/api/"),
            }),
            Preset::X => json!({
                "kind": "x",
                "authorize_url": self.url(Preset::X.authorize_path()),
                "api_url": format!("{uri}/"),
            }),
            Preset::Google => json!({ "kind": "google", "issuer": uri }),
            Preset::GitLab => json!({ "kind": "gitlab", "base_url": uri }),
            Preset::OAuth2 => json!({
                "kind": "oauth2",
                "name": "Mission Control",
                "authorize_url": self.url(Preset::OAuth2.authorize_path()),
                "token_url": self.url(Preset::OAuth2.token_path()),
                "userinfo_url": self.url("/api/v1/me"),
                "scopes": ["profile", "roles"],
                "claims": {
                    "id": "data.uid",
                    "username": "data.login",
                    "email": "data.contact.email",
                    "name": "data.display_name",
                    "avatar_url": "data.avatar.url",
                    "groups": "data.roles"
                }
            }),
        };
        table["client_id"] = json!(CLIENT_ID);
        table["client_secret"] = json!(CLIENT_SECRET);
        serde_json::from_value(table).unwrap()
    }

    /// Issue ID tokens with the app's clock.
    pub fn use_clock(&self, clock: &ManualClock) {
        self.shared.lock().unwrap().clock = Some(clock.clone());
    }

    pub fn set_profile(&self, profile: Value) {
        self.shared.lock().unwrap().profile = profile;
    }

    pub fn set_emails(&self, emails: Value) {
        self.shared.lock().unwrap().emails = emails;
    }

    pub fn set_id_token_claims(&self, claims: Value) {
        self.shared.lock().unwrap().id_token_claims = claims;
    }

    pub fn set_tweak(&self, tweak: IdTokenTweak) {
        self.shared.lock().unwrap().tweak = tweak;
    }

    /// Every access token the fake has issued.
    pub fn access_tokens(&self) -> Vec<String> {
        self.shared.lock().unwrap().access_tokens.clone()
    }

    /// Play the browser at the provider: GET the authorize URL, consent, and
    /// return where the provider redirects back to (the callback URL).
    pub async fn consent(&self, authorize_url: &str) -> Url {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.get(authorize_url).send().await.unwrap();
        let status = response.status();
        let body_or_location = match response.headers().get("location") {
            Some(location) => location.to_str().unwrap().to_owned(),
            None => response.text().await.unwrap_or_default(),
        };
        assert_eq!(status, 302, "the fake refused the authorization request: {body_or_location}");
        Url::parse(&body_or_location).unwrap()
    }

    /// The requests the fake's token endpoint received.
    pub async fn token_requests(&self) -> Vec<Request> {
        self.requests_to(self.preset.token_path()).await
    }

    pub async fn requests_to(&self, route: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect()
    }
}

/// The callback URL sealgate gives providers for `id`.
pub fn redirect_uri(id: &str) -> String {
    format!("{PUBLIC_URL}/auth/callback/{id}")
}

// ---------------------------------------------------------------------------
// Django OAuth Toolkit: discovery only

/// Discovery as Django OAuth Toolkit serves it, mounted at `/o/` (its
/// documented `path("o/", include(oauth2_provider.urls))`), issuer
/// `{server}/o`: the OpenID metadata at `/o/.well-known/openid-configuration`
/// names no revocation or introspection endpoint; those are only in the RFC
/// 8414 metadata at `/o/.well-known/oauth-authorization-server` (left out
/// with `rfc8414: false`, as on servers that do not serve it). The JWKS is
/// at `/o/.well-known/jwks.json`; revocation (`/o/revoke_token/`) answers 200
/// and introspection (`/o/introspect/`) `{"active": false}`, so tests can see
/// which endpoints sealgate found by the requests they get.
pub struct DjangoOauthToolkit {
    pub server: MockServer,
}

impl DjangoOauthToolkit {
    pub async fn start(rfc8414: bool) -> DjangoOauthToolkit {
        let server = MockServer::start().await;
        let issuer = format!("{}/o", server.uri());
        let at = |path: &str| format!("{issuer}/{path}");
        let openid = json!({
            "issuer": issuer,
            "authorization_endpoint": at("authorize/"),
            "token_endpoint": at("token/"),
            "userinfo_endpoint": at("userinfo/"),
            "jwks_uri": at(".well-known/jwks.json"),
            "scopes_supported": ["openid", "read", "write"],
            "response_types_supported": ["code", "token", "id_token", "id_token token", "code token",
                "code id_token", "code id_token token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["sub"],
        });
        let oauth = json!({
            "issuer": issuer,
            "authorization_endpoint": at("authorize/"),
            "token_endpoint": at("token/"),
            "revocation_endpoint": at("revoke_token/"),
            "introspection_endpoint": at("introspect/"),
            "jwks_uri": at(".well-known/jwks.json"),
            "scopes_supported": ["openid", "read", "write"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["plain", "S256"],
        });
        let public: &serde_json::Map<String, Value> = signing_key().public.as_ref();
        let routes = [
            ("/o/.well-known/openid-configuration", Some(openid)),
            ("/o/.well-known/oauth-authorization-server", rfc8414.then_some(oauth)),
            ("/o/.well-known/jwks.json", Some(json!({ "keys": [public] }))),
        ];
        for (route, body) in routes {
            if let Some(body) = body {
                Mock::given(method("GET"))
                    .and(path(route))
                    .respond_with(ResponseTemplate::new(200).set_body_json(body))
                    .mount(&server)
                    .await;
            }
        }
        Mock::given(method("POST"))
            .and(path("/o/revoke_token/"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/o/introspect/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "active": false })))
            .mount(&server)
            .await;
        DjangoOauthToolkit { server }
    }

    pub fn issuer(&self) -> String {
        format!("{}/o", self.server.uri())
    }

    /// A `kind = "oidc"` provider table for this server.
    pub fn settings(&self) -> ProviderSettings {
        serde_json::from_value(json!({
            "kind": "oidc",
            "issuer": self.issuer(),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }))
        .unwrap()
    }

    pub async fn requests_to(&self, route: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect()
    }
}
