//! The auth service through real HTTP, with a real PostgreSQL database and broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth::configuration::PasswordHashCost;
use auth::startup::MIGRATOR;
use auth::{Application, Settings};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::{fresh_database, init_tracing, isolated_kafka, wait_for};
use tokio_util::sync::CancellationToken;

struct TestApp {
    base: String,
    client: reqwest::Client,
    settings: Settings,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn settings() -> Settings {
    init_tracing();
    let database = fresh_database(auth::SERVICE, &MIGRATOR).await;
    let kafka = isolated_kafka().await;
    Settings::for_tests(database, kafka, Default::default())
}

async fn spawn(settings: Settings) -> TestApp {
    let stop = CancellationToken::new();
    let app = Application::build(settings.clone(), stop.clone())
        .await
        .expect("auth starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: reqwest::Client::new(),
        settings,
        stop,
    }
}

impl TestApp {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn register(&self, email: &str, role: Option<&str>) -> Value {
        let mut body =
            json!({"email": email, "password": "a long password", "name": "Ada Lovelace"});
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        let response = self.post("/api/v1/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    async fn tokens(&self, email: &str) -> Value {
        let response = self.login(email, "a long password").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn me(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1/auth/me", self.base))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

fn slug(problem: &Value) -> &str {
    problem["type"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
}

#[tokio::test]
async fn register_login_and_me() {
    let app = spawn(settings().await).await;
    let user = app.register("  Ada@Example.com ", Some("organizer")).await;
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "organizer");
    assert!(user.get("password_hash").is_none());

    // Case-insensitive email at login.
    let tokens = app.tokens("ada@EXAMPLE.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();

    let me = app.me(access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["role"], "organizer");

    // The token carries every claim the contract names, and verifies against
    // the JWKS the service publishes (what the gateway and services do).
    let verifier = service_http::JwtVerifier::remote(&settings::TokenVerifySettings {
        jwks_url: format!("{}/.well-known/jwks.json", app.base),
        ..Default::default()
    });
    let claims = verifier.verify(access).await.unwrap();
    assert_eq!(claims.sub.to_string(), user["id"].as_str().unwrap());
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.iss, "evently-auth");
    assert_eq!(claims.aud, "evently");

    assert_eq!(
        app.me("not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let no_token = app
        .client
        .get(format!("{}/api/v1/auth/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_taken_email_is_409_whatever_its_case() {
    let app = spawn(settings().await).await;
    app.register("grace@example.com", None).await;
    let again = app
        .post(
            "/api/v1/auth/register",
            json!({"email": " GRACE@example.COM", "password": "another password", "name": "G"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let problem: Value = again.json().await.unwrap();
    assert_eq!(slug(&problem), "email-taken");
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_write_nothing() {
    let app = spawn(settings().await).await;
    let cases = [
        (
            json!({"email": "x", "password": "a long password", "name": "X"}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "password": "short", "name": "X"}),
            "password",
        ),
        (
            json!({"email": "x@example.com", "password": "a long password", "name": ""}),
            "name",
        ),
        (
            json!({"email": "x@example.com", "password": "a long password", "name": "X", "role": "admin"}),
            "role",
        ),
        (
            json!({"email": "x@example.com", "password": "a long password", "name": "X", "role": "wizard"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/api/v1/auth/register", body.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let missing = app
        .post("/api/v1/auth/register", json!({"email": "x@example.com"}))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.text().await.unwrap().contains("password"));
    let malformed = app
        .client
        .post(format!("{}/api/v1/auth/register", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    // Nothing was written: the address is still free.
    app.register("x@example.com", None).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_same_401() {
    let app = spawn(settings().await).await;
    app.register("alan@example.com", None).await;
    let wrong = app.login("alan@example.com", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong: Value = wrong.json().await.unwrap();
    let unknown = app.login("nobody@example.com", "not the password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(slug(&wrong), "invalid-credentials");
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test]
async fn access_tokens_expire() {
    let mut settings = settings().await;
    settings.access_token_ttl_secs = 1;
    let app = spawn(settings).await;
    app.register("brief@example.com", None).await;
    let tokens = app.tokens("brief@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.me(&access).await.status(), StatusCode::OK);
    // Verifiers allow 5 s of clock skew, so expiry shows a few seconds later.
    let problem: Value = wait_for(
        "the access token to expire",
        Duration::from_secs(15),
        || async {
            let response = app.me(&access).await;
            (response.status() == StatusCode::UNAUTHORIZED).then_some(())?;
            response.json().await.ok()
        },
    )
    .await;
    assert_eq!(slug(&problem), "token-expired");
    // The refresh token still gets a new, valid access token.
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(
        app.me(refreshed["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn(settings().await).await;
    app.register("rot@example.com", None).await;
    let first = app.tokens("rot@example.com").await;
    let refresh = |token: Value| {
        let app = &app;
        async move {
            app.post("/api/v1/auth/refresh", json!({"refresh_token": token}))
                .await
        }
    };
    let second = refresh(first["refresh_token"].clone()).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        app.me(second["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    // The first token is used: presenting it again is a replay.
    let replay = refresh(first["refresh_token"].clone()).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = replay.json().await.unwrap();
    assert_eq!(slug(&problem), "invalid-refresh-token");
    // ...and the whole family died with it, including the newest token.
    let after = refresh(second["refresh_token"].clone()).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let metrics = test_support::metrics_text(&app.client, &format!("{}/metrics", app.base)).await;
    assert!(
        metrics.contains("evently_auth_refresh_token_reuse_total{service=\"auth\"} 1"),
        "{metrics}"
    );

    // Another login is another family, unaffected.
    let other = app.tokens("rot@example.com").await;
    assert_eq!(
        refresh(other["refresh_token"].clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(json!("made-up")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn(settings().await).await;
    app.register("bye@example.com", None).await;
    let one = app.tokens("bye@example.com").await;
    let two = app.tokens("bye@example.com").await;
    let out = app
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": one["refresh_token"]}),
        )
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let dead = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": one["refresh_token"]}),
        )
        .await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);

    // Without a body, the access token ends every session of the caller.
    let everywhere = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.base))
        .bearer_auth(two["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    let dead = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": two["refresh_token"]}),
        )
        .await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);
    let anonymous = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_an_admin_grants_roles() {
    let mut settings = settings().await;
    settings.bootstrap_admin_email = Some("root@example.com".into());
    settings.bootstrap_admin_password = Some("the admin password".to_string().into());
    let app = spawn(settings).await;
    let customer = app.register("cust@example.com", None).await;
    let customer_tokens = app.tokens("cust@example.com").await;
    let admin_login = app.login("root@example.com", "the admin password").await;
    assert_eq!(admin_login.status(), StatusCode::OK);
    let admin_tokens: Value = admin_login.json().await.unwrap();
    let admin_me: Value = app
        .me(admin_tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admin_me["role"], "admin");

    let url = format!(
        "{}/api/v1/admin/users/{}/role",
        app.base,
        customer["id"].as_str().unwrap()
    );
    let patch = |token: Option<String>, body: Value| {
        let mut request = app.client.patch(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let customer_access = customer_tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_access = admin_tokens["access_token"].as_str().unwrap().to_string();

    let denied = patch(Some(customer_access.clone()), json!({"role": "admin"}))
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let anonymous = patch(None, json!({"role": "organizer"})).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unknown_role = patch(Some(admin_access.clone()), json!({"role": "wizard"}))
        .await
        .unwrap();
    assert_eq!(unknown_role.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let granted = patch(Some(admin_access.clone()), json!({"role": "organizer"}))
        .await
        .unwrap();
    assert_eq!(granted.status(), StatusCode::OK);
    let granted: Value = granted.json().await.unwrap();
    assert_eq!(granted["role"], "organizer");
    // The new role arrives with the next refresh.
    let refreshed: Value = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": customer_tokens["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .me(refreshed["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "organizer");

    let missing = app
        .client
        .patch(format!(
            "{}/api/v1/admin/users/{}/role",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(&admin_access)
        .json(&json!({"role": "organizer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let self_demotion = app
        .client
        .patch(format!(
            "{}/api/v1/admin/users/{}/role",
            app.base,
            admin_me["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin_access)
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(self_demotion.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn repeated_failures_are_throttled_without_revealing_the_account() {
    let mut settings = settings().await;
    settings.login_throttle.account_max_failures = 3;
    settings.login_throttle.lockout_secs = 60;
    let app = spawn(settings).await;
    app.register("locked@example.com", None).await;

    for email in ["locked@example.com", "ghost@example.com"] {
        for _ in 0..3 {
            assert_eq!(
                app.login(email, "guessing wrong").await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let throttled = app.login(email, "guessing wrong").await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        let retry_after: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let problem: Value = throttled.json().await.unwrap();
        assert_eq!(slug(&problem), "too-many-login-attempts");
    }
    // Even the right password waits out the lockout.
    assert_eq!(
        app.login("locked@example.com", "a long password")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other accounts from other addresses are not affected.
    app.register("free@example.com", None).await;
    let other = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "free@example.com", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn too_many_failures_from_one_address_are_throttled() {
    let mut settings = settings().await;
    settings.login_throttle.address_max_failures = 4;
    let app = spawn(settings).await;
    let from = |email: String| {
        app.client
            .post(format!("{}/api/v1/auth/login", app.base))
            .header("x-forwarded-for", "198.51.100.7")
            .json(&json!({"email": email, "password": "guessing wrong"}))
            .send()
    };
    for i in 0..4 {
        assert_eq!(
            from(format!("user{i}@example.com")).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = from("fresh@example.com".into()).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn user_registered_is_published_through_the_outbox() {
    use kafka_bus::rdkafka::consumer::Consumer;
    use kafka_bus::rdkafka::Message;
    let settings = settings().await;
    let kafka = settings.kafka.clone();
    let app = spawn(settings).await;
    let user = app.register("pub@example.com", Some("organizer")).await;

    let consumer = kafka_bus::consumer(
        &kafka,
        "auth-test",
        kafka_bus::rdkafka::consumer::DefaultConsumerContext,
        &[],
    )
    .unwrap();
    kafka_bus::subscribe(&consumer, &kafka, &[common_types::topics::USER_EVENTS]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("UserRegistered within 30 s")
        .unwrap();
    assert_eq!(message.key(), Some(user["id"].as_str().unwrap().as_bytes()));
    let envelope = kafka_bus::decode::<common_types::messages::user::UserEvent>(&message).unwrap();
    assert_eq!(envelope.message_type, "UserRegistered");
    let common_types::messages::user::UserEvent::UserRegistered {
        user_id,
        email,
        role,
        ..
    } = envelope.payload;
    assert_eq!(user_id.to_string(), user["id"].as_str().unwrap());
    assert_eq!(email, "pub@example.com");
    assert_eq!(role, common_types::Role::Organizer);
    consumer.unsubscribe();
}

#[tokio::test]
async fn outbox_rows_left_by_a_crash_are_sent_on_the_next_start() {
    let settings = settings().await;
    // Simulate a process that committed the user and died before producing:
    // the row sits in the outbox; a fresh instance must send it.
    let pool = sqlx::PgPool::connect(settings.database.expose_url())
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbox (id, topic, message_key, message_type, payload) VALUES ($1, 'user.events', 'k', 'UserRegistered', '{}'::jsonb)",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let _app = spawn(settings).await;
    wait_for("the outbox to drain", Duration::from_secs(20), || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_signing_key_survives_a_restart_and_retired_keys_still_verify() {
    let settings = settings().await;
    let first = spawn(settings.clone()).await;
    first.register("keep@example.com", None).await;
    let old_token = first.tokens("keep@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    first.stop.cancel();

    // Same key file: tokens from before the restart are still good.
    let second = spawn(first.settings.clone()).await;
    assert_eq!(second.me(&old_token).await.status(), StatusCode::OK);
    second.stop.cancel();

    // Rotation: a new key signs, the old one is listed as retired and still verifies.
    let mut rotated = first.settings.clone();
    let retired = std::path::PathBuf::from(&first.settings.signing_key_file);
    rotated.signing_key_file = std::env::temp_dir()
        .join(format!(
            "evently-auth-test-{}.pem",
            uuid::Uuid::new_v4().simple()
        ))
        .to_string_lossy()
        .into_owned();
    rotated.previous_key_files = retired.to_string_lossy().into_owned();
    let third = spawn(rotated).await;
    let jwks: Value = third
        .client
        .get(format!("{}/.well-known/jwks.json", third.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(third.me(&old_token).await.status(), StatusCode::OK);
    let new_token = third.tokens("keep@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(third.me(&new_token).await.status(), StatusCode::OK);
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    let old_header = jsonwebtoken::decode_header(&old_token).unwrap();
    assert_ne!(header.kid, old_header.kid);
    assert_eq!(jwks["keys"][0]["kid"].as_str(), header.kid.as_deref());
}

#[tokio::test]
async fn dev_fast_hashing_is_refused_in_production() {
    let mut settings = settings().await;
    settings.environment = "production".into();
    settings.password_hash_cost = PasswordHashCost::DevFast;
    let error = Application::build(settings, CancellationToken::new())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("password_hash_cost"), "{error}");
}
