//! The one error type of the web layer. Its response is an empty shell carrying an
//! [`ErrorPage`] marker; the error-page middleware (which knows the request id) renders the
//! Russian page. The cause goes to the log, never to the user.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Not logged in: redirect to the login page, coming back to `next` afterwards.
    #[error("login required")]
    LoginRequired { next: String },
    /// A 400 with a Russian sentence for the person: `AppError::BadRequest(ru!("…"))`.
    #[error("bad request: {0}")]
    BadRequest(Russian),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("template: {0}")]
    Render(#[from] askama::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// A message a person reads on an error page: a Russian sentence, checked when the code
/// compiles. Make one with [`ru!`](crate::ru): `AppError::BadRequest(ru!("Выберите класс."))`;
/// `ru!("chat kind")` does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Russian(&'static str);

impl Russian {
    /// Use [`ru!`](crate::ru), which runs this check at compile time.
    #[doc(hidden)]
    pub const fn checked(text: &'static str) -> Russian {
        assert!(
            is_russian_sentence(text),
            "a message to a person is a Russian sentence (UI.md)"
        );
        Russian(text)
    }

    pub fn text(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Russian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Starts with a capital Cyrillic letter and has no run of three small Latin letters
/// (an English word); abbreviations such as «PDF» or «ИТ» pass.
const fn is_russian_sentence(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let mut first = true;
    let mut latin = 0;
    while i < b.len() {
        let c = b[i];
        if first {
            if c.is_ascii_alphabetic() || c == 0xD1 {
                return false;
            }
            if c == 0xD0 {
                if i + 1 >= b.len() {
                    return false;
                }
                let n = b[i + 1];
                if !matches!(n, 0x81 | 0x90..=0xAF) {
                    return false;
                }
                first = false;
            }
        }
        latin = if c.is_ascii_lowercase() { latin + 1 } else { 0 };
        if latin >= 3 {
            return false;
        }
        i += 1;
    }
    !first
}

/// A [`Russian`] message, checked at compile time: `ru!("Файл не удалось прочитать.")`.
#[macro_export]
macro_rules! ru {
    ($text:expr) => {{
        const MESSAGE: $crate::error::Russian = $crate::error::Russian::checked($text);
        MESSAGE
    }};
}

/// Marker telling the error-page middleware to render a page for this status.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub message: &'static str,
}

impl ErrorPage {
    /// The Russian explanation shown for a status when nothing more specific is known.
    pub fn default_message(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "Запрос не удалось разобрать. Вернитесь назад и попробуйте ещё раз.",
            403 => "У вас нет прав на это действие.",
            404 => "Такой страницы нет, или у вас нет к ней доступа.",
            405 => "Этот адрес так не открывается.",
            408 | 504 => "Сервер не успел ответить. Попробуйте ещё раз.",
            413 => "Слишком большой запрос или файл.",
            422 => "Данные формы не удалось разобрать.",
            429 => "Слишком много запросов. Подождите немного и попробуйте снова.",
            503 => "Портал сейчас перегружен или обслуживается. Попробуйте через минуту.",
            _ => "Что-то пошло не так. Мы уже знаем об ошибке.",
        }
    }
}

fn page(status: StatusCode, message: &'static str) -> Response {
    let mut res = status.into_response();
    res.extensions_mut().insert(ErrorPage { message });
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => page(
                StatusCode::NOT_FOUND,
                ErrorPage::default_message(StatusCode::NOT_FOUND),
            ),
            AppError::Forbidden => page(
                StatusCode::FORBIDDEN,
                ErrorPage::default_message(StatusCode::FORBIDDEN),
            ),
            AppError::LoginRequired { next } => {
                let target = format!("/login?next={}", urlencode(&next));
                Redirect::to(&target).into_response()
            }
            AppError::BadRequest(message) => page(StatusCode::BAD_REQUEST, message.text()),
            AppError::TooManyRequests { retry_after_secs } => {
                let mut res = page(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorPage::default_message(StatusCode::TOO_MANY_REQUESTS),
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            AppError::Db(e) => match crate::db::faults::classify(&e) {
                Some(fault) => {
                    tracing::warn!(cause = fault.cause(), error = %e, "database unavailable: 503");
                    unavailable(fault)
                }
                None => {
                    tracing::error!(error = %e, "database error");
                    internal()
                }
            },
            AppError::Render(e) => {
                tracing::error!(error = %e, "template error");
                internal()
            }
            AppError::Other(e) => match crate::db::faults::classify_chain(&e) {
                Some((fault, _)) => {
                    tracing::warn!(
                        cause = fault.cause(),
                        error = format!("{e:#}"),
                        "database unavailable: 503"
                    );
                    unavailable(fault)
                }
                None => {
                    tracing::error!(error = format!("{e:#}"), "internal error");
                    internal()
                }
            },
        }
    }
}

/// Seconds a client is asked to wait after a database fault.
pub const DB_RETRY_AFTER_SECS: &str = "5";

/// The 503 page for a temporary database fault (SECURITY.md 31, 32): `Retry-After`, the
/// Russian page, and the [`Answered`](crate::db::faults::Answered) marker the fail-fast
/// guard reads. The caller logs the cause.
pub fn unavailable(fault: crate::db::faults::Fault) -> Response {
    let mut res = page(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorPage::default_message(StatusCode::SERVICE_UNAVAILABLE),
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(DB_RETRY_AFTER_SECS),
    );
    res.extensions_mut()
        .insert(crate::db::faults::Answered(fault));
    res
}

fn internal() -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorPage::default_message(StatusCode::INTERNAL_SERVER_ERROR),
    )
}

/// Percent-encodes a value for a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_sentences_pass_and_english_does_not() {
        assert!(is_russian_sentence("Файл не удалось прочитать."));
        assert!(is_russian_sentence("Ёлки: PDF до 10 МБ."));
        assert!(is_russian_sentence("Заместитель директора по ИТ."));
        assert!(!is_russian_sentence("chat kind"));
        assert!(!is_russian_sentence("Bad request"));
        assert!(!is_russian_sentence("файл не прочитан."));
        assert!(!is_russian_sentence("Файл: unexpected end"));
        assert!(!is_russian_sentence(""));
        assert_eq!(crate::ru!("Выберите класс.").text(), "Выберите класс.");
    }

    #[test]
    #[should_panic(expected = "Russian sentence")]
    fn an_english_message_is_refused() {
        let text = String::from("form key");
        Russian::checked(text.leak());
    }

    #[test]
    fn a_bad_request_shows_its_russian_message() {
        let res = AppError::BadRequest(crate::ru!("Выберите класс.")).into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page = res.extensions().get::<ErrorPage>().map(|p| p.message);
        assert_eq!(page, Some("Выберите класс."));
    }
}
