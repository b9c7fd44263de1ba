//! Live reload of the files sealgate reads at start (the key set; the users
//! file and the API-token deny list can plug in the same way), when they
//! change and on `SIGHUP`, without a restart and without dropping requests.
//!
//! A file to watch is a [`Reloadable`]: it parses the bytes and puts them in
//! force, or refuses them and changes nothing. The [`Reloader`] polls each
//! file every `interval` and hands it over when its contents changed (a
//! SHA-256 of the bytes, so a rewrite within the same second, or on a file
//! system with coarse or no modification times, is still seen; the files are
//! small). Polling rather than inotify: it works the same on every file
//! system, for files replaced by rename, on bind mounts and Kubernetes
//! ConfigMaps (a symlink swap), and needs no watcher thread. `SIGHUP` hands
//! every file over at once, changed or not.
//!
//! A refused file is logged once, as an error, and the last good contents
//! stay in force until the file changes again.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A file whose contents can be put in force while sealgate runs.
pub trait Reloadable: Send + Sync {
    /// What the file holds, for logs: "key set", "users file".
    fn what(&self) -> &'static str;
    fn path(&self) -> &Path;
    /// Parse `bytes` and put them in force. `Ok(Some(summary))` when
    /// something changed, `Ok(None)` when the contents mean what is in
    /// force already; on `Err` nothing has changed. Neither the summary nor
    /// the error may hold a secret: both are logged.
    fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String>;
}

struct Watched {
    source: Arc<dyn Reloadable>,
    /// The digest of the contents last handed over (or found unreadable).
    seen: Option<[u8; 32]>,
}

/// What one look at a file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Reloaded(String),
    Refused(String),
}

/// Watches files and reloads them.
pub struct Reloader {
    watched: Vec<Watched>,
    interval: Duration,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<_> = self.watched.iter().map(|w| w.source.path().display().to_string()).collect();
        f.debug_struct("Reloader").field("files", &paths).field("interval", &self.interval).finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Reloader {
    /// Check every `interval`; zero checks on `SIGHUP` only.
    pub fn new(interval: Duration) -> Reloader {
        Reloader { watched: Vec::new(), interval }
    }

    /// Watch `source`'s file. Its contents now are taken to be in force:
    /// the first check reloads only if they change.
    pub fn watch(&mut self, source: Arc<dyn Reloadable>) {
        let seen = std::fs::read(source.path()).ok().map(|bytes| digest(&bytes));
        self.watched.push(Watched { source, seen });
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Look at every file once; `force` hands each over even if unchanged.
    /// Logs what it did, and returns it.
    pub fn check(&mut self, force: bool) -> Vec<Outcome> {
        self.watched.iter_mut().map(|watched| check_one(watched, force)).collect()
    }

    /// Check every interval and on `SIGHUP`, until the task is dropped.
    /// Must be called in a Tokio runtime with I/O enabled (for the signal).
    pub fn spawn(mut self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        Ok(tokio::spawn(async move {
            let mut ticks = (!self.interval.is_zero()).then(|| {
                let mut ticks = tokio::time::interval(self.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks
            });
            loop {
                let tick = async {
                    match ticks.as_mut() {
                        Some(ticks) => {
                            ticks.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                #[cfg(unix)]
                let force = tokio::select! {
                    _ = tick => false,
                    Some(()) = hangup.recv() => {
                        tracing::info!("SIGHUP: reloading every watched file");
                        true
                    }
                };
                #[cfg(not(unix))]
                let force = {
                    tick.await;
                    false
                };
                self.check(force);
            }
        }))
    }
}

fn check_one(watched: &mut Watched, force: bool) -> Outcome {
    let source = &watched.source;
    let path = source.path().display().to_string();
    let bytes = match std::fs::read(source.path()) {
        Ok(bytes) => bytes,
        Err(e) => {
            // An unreadable file is a change worth one log line, not one per check.
            let seen = digest(e.to_string().as_bytes());
            let reason = format!("cannot read it: {e}");
            if force || watched.seen != Some(seen) {
                watched.seen = Some(seen);
                tracing::error!(file = source.what(), %path, %reason, "reload refused; the last good contents stay in force");
            }
            return Outcome::Refused(reason);
        }
    };
    let seen = digest(&bytes);
    if !force && watched.seen == Some(seen) {
        return Outcome::Unchanged;
    }
    watched.seen = Some(seen);
    match source.reload(&bytes) {
        Ok(Some(summary)) => {
            tracing::info!(file = source.what(), %path, %summary, "reloaded");
            Outcome::Reloaded(summary)
        }
        Ok(None) => {
            tracing::debug!(file = source.what(), %path, "contents unchanged");
            Outcome::Unchanged
        }
        Err(reason) => {
            tracing::error!(file = source.what(), %path, %reason, "reload refused; the last good contents stay in force");
            Outcome::Refused(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Puts in force any text that is a number.
    struct Number {
        path: PathBuf,
        in_force: Mutex<i64>,
    }

    impl Reloadable for Number {
        fn what(&self) -> &'static str {
            "number"
        }
        fn path(&self) -> &Path {
            &self.path
        }
        fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String> {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let number: i64 = text.trim().parse().map_err(|_| format!("`{}` is not a number", text.trim()))?;
            let mut in_force = self.in_force.lock().unwrap();
            let changed = *in_force != number;
            *in_force = number;
            Ok(changed.then(|| format!("now {number}")))
        }
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_refused_until_it_changes_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("number");
        std::fs::write(&path, "1").unwrap();
        let number = Arc::new(Number { path: path.clone(), in_force: Mutex::new(1) });
        let mut reloader = Reloader::new(Duration::from_secs(1));
        reloader.watch(number.clone());

        assert_eq!(reloader.check(false), [Outcome::Unchanged], "what was loaded at start is in force");
        std::fs::write(&path, "2").unwrap();
        assert_eq!(reloader.check(false), [Outcome::Reloaded("now 2".into())]);
        assert_eq!(reloader.check(false), [Outcome::Unchanged]);

        std::fs::write(&path, "two").unwrap();
        assert_eq!(reloader.check(false), [Outcome::Refused("`two` is not a number".into())]);
        assert_eq!(*number.in_force.lock().unwrap(), 2, "the last good contents stay in force");
        assert_eq!(reloader.check(false), [Outcome::Unchanged], "refused once, not on every check");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(&reloader.check(false)[..], [Outcome::Refused(reason)] if reason.contains("cannot read")));
        assert_eq!(*number.in_force.lock().unwrap(), 2);

        std::fs::write(&path, "3").unwrap();
        assert_eq!(reloader.check(false), [Outcome::Reloaded("now 3".into())]);
        // Forced (SIGHUP): handed over though unchanged; the source says nothing changed.
        assert_eq!(reloader.check(true), [Outcome::Unchanged]);
        *number.in_force.lock().unwrap() = 0;
        assert_eq!(reloader.check(true), [Outcome::Reloaded("now 3".into())]);
    }
}
