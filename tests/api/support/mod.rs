//! What the stories stand on besides `helpers` (the gateway itself): the
//! real parts next to it and the macros that run one suite over each
//! interchangeable part. Story files import from here and from `helpers`,
//! never from one another.

pub mod bearer;
pub mod browser_script;
pub mod fakes;
pub mod idp;
pub mod network;
pub mod oidc;
pub mod proxy;
#[path = "../../common/redis_server.rs"]
pub mod redis_server;
pub mod require;
pub mod smtp;

/// One `#[tokio::test]` per proxy for each story, in a module per proxy
/// (`<file>::nginx::<story>`, `<file>::caddy::<story>`); a story is an
/// `async fn(Proxy)` in the calling module.
macro_rules! per_proxy {
    ($($story:ident),* $(,)?) => {
        mod nginx {
            $(#[tokio::test]
            async fn $story() {
                super::$story($crate::support::proxy::Proxy::Nginx).await
            })*
        }
        mod caddy {
            $(#[tokio::test]
            async fn $story() {
                super::$story($crate::support::proxy::Proxy::Caddy).await
            })*
        }
    };
}
pub(crate) use per_proxy;

/// One `#[tokio::test]` per session key algorithm for each story, in a
/// module per algorithm (`<file>::dir::<story>`, `<file>::a256kw::<story>`);
/// a story is an `async fn(KeyAlg)` in the calling module, which spawns its
/// app with `Spawn::new().alg(alg)`.
macro_rules! per_key_alg {
    ($($story:ident),* $(,)?) => {
        mod dir {
            $(#[tokio::test]
            async fn $story() {
                super::$story(sealgate::crypto::keys::KeyAlg::Dir).await
            })*
        }
        mod a256kw {
            $(#[tokio::test]
            async fn $story() {
                super::$story(sealgate::crypto::keys::KeyAlg::A256Kw).await
            })*
        }
    };
}
pub(crate) use per_key_alg;
