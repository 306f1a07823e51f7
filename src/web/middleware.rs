//! Middleware of our own: security headers on every response (SECURITY.md 16) and error
//! pages with the request id (SECURITY.md 29).

use std::any::Any;

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ErrorPage;
use crate::web::layout::Layout;

const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// Adds the security headers to every response, error pages included. Anything not marked
/// cacheable (static assets) is `no-store`: pages behind login must not be kept by a
/// shared computer's browser.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: &'a str,
    request_id: &'a str,
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "Неверный запрос",
        403 => "Доступ запрещён",
        404 => "Страница не найдена",
        405 => "Метод не поддерживается",
        408 | 504 => "Превышено время ожидания",
        413 => "Слишком большой запрос",
        429 => "Слишком много запросов",
        503 => "Сервис временно недоступен",
        _ => "Внутренняя ошибка",
    }
}

/// Renders a Russian error page, with the request id, for every error response that is not
/// already a page: our [`AppError`](crate::error::AppError)s, the router's 404/405, the
/// CSRF layer's 403, the timeout's 503, the body limit's 413 and caught panics.
pub async fn error_pages(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let res = next.run(req).await;
    let status = res.status();
    let marked = res.extensions().get::<ErrorPage>().cloned();
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || (is_html && marked.is_none()) {
        return res;
    }
    let message = marked
        .map(|m| m.message)
        .unwrap_or_else(|| ErrorPage::default_message(status));
    let layout = res
        .extensions()
        .get::<Layout>()
        .cloned()
        .unwrap_or_else(Layout::anonymous);
    let (parts, _) = res.into_parts();
    with_page(parts, layout, message, &request_id)
}

/// A Russian error page for `status` with `message` (for middleware that answers before
/// any handler, e.g. [`crate::web::input`]).
pub(crate) fn error_page(status: StatusCode, message: &str, request_id: &str) -> Response {
    let (parts, _) = status.into_response().into_parts();
    with_page(parts, Layout::anonymous(), message, request_id)
}

fn with_page(
    mut parts: axum::http::response::Parts,
    layout: Layout,
    message: &str,
    request_id: &str,
) -> Response {
    let status = parts.status;
    let page = ErrorTemplate {
        layout,
        status: status.as_u16(),
        title: title(status),
        message,
        request_id,
    };
    let body = match page.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering the error page");
            format!("{} {}", status.as_u16(), title(status))
        }
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The panic handler: a 500 page (rendered by [`error_pages`]); the process keeps serving.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> HttpResponse<Body> {
    let what = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %what, "handler panicked");
    let mut res = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    res.extensions_mut().insert(ErrorPage {
        message: ErrorPage::default_message(StatusCode::INTERNAL_SERVER_ERROR),
    });
    res
}
