//! Fills a running sealgate's open-cache, for `scripts/bench-cache-rss.sh`.
//!
//! Mints `COUNT` distinct sessions with the key set of the config it is
//! given (as `sealgate session mint` does, without a process per cookie)
//! and sends each once to `/auth/verify`, which opens it and keeps it in the
//! open-cache. Each session is its own user (`fill-<n>`, an e-mail address,
//! a name, two groups); `SHAPE=tokens` adds a 500-byte provider access
//! token, as in `bench-verify.sh`'s main cookie. `KIND=refusals` sends
//! forgeries instead: a minted cookie with a random GCM tag, a final
//! refusal the cache keeps too (what its bookkeeping alone costs).
//!
//! Usage: `cargo run --release --example fill_cache -- CONFIG BASE_URL COUNT [CONNECTIONS]`
//! (CONNECTIONS: requests in flight, default 32). Prints the answers by
//! status; exits 1 unless every one was the expected 200 (401 for refusals).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::StreamExt;
use rand::RngCore;
use sealgate::assemble::{Gateway, KeyInit};
use sealgate::clock::{SharedClock, SystemClock};
use sealgate::config::Settings;
use sealgate::crypto::ProviderTokens;
use sealgate::identity::User;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// One cookie header for session `n`: a fresh session, or a forgery of one.
fn cookie(gateway: &Gateway, n: u64, tokens: Option<&ProviderTokens>, forged: bool) -> Result<String, String> {
    let codec = &gateway.credentials.codec;
    let mut user = User::new(format!("fill-{n}"));
    user.email = Some(format!("fill-{n}@example.com"));
    user.name = Some(format!("Fill User {n}"));
    user.groups = vec!["staff".into(), "engineering".into()];
    let session = codec.start_with_ttl(user, "cli", 86_400, tokens).map_err(|e| e.to_string())?;
    let mut value = codec.seal(&session).map_err(|e| e.to_string())?;
    if forged {
        let mut tag = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut tag);
        let dot = value.rfind('.').ok_or("a sealed session without segments")?;
        value.truncate(dot + 1);
        value.push_str(&URL_SAFE_NO_PAD.encode(tag));
    }
    let parts = gateway.credentials.cookies.split(&value).map_err(|e| e.to_string())?;
    Ok(parts.into_iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; "))
}

async fn fill(config: &Path, base: &str, count: u64, connections: usize) -> Result<bool, String> {
    let settings = Settings::load(Some(config)).map_err(|e| e.to_string())?;
    let clock: SharedClock = Arc::new(SystemClock);
    let gateway = Arc::new(Gateway::assemble(settings, clock, KeyInit::ReadOnly).map_err(|e| e.to_string())?);
    let forged = std::env::var("KIND").is_ok_and(|kind| kind == "refusals");
    let tokens = std::env::var("SHAPE").is_ok_and(|shape| shape == "tokens").then(|| {
        let now = gateway.credentials.codec.now();
        ProviderTokens {
            access_token: SecretString::from(format!("fill-access-token-{}", "t".repeat(482))),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: Some(now + 86_400),
            obtained_at: now,
            scope: None,
        }
    });
    let expected = if forged { 401 } else { 200 };
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().map_err(|e| e.to_string())?;
    let url = format!("{base}/auth/verify");
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut answers = futures_util::stream::iter(0..count)
        .map(|n| {
            let (gateway, client, url, tokens) = (Arc::clone(&gateway), client.clone(), url.clone(), tokens.clone());
            async move {
                let cookie = cookie(&gateway, n, tokens.as_ref(), forged)?;
                let answer = client.get(&url).header("cookie", cookie).send().await.map_err(|e| e.to_string())?;
                Ok::<u16, String>(answer.status().as_u16())
            }
        })
        .buffer_unordered(connections);
    let mut done = 0u64;
    while let Some(status) = answers.next().await {
        *statuses.entry(status?).or_default() += 1;
        done += 1;
        if done.is_multiple_of(100_000) {
            eprintln!("fill_cache: {done} of {count} sent");
        }
    }
    let shown: Vec<String> = statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect();
    println!("{}", shown.join(", "));
    Ok(statuses.get(&expected) == Some(&count))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(config), Some(base), Some(Ok(count))) =
        (args.first(), args.get(1), args.get(2).map(|c| c.parse::<u64>()))
    else {
        eprintln!("usage: fill_cache CONFIG BASE_URL COUNT [CONNECTIONS]");
        return ExitCode::from(2);
    };
    let connections = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(32);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fill_cache: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fill(Path::new(config), base, count, connections)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fill_cache: {e}");
            ExitCode::FAILURE
        }
    }
}
