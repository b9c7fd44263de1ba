//! Running the gateway: [`app`] wires the routes and middleware each
//! worker runs, and [`Application::build`] binds the listener (port 0
//! works, for tests), starts the reloader and OIDC discovery, and serves.
//! Assembling the services from settings is [`assemble`](crate::assemble)'s.

pub use crate::assemble::{Gateway, KeyInit};
use crate::config::{ConfigError, Settings};
use crate::credentials::Credentials;
use crate::crypto::keys::{KeyFile, KeyRing, KeyRules};
use crate::errors::AppError;
use crate::reload::Reloader;
use crate::routes;
use crate::state::AppState;
use crate::web::{Identify, Middleware, BODY_LIMIT};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, JsonPayloadError, PayloadError, UrlencodedError};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use std::net::TcpListener;
use std::sync::Arc;

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    /// `server.metrics_listen`'s server and port, when set.
    metrics: Option<(u16, Server)>,
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
fn reloader(settings: &Settings, key_ring: &KeyRing, state: &AppState, sessions: &Credentials) -> Reloader {
    let mut reloader = Reloader::new(settings.keys.reload_interval);
    if settings.keys.jwks.is_none() {
        let rules = KeyRules::from_settings(settings);
        reloader.watch(Arc::new(KeyFile { path: settings.keys.path.clone(), ring: key_ring.clone(), rules }));
    }
    if let Some(credentials) = &state.credentials {
        reloader.watch(credentials.clone());
    }
    if let Some(assertions) = &state.assertions {
        reloader.watch(Arc::new(crate::assertion::AssertionKeyFile(Arc::clone(assertions))));
    }
    if let Some(deny_list) = sessions.api_tokens.deny_list_file() {
        reloader.watch(deny_list);
    }
    reloader
}

/// Bind `address` (port 0 picks one), and say which port it got.
fn bind(address: &str) -> Result<(TcpListener, u16), StartupError> {
    let listen = |source| StartupError::Listen { address: address.to_owned(), source };
    let listener = TcpListener::bind(address).map_err(listen)?;
    let port = listener.local_addr().map_err(listen)?.port();
    Ok((listener, port))
}

/// The server of `server.metrics_listen`: `/metrics` alone, one worker.
fn metrics_server(
    address: &str,
    settings: &Settings,
    sessions: &web::Data<Credentials>,
) -> Result<(u16, Server), StartupError> {
    let (listener, port) = bind(address)?;
    let (sessions, access) = (sessions.clone(), settings.log.access);
    let server = HttpServer::new(move || {
        App::new().app_data(sessions.clone()).configure(|cfg| routes::configure_metrics(cfg, access)).default_service(
            web::to(|| async { HttpResponse::NotFound().json(serde_json::json!({"error": "not_found"})) }),
        )
    })
    .workers(1)
    .client_request_timeout(settings.server.client_timeout)
    .listen(listener)
    .map_err(|source| StartupError::Listen { address: address.to_owned(), source })?;
    Ok((port, server.run()))
}

fn bad_request(error: actix_web::Error, too_large: bool) -> actix_web::Error {
    let response =
        if too_large { AppError::TooLarge } else { AppError::BadRequest("invalid_request") }.error_response();
    InternalError::from_response(error, response).into()
}

/// The application (routes, shared state, session middleware) that each
/// server worker runs. Public so benchmarks can drive it in-process.
pub fn app(
    sessions: web::Data<Credentials>,
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
        .wrap(Middleware(Identify))
        .wrap(Middleware(state.body_limits))
        .app_data(sessions.clone())
        .app_data(state.clone())
        .app_data(state.origins.clone())
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
        let (listener, port) = bind(&gateway.settings.server.listen)?;
        let metrics = match &gateway.settings.server.metrics_listen {
            Some(address) => Some(metrics_server(address, &gateway.settings, &gateway.credentials)?),
            None => None,
        };
        let Gateway { settings, credentials: sessions, state, key_ring, .. } = gateway;
        reloader(&settings, &key_ring, &state, &sessions).spawn().map_err(StartupError::Signal)?;
        // The revocation view follows the store for the life of the process.
        if let Some(view) = &state.revocations {
            drop(view.follow(&state.store));
        }
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
        Ok(Application { port, server: server.run(), metrics })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `server.metrics_listen`, when set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, metrics)) => {
                let (served, metrics) = futures_util::future::join(self.server, metrics).await;
                served.and(metrics)
            }
            None => self.server.await,
        }
    }
}
