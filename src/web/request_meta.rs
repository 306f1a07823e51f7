//! Where a request came from, for the audit log and rate limits: the one constructor
//! ([`RequestMeta::from_parts`]) that the extractor, the route guard's denials and
//! everything else use, so every audit row carries the same client address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;
use crate::config::WebConfig;

/// Where the request came from, for the audit log and rate limits.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// The one way a request's origin is read, for the extractor and for the guard's
    /// denials alike: the client's address from `X-Forwarded-For` only behind a trusted
    /// proxy (`trust_proxy`), else the peer; the request id the portal set
    /// ([`crate::web::request_id`]).
    pub fn from_parts(parts: &Parts, config: &WebConfig) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let forwarded = if config.trust_proxy {
            header("x-forwarded-for")
                .and_then(|v| v.split(',').next().map(|s| s.trim().to_owned()))
                .filter(|s| !s.is_empty())
        } else {
            None
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        RequestMeta {
            request_id: header(crate::web::request_id::HEADER),
            ip: forwarded.or(peer),
            user_agent: header("user-agent"),
        }
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts, &state.config))
    }
}
