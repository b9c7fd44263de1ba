//! Assembling the gateway from settings, and running it.
//!
//! [`Gateway::assemble`] turns validated settings into the shared services,
//! collecting every problem (settings, keys, users) into one error.
//! [`Application::build`] binds the listener (port 0 works, for tests) and
//! wires the routes.

use crate::api_tokens::ApiTokens;
use crate::bearer::refresh_tokens::KnownRefreshTokens;
use crate::bearer::ProviderBearer;
use crate::clock::SharedClock;
use crate::config::{ConfigError, Mode, Settings};
use crate::domain::RedirectPolicy;
use crate::errors::AppError;
use crate::keys::{self, JwkSet, KeyAlg, KeyError, KeyFile, KeyRing};
use crate::policy::Policy;
use crate::providers::credentials::{CredentialsProvider, VerifyLimits};
use crate::providers::Providers;
use crate::refresh::Refresher;
use crate::reload::Reloader;
use crate::routes;
use crate::security::{BodyLimits, FailureLimiter, OriginCheck, TrustedProxies};
use crate::session::cookie::CookieSpec;
use crate::session::flow::FlowCodec;
use crate::session::request::{SessionCookies, SessionService};
use crate::session::{Lifetimes, SessionCodec};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, JsonPayloadError, PayloadError, UrlencodedError};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use std::net::TcpListener;
use std::sync::Arc;
use url::Url;

/// Shared, read-only state for the routes.
#[derive(Debug)]
pub struct AppState {
    pub redirects: RedirectPolicy,
    pub proxies: TrustedProxies,
    pub origins: OriginCheck,
    pub credentials: Option<Arc<CredentialsProvider>>,
    pub limiter: FailureLimiter,
    pub providers: Providers,
    pub flows: FlowCodec,
    pub public_url: Url,
    pub refresher: Refresher,
    /// The providers that pass their access token on `/auth/verify`
    /// (usually none or one, so a list beats a set).
    pub token_passers: Vec<String>,
    pub policy: Policy,
    /// Whether the policy does more than "signed in, or 401" (the hot path skips it otherwise).
    pub policy_active: bool,
    /// How large and slow a request body may be, on every route.
    pub body_limits: BodyLimits,
}

impl AppState {
    /// Whether `/auth/verify` passes the access token of sessions from `provider`.
    pub fn passes_token(&self, provider: &str) -> bool {
        self.token_passers.iter().any(|id| id == provider)
    }
}

/// Whether a missing development key set may be written to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInit {
    /// `serve`, `session mint`: create and save keys in development mode.
    CreateInDevelopment,
    /// `check-config`: never write; a missing dev key set is not a problem.
    ReadOnly,
}

/// Everything the HTTP server shares, built from settings.
pub struct Gateway {
    pub settings: Settings,
    /// The key set in force; the codecs follow it.
    pub key_ring: KeyRing,
    /// The key set at start.
    pub keys: JwkSet,
    pub sessions: web::Data<SessionService>,
    pub state: web::Data<AppState>,
}

fn load_keys(settings: &Settings, init: KeyInit) -> Result<JwkSet, String> {
    let result = match init {
        KeyInit::CreateInDevelopment => keys::load_or_init(settings),
        KeyInit::ReadOnly if settings.keys.jwks.is_some() => keys::load_or_init(settings),
        KeyInit::ReadOnly => match keys::read_key_set(&settings.keys.path) {
            Err(KeyError::Missing(_)) if settings.mode == Mode::Development => Ok(JwkSet::generate(KeyAlg::Dir)),
            other => other,
        },
    };
    result.map_err(|e| format!("keys: {e}"))
}

impl Gateway {
    pub fn assemble(settings: Settings, clock: SharedClock, init: KeyInit) -> Result<Gateway, ConfigError> {
        let mut problems = settings.problems();
        let keys = load_keys(&settings, init).map_err(|e| problems.push(e)).ok();
        let credentials = if settings.credentials.enabled {
            let limits = VerifyLimits {
                concurrent: settings.credentials.max_concurrent_verifications,
                queue: settings.credentials.verification_queue,
            };
            CredentialsProvider::load(&settings.credentials.users_file, settings.is_production(), limits)
                .map_err(|e| problems.extend(e))
                .ok()
        } else {
            None
        };
        let providers =
            Providers::from_settings(&settings, clock.clone()).map_err(|e| problems.extend(e)).ok().unwrap_or_default();
        let public_url = settings.public_url();
        let (Some(keys), Some(public_url), true) = (keys, public_url, problems.is_empty()) else {
            return Err(ConfigError::new(problems));
        };
        // The codecs follow the ring, so a reloaded key file reaches them all.
        let key_ring = KeyRing::new(keys);
        let keys = key_ring.set();

        let lifetimes = Lifetimes {
            idle: settings.session.idle_lifetime.as_secs() as i64,
            absolute: settings.session.absolute_lifetime.as_secs() as i64,
        };
        let codec = SessionCodec::new(&keys, clock.clone(), lifetimes, settings.session.max_token_bytes)
            .map_err(|e| ConfigError::new(vec![format!("keys: {e}")]))?;
        let flows = FlowCodec::new(&keys, clock.clone(), settings.oauth.flow_lifetime.as_secs() as i64)
            .map_err(|e| ConfigError::new(vec![format!("keys: {e}")]))?;
        let api_tokens = ApiTokens::new(
            &keys,
            clock.clone(),
            settings.api_tokens.deny_list.clone(),
            settings.api_tokens.max_lifetime.as_secs() as i64,
        )
        .map_err(|e| ConfigError::new(vec![format!("keys: {e}")]))?
        .outliving_sessions(settings.api_tokens.outlive_session);
        api_tokens.load_deny_list().map_err(|e| ConfigError::new(vec![e]))?;
        // The refresh tokens the refresher holds, which the Bearer check refuses.
        let refresh_tokens = Arc::new(KnownRefreshTokens::default());
        let sessions = SessionService {
            codec,
            cookies: CookieSpec::from_settings(&settings),
            api_tokens,
            provider_bearer: ProviderBearer::new(&providers, clock.clone()).knowing(Arc::clone(&refresh_tokens)),
        };
        let redirects = RedirectPolicy::new(&public_url, &settings.redirects.allowed_hosts);
        let creds = &settings.credentials;
        let token_passers = providers.iter().filter(|p| p.pass_access_token).map(|p| p.id.clone()).collect();
        let policy = Policy::from_settings(&settings.policy);
        let state = AppState {
            origins: OriginCheck::new(public_url.origin().ascii_serialization(), &settings.server.allowed_origins),
            redirects,
            proxies: TrustedProxies::new(settings.server.trusted_proxies.clone()),
            credentials: credentials.map(Arc::new),
            limiter: FailureLimiter::new(
                clock.clone(),
                creds.failure_window,
                creds.max_failures_per_user,
                creds.max_failures_per_client,
            ),
            token_passers,
            policy_active: !policy.is_trivial(),
            policy,
            refresher: Refresher::new(settings.tokens.clone(), clock.clone()).knowing(refresh_tokens),
            providers,
            flows,
            public_url,
            body_limits: BodyLimits { max_bytes: BODY_LIMIT, timeout: settings.server.client_timeout },
        };
        Ok(Gateway { settings, key_ring, keys, sessions: web::Data::new(sessions), state: web::Data::new(state) })
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("cannot watch for SIGHUP: {0}")]
    Signal(std::io::Error),
}

/// The files a running gateway reloads when they change (and on SIGHUP).
/// A key set given as `keys.jwks` is read once, at start.
fn reloader(settings: &Settings, key_ring: &KeyRing, state: &AppState) -> Reloader {
    let mut reloader = Reloader::new(settings.keys.reload_interval);
    if settings.keys.jwks.is_none() {
        reloader.watch(Arc::new(KeyFile { path: settings.keys.path.clone(), ring: key_ring.clone() }));
    }
    if let Some(credentials) = &state.credentials {
        reloader.watch(credentials.clone());
    }
    reloader
}

fn bad_request(error: actix_web::Error, too_large: bool) -> actix_web::Error {
    let response =
        if too_large { AppError::TooLarge } else { AppError::BadRequest("invalid_request") }.error_response();
    InternalError::from_response(error, response).into()
}

/// The largest request body any route reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The application (routes, shared state, session middleware) that each
/// server worker runs. Public so benchmarks can drive it in-process.
pub fn app(
    sessions: web::Data<SessionService>,
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(SessionCookies)
        .wrap(state.body_limits)
        .app_data(sessions.clone())
        .app_data(state.clone())
        .app_data(web::FormConfig::default().limit(BODY_LIMIT).error_handler(|e, _| {
            let too_large =
                matches!(e, UrlencodedError::Overflow { .. } | UrlencodedError::Payload(PayloadError::Overflow));
            bad_request(e.into(), too_large)
        }))
        .app_data(web::JsonConfig::default().limit(BODY_LIMIT).error_handler(|e, _| {
            let too_large =
                matches!(e, JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. });
            bad_request(e.into(), too_large)
        }))
        .app_data(web::PayloadConfig::default().limit(BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(|e, _| bad_request(e.into(), false)))
        .configure(|cfg| routes::configure(cfg, sessions, state))
        .default_service(web::to(|| async { HttpResponse::NotFound().json(serde_json::json!({"error": "not_found"})) }))
}

impl Application {
    pub fn build(gateway: Gateway) -> Result<Application, StartupError> {
        let address = gateway.settings.server.listen.clone();
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Listen { address: address.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Listen { address, source })?.port();
        let Gateway { settings, sessions, state, key_ring, .. } = gateway;
        reloader(&settings, &key_ring, &state).spawn().map_err(StartupError::Signal)?;
        // OIDC discovery runs in the background; /readyz reports providers not yet discovered.
        for provider in state.providers.iter().filter(|p| p.is_oidc()) {
            let provider = Arc::clone(provider);
            let attempts = settings.oauth.discovery_attempts;
            tokio::spawn(async move { provider.discover(attempts).await });
        }

        let server = HttpServer::new(move || app(sessions.clone(), state.clone()))
            .client_request_timeout(settings.server.client_timeout)
            .client_disconnect_timeout(std::time::Duration::from_secs(1))
            .listen(listener)
            .map_err(|source| StartupError::Listen { address: settings.server.listen.clone(), source })?;
        let server = match settings.server.workers {
            0 => server,
            n => server.workers(n),
        };
        Ok(Application { port, server: server.run() })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
