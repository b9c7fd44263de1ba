//! Sign-out: GET only asks, POST (same-origin) clears every chunk; each
//! story once per key algorithm.

use crate::helpers::{location, set_cookies, Spawn, CROWD, CROWD_PASSWORD, PUBLIC_URL};
use crate::support::per_key_alg;
use sealgate::crypto::keys::KeyAlg;

per_key_alg!(
    get_asks_for_confirmation_and_signs_nobody_out,
    post_clears_every_chunk_and_redirects_safely,
    cross_site_sign_out_is_refused,
    only_the_public_origin_and_listed_origins_may_post,
);

async fn get_asks_for_confirmation_and_signs_nobody_out(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    app.sign_in_as_alice().await;
    let page = app.get("/auth/signout?redirect_to=/bye").await;
    assert_eq!(page.status(), 200);
    assert!(set_cookies(page.headers()).is_empty());
    let html = page.text().await.unwrap();
    assert!(html.contains("method=\"post\"") && html.contains("value=\"/bye\""));
    assert_eq!(app.verify().await.status(), 200);
}

async fn post_clears_every_chunk_and_redirects_safely(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let signed_in = app.sign_in(CROWD, CROWD_PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    assert!(set_cookies(signed_in.headers()).iter().any(|c| c.name == "sealgate_2"), "the crowd needs chunks");
    assert_eq!(app.verify().await.status(), 200);

    let response = app.post_form("/auth/signout", &[("redirect_to", "/goodbye")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/goodbye");
    let removed: Vec<String> =
        set_cookies(response.headers()).into_iter().filter(|c| c.is_removal()).map(|c| c.name).collect();
    for name in ["sealgate", "sealgate_1", "sealgate_2", "sealgate_3", "sealgate_4", "sealgate_5"] {
        assert!(removed.contains(&name.to_owned()), "{name} not cleared: {removed:?}");
    }
    assert_eq!(app.verify().await.status(), 401);

    let evil = app.post_form("/auth/signout", &[("redirect_to", "https://evil.example/")]).await;
    assert_eq!(location(&evil), "/");
}

async fn cross_site_sign_out_is_refused(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    app.sign_in_as_alice().await;
    for (origin, site) in [(Some("https://evil.example"), None), (None, Some("cross-site"))] {
        let mut request = app.client.post(app.url("/auth/signout"));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        if let Some(site) = site {
            request = request.header("Sec-Fetch-Site", site);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(set_cookies(response.headers()).is_empty());
    }
    assert_eq!(app.verify().await.status(), 200);
    let ours = app.client.post(app.url("/auth/signout")).header("Origin", PUBLIC_URL).send().await.unwrap();
    assert_eq!(ours.status(), 303);
    assert_eq!(app.verify().await.status(), 401);
}

async fn only_the_public_origin_and_listed_origins_may_post(alg: KeyAlg) {
    let app = Spawn::new()
        .alg(alg)
        .configure(|s| {
            s.redirects.allowed_hosts = vec!["app.test".into()];
            s.server.allowed_origins = vec!["http://admin.test:8080".into()];
        })
        .run()
        .await;
    app.sign_in_as_alice().await;
    // Each kind of look-alike: the public host on another port or scheme, a
    // host redirects may name, a listed origin on another port.
    for origin in ["http://gate.test:8080", "https://gate.test", "http://app.test", "http://admin.test"] {
        let response = app.client.post(app.url("/auth/signout")).header("Origin", origin).send().await.unwrap();
        assert_eq!(response.status(), 403, "{origin} may sign people out");
        assert!(set_cookies(response.headers()).is_empty(), "{origin}");
    }
    assert_eq!(app.verify().await.status(), 200);

    for origin in [PUBLIC_URL, "http://admin.test:8080"] {
        let response = app.client.post(app.url("/auth/signout")).header("Origin", origin).send().await.unwrap();
        assert_eq!(response.status(), 303, "{origin} may not sign out");
        assert_eq!(app.verify().await.status(), 401);
        app.sign_in_as_alice().await;
    }
}
