//! Database faults that mean «try again shortly», not «the portal is broken»: the server is
//! unreachable or restarting, the connection dropped, a statement ran into the statement or
//! lock timeout, the pool had no free connection (SECURITY.md 31, 32). The web layer
//! answers them 503 with `Retry-After` and logs them at WARN ([`crate::error`]); every
//! other database error stays a 500 logged at ERROR.
//!
//! Also the fail-fast guard: once a request (or `/readyz`) has seen the database down,
//! requests wait only `PORTAL_DB_DOWN_ACQUIRE_TIMEOUT_MS` for a connection instead of the
//! whole acquire timeout, until a connection is had again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// What kind of temporary fault a database error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The server cannot be reached or dropped the connection (restart, shutdown, network):
    /// following requests fail fast until a connection works again.
    Down(&'static str),
    /// The server is up but the statement could not finish in time (statement timeout,
    /// lock timeout, a deadlock broken by the server).
    Busy(&'static str),
    /// No pooled connection within the acquire timeout: every connection is busy, or the
    /// server cannot be reached (the pool retries refused connections until the timeout).
    /// The guard finds out which with one direct connection attempt.
    NoConnection,
}

impl Fault {
    pub fn cause(self) -> &'static str {
        match self {
            Fault::Down(c) | Fault::Busy(c) => c,
            Fault::NoConnection => "no free database connection in time",
        }
    }
}

/// The temporary fault an error is, if it is one.
pub fn classify(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::PoolTimedOut => Some(Fault::NoConnection),
        sqlx::Error::PoolClosed => Some(Fault::Down("the connection pool is closed")),
        sqlx::Error::Io(_) => Some(Fault::Down("connection to PostgreSQL lost")),
        sqlx::Error::Tls(_) => Some(Fault::Down("TLS to PostgreSQL failed")),
        sqlx::Error::Protocol(_) => Some(Fault::Down(
            "protocol error (probably a dropped connection)",
        )),
        sqlx::Error::WorkerCrashed => Some(Fault::Down("the connection worker crashed")),
        sqlx::Error::Database(db) => classify_sqlstate(db.code().as_deref()?),
        _ => None,
    }
}

/// SQLSTATE codes (PostgreSQL manual, appendix A) that are temporary.
fn classify_sqlstate(code: &str) -> Option<Fault> {
    match code {
        "57014" => Some(Fault::Busy("statement timeout (query cancelled)")),
        "55P03" => Some(Fault::Busy("lock timeout")),
        "40001" => Some(Fault::Busy("serialization failure")),
        "40P01" => Some(Fault::Busy("deadlock detected")),
        "57P01" => Some(Fault::Down("admin shutdown")),
        "57P02" => Some(Fault::Down("crash shutdown")),
        "57P03" => Some(Fault::Down(
            "cannot connect now (server starting or stopping)",
        )),
        c if c.starts_with("57P") => Some(Fault::Down("operator intervention")),
        c if c.starts_with("08") => Some(Fault::Down("connection exception")),
        c if c.starts_with("53") => Some(Fault::Busy("insufficient resources")),
        _ => None,
    }
}

/// The first database error in an error chain that is a temporary fault.
pub fn classify_chain(e: &anyhow::Error) -> Option<(Fault, &sqlx::Error)> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .find_map(|s| classify(s).map(|f| (f, s)))
}

/// Marker on a response that answered a database fault: the guard notes `Down` faults.
#[derive(Debug, Clone, Copy)]
pub struct Answered(pub Fault);

/// Middleware: while the database is known to be down, a request first tries to get a
/// connection for a short while and answers 503 at once if it cannot; a response that
/// answered a `Down` fault marks the database down, and one that got no connection in time
/// has a direct connection tried (one at a time, in the background) to tell a down server
/// from a busy pool. `/healthz`, `/readyz` and static files pass untouched.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let exempt = path == "/healthz" || path == "/readyz" || path.starts_with("/static/");
    if exempt {
        return next.run(req).await;
    }
    let health = &state.db_health;
    if health.is_down() {
        let wait = Duration::from_millis(state.config.db_down_acquire_timeout_ms);
        match tokio::time::timeout(wait, state.db.acquire()).await {
            Ok(Ok(conn)) => {
                drop(conn);
                health.mark_up();
            }
            Ok(Err(e)) => return crate::error::AppError::Db(e).into_response(),
            Err(_) => {
                let fault = Fault::Down("database still down");
                tracing::warn!(cause = fault.cause(), "database unavailable: 503");
                return crate::error::unavailable(fault);
            }
        }
    }
    let res = next.run(req).await;
    match res.extensions().get::<Answered>() {
        Some(Answered(Fault::Down(_))) => health.mark_down(),
        Some(Answered(Fault::NoConnection))
            if !health.is_down() && !health.probing.swap(true, Ordering::AcqRel) =>
        {
            tokio::spawn(probe(state.clone()));
        }
        _ => {}
    }
    res
}

/// What this process knows of the database's reachability (shared by its requests).
#[derive(Debug, Default)]
pub struct Health {
    /// A request or /readyz found PostgreSQL unreachable; cleared by the next connection.
    down: AtomicBool,
    /// A direct-connection probe is under way (one at a time is plenty).
    probing: AtomicBool,
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub fn mark_down(&self) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!("database marked down: requests fail fast until it answers");
        }
    }

    pub fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("database reachable again");
        }
    }
}

/// One connection made outside the pool: if even that fails, the server is down.
async fn probe(state: AppState) {
    let options = state.db.connect_options();
    let wait = Duration::from_millis(state.config.db_down_acquire_timeout_ms.max(1000));
    let reached = matches!(
        tokio::time::timeout(
            wait,
            <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
        )
        .await,
        Ok(Ok(_))
    );
    if !reached {
        state.db_health.mark_down();
    }
    state.db_health.probing.store(false, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_shutdowns_are_temporary_other_errors_are_not() {
        assert!(matches!(classify_sqlstate("57014"), Some(Fault::Busy(_))));
        assert!(matches!(classify_sqlstate("55P03"), Some(Fault::Busy(_))));
        assert!(matches!(classify_sqlstate("57P01"), Some(Fault::Down(_))));
        assert!(matches!(classify_sqlstate("57P03"), Some(Fault::Down(_))));
        assert!(matches!(classify_sqlstate("08006"), Some(Fault::Down(_))));
        assert_eq!(classify_sqlstate("23505"), None, "unique violation");
        assert_eq!(classify_sqlstate("22021"), None, "bad byte sequence");
        assert_eq!(classify(&sqlx::Error::RowNotFound), None);
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            Some(Fault::NoConnection)
        );
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(classify(&io), Some(Fault::Down(_))));
        let wrapped = anyhow::Error::from(sqlx::Error::PoolClosed).context("loading a page");
        assert!(matches!(
            classify_chain(&wrapped),
            Some((Fault::Down(_), _))
        ));
    }
}
