//! HTTP routes of the auth service.

mod account;
pub(crate) use account::announce_registration as announce;
mod admin;

use crate::configuration::LoginThrottleSettings;
use crate::metrics::AuthMetrics;
use crate::outbox::OutboxSignal;
use crate::password::PasswordHasherService;
use crate::tokens::TokenIssuer;
use actix_web::{web, HttpRequest, HttpResponse};
use sqlx::PgPool;

/// What every handler shares.
pub struct AuthState {
    pub pool: PgPool,
    pub hasher: PasswordHasherService,
    pub tokens: TokenIssuer,
    pub outbox: OutboxSignal,
    pub throttle: LoginThrottleSettings,
    pub trust_forwarded_for: bool,
    pub metrics: AuthMetrics,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks))
        .service(
            web::scope("/api/v1/auth")
                .route("/register", web::post().to(account::register))
                .route("/login", web::post().to(account::login))
                .route("/refresh", web::post().to(account::refresh))
                .route("/logout", web::post().to(account::logout))
                .route("/me", web::get().to(account::me)),
        )
        .service(
            web::scope("/api/v1/admin/users")
                .route("", web::get().to(admin::list_users))
                .route("/{id}", web::get().to(admin::get_user))
                .route("/{id}/role", web::patch().to(admin::set_role)),
        );
}

/// The public keys tokens are verified with: the current key, then retired
/// ones. Cacheable for a few minutes; verifiers refetch on an unknown `kid`.
#[tracing::instrument(skip_all)]
async fn jwks(state: web::Data<AuthState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(state.tokens.keys.jwks())
}

/// The caller's address: the last `X-Forwarded-For` hop (the gateway writes
/// it) when trusted, else the TCP peer.
pub(crate) fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        if let Some(address) = forwarded {
            return address.to_string();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
