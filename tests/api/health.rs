use crate::helpers::spawn_app;
use std::time::{Duration, Instant};

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    // Ready once the revocation view has loaded from the (local) store: at
    // once or nearly; until then the only reason for 503 is the loading store.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = app.get("/readyz").await;
        let status = ready.status();
        let body = ready.json::<serde_json::Value>().await.unwrap();
        if status == 200 {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert_eq!(status, 503);
        assert_eq!(body["store"], "loading", "{body}");
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_unknown_methods_405_not_500() {
    let app = spawn_app().await;
    assert_eq!(app.get("/nope").await.status(), 404);
    let delete = app.client.delete(app.url("/auth/verify")).send().await.unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.json::<serde_json::Value>().await.unwrap()["error"], "method_not_allowed");
}
