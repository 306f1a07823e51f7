//! Request ids are the portal's own (SECURITY.md 39): a client's `X-Request-Id` is dropped
//! before the id layer runs, so the id in the page, the log and the audit log is always one
//! the portal generated. Behind a configured proxy (`trust_proxy`) the proxy's id is kept,
//! but only when it looks like an id (letters, digits, `-`, `_`, `.`; at most 64).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// Whether an incoming id may be kept: from a trusted proxy, and plain.
pub fn acceptable(trust_proxy: bool, value: &[u8]) -> bool {
    trust_proxy
        && !value.is_empty()
        && value.len() <= 64
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Removes an incoming request id the portal does not trust; the id layer behind this
/// then generates one.
pub async fn drop_untrusted(
    State(trust_proxy): State<bool>,
    mut req: Request,
    next: Next,
) -> Response {
    let keep = req.headers().get_all(HEADER).iter().count() == 1
        && req
            .headers()
            .get(HEADER)
            .is_some_and(|v| acceptable(trust_proxy, v.as_bytes()));
    if !keep {
        req.headers_mut().remove(HEADER);
    }
    next.run(req).await
}
