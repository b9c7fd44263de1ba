//! The command about stored sessions: `sessions revoke --user ID` ("sign
//! out everywhere"), run by an operator against the configured state store.

use super::{load_settings, write_out};
use crate::clock::{Clock, SystemClock};
use crate::config::store::StoreKind;
use crate::identity::User;
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// RFC 3339 in whole seconds, for what the command prints.
fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| seconds.to_string())
}

/// Revoke every session of `user` issued until now, on every replica, and
/// forget their session records.
pub(super) fn revoke_user(config: Option<&PathBuf>, user: &str) -> Result<(), String> {
    User::new(user).validate().map_err(|e| format!("--user: {e}"))?;
    let settings = load_settings(config)?;
    if settings.store.kind == StoreKind::None {
        return Err("store.kind is \"none\": no state store keeps revocations, so sessions cannot be revoked \
                    (they last until they expire); configure store.kind = \"local\" or \"redis\""
            .into());
    }
    let problems = settings.store.problems();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let absolute = i64::try_from(settings.session.absolute_lifetime.as_secs()).unwrap_or(i64::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let signed_out = runtime.block_on(async {
        let store = Store::open(&settings.store, Arc::new(SystemClock)).map_err(|e| format!("store: {e}"))?;
        store
            .sign_out_everywhere(user, SystemClock.now(), absolute)
            .await
            .map_err(|e| format!("the state store ({store:?}) could not revoke the sessions: {e}"))
    })?;
    let crate::store::Revocation::User { before, until, .. } = signed_out.revocation else {
        return Err("the store answered with another kind of revocation".into());
    };
    let reach = match settings.store.kind {
        StoreKind::Redis => "running gateways refuse them within a second".to_owned(),
        _ => format!(
            "gateways on this machine refuse them within store.poll_interval ({})",
            humantime_serde::re::humantime::format_duration(settings.store.poll_interval)
        ),
    };
    out!("removed {} session record(s) of user {user}", signed_out.records_removed)?;
    out!(
        "revocation mark set: every session of {user} issued before {} is refused (the mark is kept until {}); {reach}",
        rfc3339(before),
        rfc3339(until)
    )
}
