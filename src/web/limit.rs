//! The request body limit, per route: every request's body is capped at
//! `WebConfig::body_limit_kb`, except the few uploads that need more (a post's attachment:
//! the platform takes images up to 50 MB, issue 12). A body declared bigger is refused at
//! once with 413; one that turns out bigger fails its extractor with 413.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The limits: the general one, and the one for an attachment's upload.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub general: usize,
    pub attachment: usize,
}

impl BodyLimits {
    /// The limit for a request: `POST /s/{school}/posts/{post}/attachments` may carry an
    /// attachment; everything else the general limit.
    pub fn for_request(&self, method: &Method, path: &str) -> usize {
        if method == Method::POST && is_attachment_upload(path) {
            self.attachment.max(self.general)
        } else {
            self.general
        }
    }
}

fn is_attachment_upload(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["s", _, "posts", _, "attachments"])
}

pub async fn body_limit(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let limit = limits.for_request(req.method(), req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_attachment_upload_gets_the_bigger_limit() {
        let l = BodyLimits {
            general: 6,
            attachment: 51,
        };
        assert_eq!(l.for_request(&Method::POST, "/s/a/posts/b/attachments"), 51);
        assert_eq!(l.for_request(&Method::GET, "/s/a/posts/b/attachments"), 6);
        assert_eq!(
            l.for_request(&Method::POST, "/s/a/posts/b/attachments/c/delete"),
            6
        );
        assert_eq!(l.for_request(&Method::POST, "/s/a/import"), 6);
        assert_eq!(l.for_request(&Method::POST, "/s/a/posts"), 6);
    }
}
