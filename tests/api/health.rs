use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn unknown_paths_are_404_not_500() {
    let app = spawn_app().await;
    assert_eq!(app.get("/nope").await.status(), 404);
    assert_eq!(app.client.delete(app.url("/auth/verify")).send().await.unwrap().status(), 404);
}
