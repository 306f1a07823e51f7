//! htmx (`static/js/htmx-2.0.11.min.js`, from the npm package htmx.org 2.0.11, served like
//! every other asset; configured in `base.html` so it adds no inline style and evaluates no
//! script: the CSP stays as it is). A few actions answer a request htmx sends
//! (`HX-Request: true`) with a partial — the table row the decision changed, the search
//! results — and every other request with the full page or the redirect, as before: each
//! form works without script.

use std::convert::Infallible;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppResult;

/// Whether htmx sent the request and swaps the answer into the page itself. A history
/// restore (`HX-History-Restore-Request`) wants the whole page.
#[derive(Debug, Clone, Copy)]
pub struct Htmx(bool);

impl Htmx {
    pub fn asked(self) -> bool {
        self.0
    }

    fn of(headers: &HeaderMap) -> Self {
        let is = |name: &str| headers.get(name).is_some_and(|v| v.as_bytes() == b"true");
        Self(is("hx-request") && !is("hx-history-restore-request"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Htmx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/decided_row.html")]
struct DecidedRow<'a> {
    id: &'a str,
    columns: u8,
    message: &'a str,
    counter: Option<Counter<'a>>,
}

/// An element of the page a decision changes besides its row (the queue's count), sent
/// with the row and swapped in by its id (`hx-swap-oob`).
pub struct Counter<'a> {
    pub id: &'a str,
    pub text: String,
}

/// The table row a decision replaces (`hx-target="closest tr"`): the row's id kept, one
/// cell saying what was decided, announced to a screen reader (`role="status"`).
pub fn decided_row(id: &str, columns: u8, message: &str) -> AppResult<Response> {
    decided_row_with(id, columns, message, None)
}

/// [`decided_row`] with the page's counter updated out of band. The counter follows the
/// row: a fragment starting with `<tr>` is parsed as table rows, and an element before
/// the row would drop it.
pub fn decided_row_with(
    id: &str,
    columns: u8,
    message: &str,
    counter: Option<Counter<'_>>,
) -> AppResult<Response> {
    Ok(DecidedRow {
        id,
        columns,
        message,
        counter,
    }
    .into_response())
}

/// A whole page (the form again with the error said at the top) answering an htmx
/// request: htmx puts its `<main>` in place of the page's, not into the row.
pub fn whole_main(htmx: Htmx, mut res: Response) -> Response {
    if htmx.asked() {
        let h = res.headers_mut();
        h.insert("hx-retarget", HeaderValue::from_static("#main"));
        h.insert("hx-reselect", HeaderValue::from_static("#main"));
        h.insert("hx-reswap", HeaderValue::from_static("outerHTML"));
    }
    res
}

/// A redirect answering an htmx request becomes a full navigation (`HX-Redirect`): the
/// browser's request would follow it and swap the next page into a table row (a login
/// that expired, an action that leads elsewhere).
pub async fn redirects(req: Request, next: Next) -> Response {
    let htmx = Htmx::of(req.headers());
    let res = next.run(req).await;
    if !htmx.asked() || !res.status().is_redirection() {
        return res;
    }
    let Some(location) = res.headers().get(header::LOCATION).cloned() else {
        return res;
    };
    let mut out = StatusCode::OK.into_response();
    out.headers_mut().insert("hx-redirect", location);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_htmx_sends_and_swaps_is_htmx() {
        let mut h = HeaderMap::new();
        assert!(!Htmx::of(&h).asked());
        h.insert("hx-request", HeaderValue::from_static("true"));
        assert!(Htmx::of(&h).asked());
        h.insert(
            "hx-history-restore-request",
            HeaderValue::from_static("true"),
        );
        assert!(!Htmx::of(&h).asked());
    }
}
