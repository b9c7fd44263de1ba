use super::*;
use crate::clock::ManualClock;
use crate::config::store::StoreKind;
use crate::store::FeedEvent;
use crate::store::UserMark;

fn settings(path: &Path) -> StoreSettings {
    StoreSettings { kind: StoreKind::Local, path: path.to_owned(), ..StoreSettings::default() }
}

fn open(path: &Path, clock: &ManualClock) -> super::super::Store {
    super::super::Store::open(&settings(path), Arc::new(clock.clone())).unwrap()
}

#[tokio::test]
async fn nothing_is_written_until_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("sealgate.db");
    let store = open(&path, &ManualClock::at(1_000));
    assert!(store.load_revocations().await.unwrap().is_empty());
    assert!(store.list_sessions("ada").await.unwrap().is_empty());
    assert_eq!(store.get_outcome("k").await.unwrap(), None);
    assert!(!path.exists(), "a read created the file");

    store.revoke_session("s1", 2_000).await.unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "file mode {mode:o}");
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "directory mode {dir_mode:o}");
    }
}

#[tokio::test]
async fn revocations_survive_a_reopen_and_expire_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealgate.db");
    let clock = ManualClock::at(1_000);
    {
        let store = open(&path, &clock);
        store.revoke_session("s1", 2_000).await.unwrap();
        store.revoke_session("s2", 1_500).await.unwrap();
        store.revoke_user_before("ada", 900, 5_000).await.unwrap();
        store.revoke_session("long-gone", 999).await.unwrap();
    }
    let reopened = open(&path, &clock);
    let snapshot = reopened.load_revocations().await.unwrap();
    assert_eq!(snapshot.sessions, [("s1".to_owned(), 2_000), ("s2".to_owned(), 1_500)].into());
    assert_eq!(snapshot.users["ada"], UserMark { before: 900, until: 5_000 });

    clock.set(1_600);
    let snapshot = reopened.load_revocations().await.unwrap();
    assert!(!snapshot.sessions.contains_key("s2"), "s2 expired at 1500");
    assert!(snapshot.sessions.contains_key("s1"));
}

#[tokio::test]
async fn counters_locks_outcomes_and_one_use_marks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"), &ManualClock::at(1_000));
    let window = Duration::from_millis(300);
    assert_eq!(store.hit("user:ada", window).await.unwrap(), 1);
    assert_eq!(store.hit("user:ada", window).await.unwrap(), 2);
    assert_eq!(store.hit("user:bob", window).await.unwrap(), 1);
    store.reset("user:ada").await.unwrap();
    assert_eq!(store.hit("user:ada", window).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(store.hit("user:bob", window).await.unwrap(), 1, "a new window starts over");

    let lock = store.try_lock("refresh:s1", Duration::from_secs(5)).await.unwrap().unwrap();
    assert!(store.try_lock("refresh:s1", Duration::from_secs(5)).await.unwrap().is_none());
    assert!(lock.release().await.unwrap());
    assert!(store.try_lock("refresh:s1", Duration::from_secs(5)).await.unwrap().is_some());

    store.put_outcome("o", b"sealed bytes", Duration::from_secs(5)).await.unwrap();
    assert_eq!(store.get_outcome("o").await.unwrap().as_deref(), Some(&b"sealed bytes"[..]));

    assert!(store.seen_once("jti:1", Duration::from_secs(5)).await.unwrap());
    assert!(!store.seen_once("jti:1", Duration::from_secs(5)).await.unwrap());
}

#[tokio::test]
async fn session_records_by_user_and_by_sid() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(1_000);
    let store = open(&dir.path().join("s.db"), &clock);
    let record = |id: &str, created: i64, expires: i64| SessionRecord {
        id: id.into(),
        user: "ada".into(),
        provider: "idp".into(),
        created,
        expires,
        user_agent: Some("Firefox".into()),
        client_address: Some("192.0.2.1".into()),
        sid: Some("sid-1".into()),
    };
    store.record_session(&record("b", 20, 3_000)).await.unwrap();
    store.record_session(&record("a", 10, 2_000)).await.unwrap();
    let ids = |records: Vec<SessionRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_sessions("ada").await.unwrap()), ["a", "b"]);
    assert_eq!(ids(store.sessions_by_sid("idp", "sid-1").await.unwrap()), ["a", "b"]);
    assert!(store.sessions_by_sid("other", "sid-1").await.unwrap().is_empty());
    assert!(store.remove_session("ada", "a").await.unwrap());
    assert!(!store.remove_session("ada", "a").await.unwrap());
    clock.set(3_000);
    assert!(store.list_sessions("ada").await.unwrap().is_empty(), "b expired at 3000");
}

#[tokio::test]
async fn two_processes_on_one_file_see_each_others_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let clock = ManualClock::at(1_000);
    let mut settings = settings(&path);
    settings.poll_interval = Duration::from_millis(20);
    let first = super::super::Store::open(&settings, Arc::new(clock.clone())).unwrap();
    let second = super::super::Store::open(&settings, Arc::new(clock.clone())).unwrap();
    let mut feed = second.subscribe();
    assert_eq!(feed.recv().await, Some(FeedEvent::Snapshot(RevocationSnapshot::default())));
    first.revoke_session("s1", 2_000).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(2), feed.recv()).await.unwrap();
    assert_eq!(event, Some(FeedEvent::Revoked(Revocation::Session { id: "s1".into(), until: 2_000 })));
}
