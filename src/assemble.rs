//! Assembling the gateway from settings: [`Gateway::assemble`] turns
//! validated settings into the shared services (keys, codecs, credentials,
//! providers, state), collecting every problem (settings, keys, users) into
//! one error.

use crate::accounts::Accounts;
use crate::assertion::Assertions;
use crate::clock::SharedClock;
use crate::config::{ConfigError, Mode, SessionRole, Settings};
use crate::credentials::provider_token::refresh_tokens::KnownRefreshTokens;
use crate::credentials::{ApiTokens, Credentials, ProviderBearer};
use crate::crypto::keys::{self, JwkSet, KeyAlg, KeyError, KeyRing, KeyRules};
use crate::hooks::Hooks;
use crate::policy::Policy;
use crate::providers::credentials::{CredentialsProvider, VerifyLimits};
use crate::providers::Providers;
use crate::refresh::revalidate::Revalidator;
use crate::refresh::Refresher;
use crate::return_to::RedirectPolicy;
use crate::session::cookie::CookieSpec;
use crate::session::flow::FlowCodec;
use crate::session::{Lifetimes, SessionCodec};
use crate::state::{AppState, VerifyOnly};
use crate::store::{RevocationView, Store};
use crate::verification::Verifier;
use crate::web::identity_headers::IdentityHeaders;
use crate::web::{BodyLimits, FailureLimiter, OriginCheck, TrustedProxies, BODY_LIMIT};
use actix_web::web;
use std::sync::Arc;

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
    /// Every way a request proves who it is.
    pub credentials: web::Data<Credentials>,
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
    /// Log, once at start, what this gateway is: the config file it read,
    /// mode, addresses, the sign-in URL, its providers, password users, keys
    /// and store. Never a secret: key ids, not keys.
    pub fn log_summary(&self, config_file: Option<&std::path::Path>) {
        let settings = &self.settings;
        let config = config_file.map_or_else(|| "the embedded default".to_owned(), |path| path.display().to_string());
        let signin = self.state.public_url.join("auth/signin").map(|url| url.to_string()).unwrap_or_default();
        tracing::info!(
            config = %config,
            mode = ?settings.mode,
            listen = %settings.server.listen,
            metrics_listen = settings.server.metrics_listen.as_deref().unwrap_or("(on listen)"),
            public_url = %self.state.public_url,
            signin = %signin,
            "sealgate is starting"
        );
        for provider in self.state.providers.iter() {
            let discovery = if provider.is_oidc() { "discovering in the background" } else { "fixed endpoints" };
            tracing::info!(provider = %provider.id, name = %provider.name, discovery, "provider configured");
        }
        match &self.state.credentials {
            Some(users) => tracing::info!(
                users = users.accounts(),
                file = %settings.credentials.users_file.display(),
                "password sign-in on"
            ),
            None => tracing::info!("password sign-in off"),
        }
        let keys = self.key_ring.set();
        let kids: Vec<String> = keys.iter().map(|key| format!("{} ({:?})", key.kid(), key.state())).collect();
        let source = if settings.keys.jwks.is_some() {
            "keys.jwks".to_owned()
        } else {
            settings.keys.path.display().to_string()
        };
        tracing::info!(current = %keys.current().kid(), keys = %kids.join(", "), from = %source, "keys loaded");
        tracing::info!(store = ?settings.store.kind, "state store");
    }

    pub fn assemble(settings: Settings, clock: SharedClock, init: KeyInit) -> Result<Gateway, ConfigError> {
        let mut problems = settings.problems();
        let password = if settings.credentials.enabled {
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
        let store = Store::open(&settings.store, clock.clone()).map_err(|e| problems.push(format!("store: {e}"))).ok();
        // Keys last: a development key set (session or assertion keys) is
        // written only when nothing else stops the start, so a failed start
        // leaves no `keys/` behind.
        let init = if problems.is_empty() { init } else { KeyInit::ReadOnly };
        let assertions = Assertions::from_settings(&settings, clock.clone(), init == KeyInit::CreateInDevelopment)
            .map_err(|e| problems.push(format!("assertion: {e}")))
            .ok()
            .flatten()
            .map(Arc::new);
        let init = if problems.is_empty() { init } else { KeyInit::ReadOnly };
        let keys = load_keys(&settings, init).map_err(|e| problems.push(e)).ok();
        if let Some(keys) = &keys {
            problems
                .extend(KeyRules::from_settings(&settings).problems(keys).into_iter().map(|p| format!("keys: {p}")));
        }
        let public_url = settings.public_url();
        let (Some(keys), Some(public_url), Some(store), true) = (keys, public_url, store, problems.is_empty()) else {
            return Err(ConfigError::new(problems));
        };
        // The codecs follow the ring, so a reloaded key file reaches them all.
        let key_ring = KeyRing::new(keys);
        let keys = key_ring.set();

        let lifetimes = Lifetimes {
            idle: settings.session.idle_lifetime.as_secs() as i64,
            absolute: settings.session.absolute_lifetime.as_secs() as i64,
        };
        let session = &settings.session;
        let codec = SessionCodec::in_format(
            &keys,
            clock.clone(),
            lifetimes,
            session.max_token_bytes,
            session.format,
            session.accept_other_format,
        )
        .map_err(|e| ConfigError::new(vec![format!("keys: {e}")]))?;
        if session.role == SessionRole::Verify {
            tracing::info!(
                signin_url = session.signin_url.as_deref().unwrap_or("none"),
                "verify-only replica: sessions are opened and checked here, never minted, renewed or refreshed; \
                 sign-in requests are refused (code verify_only_replica)"
            );
        }
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
        let mut credentials = Credentials::new(
            codec,
            CookieSpec::from_settings(&settings),
            api_tokens,
            ProviderBearer::new(&providers, clock.clone()).knowing(Arc::clone(&refresh_tokens)),
        )
        .caching(settings.session.cache_bytes);
        // Without a store nothing is revoked: the gateway is as stateless as before.
        let revocations = (!store.is_off()).then(|| RevocationView::new(clock.clone(), settings.store.unavailable));
        if let Some(view) = &revocations {
            credentials = credentials.revoking(Arc::clone(view));
        }
        let password = password.map(Arc::new);
        if let Some(users) = &password {
            credentials = credentials.checking_password_users(Arc::clone(users));
        }
        let hooks = crate::providers::http_client(settings.hooks.timeout)
            .map_err(|e| format!("hooks: cannot build an HTTP client: {e}"))
            .and_then(|http| Hooks::new(&settings.hooks, clock.clone(), http))
            .map_err(|e| ConfigError::new(vec![e]))?;
        let redirects = RedirectPolicy::new(&public_url, &settings.redirects.allowed_hosts);
        let creds = &settings.credentials;
        let token_passers = providers.iter().filter(|p| p.pass_access_token).map(|p| p.id.clone()).collect();
        let policy = Policy::from_settings(&settings.policy);
        let verification = Verifier::from_settings(&settings, &keys, store.clone(), clock.clone())
            .map_err(|e| ConfigError::new(vec![e]))?
            .map(Arc::new);
        let pages = crate::web::pages::Pages::load(&settings.ui).map_err(|e| ConfigError::new(vec![e]))?;
        let state = AppState {
            pages,
            origins: web::Data::new(OriginCheck::new(
                public_url.origin().ascii_serialization(),
                &settings.server.allowed_origins,
            )),
            redirects,
            proxies: TrustedProxies::new(settings.server.trusted_proxies.clone()),
            accounts: (creds.signup && password.is_some()).then(|| {
                Arc::new(Accounts::new(
                    store.clone(),
                    clock.clone(),
                    creds.min_password_length,
                    creds.unconfirmed_lifetime,
                ))
            }),
            credentials: password,
            limiter: FailureLimiter::new(
                clock.clone(),
                creds.failure_window,
                creds.max_failures_per_user,
                creds.max_failures_per_client,
                store.clone(),
            ),
            token_passers,
            policy_active: !policy.is_trivial(),
            policy,
            revalidator: Revalidator::new(
                clock.clone(),
                providers.iter().map(|p| (p.id.as_str(), p.revalidate)),
                settings.oauth.timeout,
            ),
            refresher: Refresher::new(settings.tokens.clone(), clock.clone())
                .knowing(refresh_tokens)
                .sharing(&store, settings.oauth.timeout),
            providers,
            flows,
            public_url,
            body_limits: BodyLimits { max_bytes: BODY_LIMIT, timeout: settings.server.client_timeout },
            store,
            revocations,
            identity_headers: IdentityHeaders::from_settings(&settings),
            assertions,
            access_log: settings.log.access,
            metrics_elsewhere: settings.server.metrics_listen.is_some(),
            verification,
            hooks,
            verify_only: (settings.session.role == SessionRole::Verify).then(|| VerifyOnly {
                signin_url: settings.session.signin_url.as_deref().and_then(|u| url::Url::parse(u).ok()),
            }),
        };
        let credentials = web::Data::new(credentials);
        Ok(Gateway { settings, key_ring, keys, credentials, state: web::Data::new(state) })
    }
}
