//! school-portal: a Russian school runs its communication platform («Сферум» / МАХ) the way
//! its regulation says. `app(state)` builds the whole web application; `main.rs` is only
//! the command line.

pub mod account;
pub mod admin_rights;
pub mod audit;
pub mod auth;
pub mod broadcasts;
pub mod channels;
pub mod chats;
pub mod child_consent;
pub mod classes;
pub mod config;
pub mod connector;
pub mod db;
pub mod demo;
pub mod error;
pub mod help;
pub mod home;
pub mod ids;
pub mod imports;
pub mod invites;
pub mod janitor;
pub mod mail;
pub mod movements;
pub mod my_data;
pub mod offers;
pub mod people;
pub mod registration;
pub mod regulation;
pub mod schools;
pub mod stats;
pub mod subjects;
pub mod support;
pub mod web;

/// The audit log's page under its old path (it lives in [`audit::page`]).
pub use audit::page as audit_page;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::password::Hasher;
use crate::auth::permissions::Access;
use crate::config::WebConfig;
use crate::web::{RouteRow, Routes};

/// What every handler can reach. Nothing here holds state that matters beyond the
/// process: sessions, counters and records live in PostgreSQL (ARCHITECTURE rule 8).
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<WebConfig>,
    pub hasher: Hasher,
    /// False once shutdown has begun: /readyz answers 503.
    pub ready: Arc<AtomicBool>,
    /// The address people use to reach the portal, for links it prints.
    pub public_url: Arc<str>,
    /// Whether a request or /readyz found PostgreSQL unreachable: requests then fail fast
    /// (`db::faults::guard`) until a connection works again.
    pub db_health: Arc<db::faults::Health>,
}

impl AppState {
    pub fn new(db: PgPool, config: WebConfig, public_url: &str) -> Self {
        support::set_support_email(&config.help.support_email);
        Self {
            hasher: Hasher::new(config.hash_concurrency),
            db,
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(true)),
            public_url: public_url.trim_end_matches('/').into(),
            db_health: Arc::default(),
        }
    }
}

fn routes(state: &AppState) -> Routes {
    let r = Routes::new(state.clone())
        .get("/healthz", Access::Public, healthz)
        .get("/readyz", Access::Public, readyz)
        .get("/static/{*path}", Access::Public, web::assets::serve);
    let r = auth::routes(r);
    let r = home::routes(r);
    let r = account::routes(r);
    let r = imports::routes(r);
    let r = invites::routes(r);
    let r = movements::routes(r);
    let r = people::routes(r);
    let r = offers::routes(r);
    let r = chats::routes(r);
    let r = classes::routes(r);
    let r = admin_rights::routes(r);
    let r = audit::page::routes(r);
    let r = regulation::routes(r);
    let r = subjects::routes(r);
    let r = schools::routes(r);
    let r = stats::routes(r);
    let r = channels::routes(r);
    let r = broadcasts::routes(r);
    let r = help::routes(r);
    let r = registration::routes(r);
    let r = my_data::routes(r);
    let r = child_consent::routes(r);
    let r = connector::routes(r);
    support::routes(r)
}

/// Every route with its access rule (for docs/permissions.md and the tests).
pub fn route_table(state: &AppState) -> Vec<RouteRow> {
    routes(state).finish().1
}

/// The whole web application: routes and the middleware stack.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes(&state).finish();
    let config = state.config.clone();
    let router = router
        .fallback(|| async { error::AppError::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::extract::load_session,
        ))
        .layer(axum::middleware::from_fn(web::here::scope))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            db::faults::guard,
        ))
        .with_state(state);
    with_middleware(router, &config)
}

/// Wraps a router in the portal's middleware stack (public so tests can put a deliberately
/// failing route behind the very same stack).
pub fn with_middleware(router: Router, config: &WebConfig) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        // The route's pattern, never the raw path: paths can carry one-time tokens.
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| "-".to_owned());
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), route, request_id)
    });

    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                config.trust_proxy,
                web::request_id::drop_untrusted,
            ))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(trace)
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(axum::middleware::from_fn(web::middleware::security_headers))
            .layer(CompressionLayer::new())
            .layer(axum::middleware::from_fn(web::middleware::error_pages))
            .layer(axum::middleware::from_fn(web::htmx::redirects))
            .layer(CatchPanicLayer::custom(web::middleware::panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                Duration::from_secs(config.request_timeout_secs),
            ))
            .layer(axum::middleware::from_fn_with_state(
                config.body_limit_kb * 1024,
                web::input::control_characters,
            ))
            .layer(axum::middleware::from_fn_with_state(
                web::limit::BodyLimits {
                    general: config.body_limit_kb * 1024,
                    attachment: channels::attachments::UPLOAD_BODY_LIMIT,
                },
                web::limit::body_limit,
            ))
            .layer(CsrfLayer::new()),
    )
}

/// Liveness: answers without touching the database (SECURITY.md 32).
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 503 while shutting down or while PostgreSQL does not answer; what it finds
/// also tells the fail-fast guard whether the database is down.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.db),
    )
    .await;
    match ping {
        Ok(Ok(_)) => {
            state.db_health.mark_up();
            (StatusCode::OK, "ready")
        }
        _ => {
            state.db_health.mark_down();
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves until SIGTERM or Ctrl-C: then readiness turns 503, the grace period passes,
/// the listener closes and requests in flight finish (SECURITY.md 30).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> anyhow::Result<()> {
    let ready = state.ready.clone();
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let mailer = mail::spawn_sender(state.db.clone(), state.config.smtp.clone());
    let janitor = janitor::spawn(state.db.clone(), (*state.config).clone());
    let snapshots = stats::snapshots::spawn(state.db.clone(), Duration::from_secs(3600));
    let key = connector::ConnectorKey::from_config(&state.config.connector);
    let poller = channels::publish::spawn(
        state.db.clone(),
        state.public_url.to_string(),
        connector::publishing::BotPublisher::new(key.clone()),
    );
    let connector = connector::worker::spawn(
        state.db.clone(),
        key,
        state.public_url.to_string(),
        Duration::from_secs(state.config.connector.connector_interval_secs.max(1)),
    );
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: no longer ready");
            ready.store(false, Ordering::SeqCst);
            tokio::time::sleep(grace).await;
        })
        .await?;
    mailer.abort();
    janitor.abort();
    snapshots.abort();
    poller.abort();
    connector.abort();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
