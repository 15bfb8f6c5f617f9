//! The test harness. Tests talk to real PostgreSQL and a real Kafka-protocol
//! broker; when either is missing they fail loudly with how to start it
//! (`make infra`), never pass by skipping.
//!
//! Isolation: each test gets its own database (cloned from a per-service
//! template that is migrated once, so a clone takes milliseconds) and its own
//! topic prefix and consumer-group prefix.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod mailpit;

pub use mailpit::Mailbox;
use settings::{DatabaseSettings, KafkaSettings};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::time::{Duration, Instant};

/// The PostgreSQL server tests use: `DATABASE_URL` (any database on it), or
/// the local default.
pub fn postgres_server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_with_database(server: &str, database: &str) -> String {
    let mut url = url::Url::parse(server).expect("DATABASE_URL is not a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

async fn admin_connection() -> PgConnection {
    let url = url_with_database(&postgres_server_url(), "postgres");
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url}: {e}\n\
             Start it with `make infra` (or set DATABASE_URL to a server you have)."
        )
    })
}

/// A fresh database for one test, with `migrator`'s schema already applied.
///
/// `service` names the template (`tpl_<service>_<migrations hash>`), created
/// and migrated once per schema version under an advisory lock so parallel
/// test processes do not race.
pub async fn fresh_database(service: &str, migrator: &Migrator) -> DatabaseSettings {
    let fingerprint = migrator.iter().fold(0xcbf29ce484222325u64, |hash, m| {
        m.checksum.iter().fold(hash ^ m.version as u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
        })
    });
    let template = format!("tpl_{service}_{:x}", fingerprint & 0xffff_ffff_ffff);
    let lock_key = (fingerprint & 0x7fff_ffff_ffff_ffff) as i64;
    let mut admin = admin_connection().await;

    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{template}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut conn = PgConnection::connect(&url_with_database(&postgres_server_url(), &template))
            .await
            .unwrap();
        migrator
            .run(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("migrating {template}: {e}"));
        conn.close().await.unwrap();
    }
    let name = format!("test_{service}_{}", uuid::Uuid::new_v4().simple());
    // Cloning needs the template to have no other sessions; the lock keeps
    // concurrent clones of the same template from colliding.
    sqlx::query(&format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    DatabaseSettings::with_url(url_with_database(&postgres_server_url(), &name))
}

/// The broker tests use: `KAFKA_BROKERS` or the local default.
pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "127.0.0.1:9092".into())
}

/// Kafka settings with a unique topic and group prefix, after checking the
/// broker answers. Topic partitions are few, to keep creation fast.
pub async fn isolated_kafka() -> KafkaSettings {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let settings = KafkaSettings {
        brokers: kafka_brokers(),
        topic_prefix: format!("t{}.", &unique[..12]),
        group_prefix: format!("t{}.", &unique[..12]),
        partitions: 3,
        linger_ms: 1,
        ..KafkaSettings::default()
    };
    // The local broker can stall for a few seconds under a loaded machine;
    // only a broker that stays silent for 30 s is reported as missing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answer = kafka_bus::ping(&settings, Duration::from_secs(10)).await;
    while answer.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        answer = kafka_bus::ping(&settings, Duration::from_secs(10)).await;
    }
    if let Err(e) = answer {
        panic!(
            "the Kafka broker is not reachable at {}: {e}\n\
             Start it with `make infra` (or set KAFKA_BROKERS to a broker you have).",
            settings.brokers
        );
    }
    settings
}

/// Start logging for tests (quiet unless `TEST_LOG=1`).
pub fn init_tracing() {
    telemetry::init_for_tests();
}

/// Poll `check` until it yields `Some`, or panic after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Mints access tokens for services under test and serves their JWKS over
/// real HTTP, so a service verifies them exactly as it would auth's.
pub struct TestTokens {
    key: service_http::signing::SigningKey,
    jwks_url: String,
}

impl TestTokens {
    pub async fn start() -> Self {
        use actix_web::{web, App, HttpServer};
        let key = service_http::signing::SigningKey::generate(format!(
            "test-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .expect("generate a signing key");
        let jwks = web::Data::new(service_http::signing::jwks([&key]));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind JWKS server");
        let port = listener.local_addr().expect("local addr").port();
        let server = HttpServer::new(move || {
            App::new().app_data(jwks.clone()).route(
                "/.well-known/jwks.json",
                web::get().to(|jwks: web::Data<jsonwebtoken::jwk::JwkSet>| async move {
                    web::Json(jwks.get_ref().clone())
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self {
            key,
            jwks_url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        }
    }

    /// Verification settings pointing at this issuer's JWKS.
    pub fn verify_settings(&self) -> settings::TokenVerifySettings {
        settings::TokenVerifySettings {
            jwks_url: self.jwks_url.clone(),
            ..Default::default()
        }
    }

    /// A valid 15-minute token for `user` with `role`.
    pub fn token(&self, user: common_types::UserId, role: common_types::Role) -> String {
        self.token_with_ttl(user, role, 900)
    }

    pub fn token_with_ttl(
        &self,
        user: common_types::UserId,
        role: common_types::Role,
        ttl_secs: i64,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = service_http::AccessClaims {
            sub: user,
            role,
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4(),
            iss: settings::default_issuer(),
            aud: settings::default_audience(),
        };
        self.key.sign(&claims).expect("sign a test token")
    }
}

/// The Prometheus text a service serves at `url` (its `/metrics`).
pub async fn metrics_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await;
    let response = response.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading {url}: {e}"))
}
