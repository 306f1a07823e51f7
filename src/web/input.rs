//! Text input checked at the edge, once for every form and list (issue 9, item 1;
//! SECURITY.md 29: nothing a person sends gives a 500). PostgreSQL refuses a NUL byte in
//! text, and no other control character belongs in what people type either.
//!
//! [`control_characters`] is in the middleware stack (`with_middleware` in `src/lib.rs`),
//! so a form or a filter added tomorrow gets it without asking:
//! - the query string: control characters are removed from every parameter (harmless: a
//!   search or a filter never means them);
//! - a form body (`application/x-www-form-urlencoded`, and the text fields of
//!   `multipart/form-data`; uploaded files are the importer's business): a control
//!   character other than tab, CR and LF in a field's name or value refuses the request
//!   with 400 and a Russian page naming the field; nothing reaches a handler, so nothing
//!   is stored. The browser's Back keeps what was typed.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::middleware::error_page;

/// A control character no text field may hold (tab, CR and LF are text).
pub fn forbidden_in_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\r' | '\n')
}

/// The middleware: strips control characters from the query string and refuses form
/// bodies that carry them (see the module docs).
///
/// It sits just outside the body limit (whose limited body is no longer an axum `Body`),
/// so it keeps to the same `limit`: a body declared bigger is passed on unread, for the
/// limit to refuse; one that turns out bigger is refused here with the same 413.
pub async fn control_characters(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let mut req = req;
    if let Some(uri) = clean_query(req.uri()) {
        *req.uri_mut() = uri;
    }
    let kind = body_kind(req.headers().get(header::CONTENT_TYPE));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let Some(kind) = kind.filter(|_| declared.is_none_or(|n| n <= limit)) else {
        return next.run(req).await;
    };
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let status = if is_length_limit(&e) {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            let message = crate::error::ErrorPage::default_message(status);
            return error_page(status, message, &request_id);
        }
    };
    let bad = match &kind {
        BodyKind::UrlEncoded => bad_urlencoded_field(&bytes),
        BodyKind::Multipart(boundary) => bad_multipart_field(&bytes, boundary),
    };
    if let Some(field) = bad {
        tracing::info!(field = %field, "form refused: control characters");
        let message = format!(
            "В поле «{}» есть недопустимые символы. Вернитесь назад, уберите их и отправьте \
             форму ещё раз.",
            label(&field)
        );
        return error_page(StatusCode::BAD_REQUEST, &message, &request_id);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("length limit") {
            return true;
        }
        source = err.source();
    }
    false
}

enum BodyKind {
    UrlEncoded,
    Multipart(String),
}

fn body_kind(content_type: Option<&HeaderValue>) -> Option<BodyKind> {
    let ct = content_type?.to_str().ok()?;
    let mut params = ct.split(';');
    let mime = params.next()?.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => Some(BodyKind::UrlEncoded),
        "multipart/form-data" => params.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_owned())
                .filter(|b| !b.is_empty())
                .map(BodyKind::Multipart)
        }),
        _ => None,
    }
}

/// Percent-decodes one `application/x-www-form-urlencoded` component (`+` is a space);
/// invalid UTF-8 becomes U+FFFD, as the form extractor reads it.
pub fn decode_component(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI with control characters removed from the query's parameters, or `None` when
/// it has none (the URI is then left exactly as sent).
fn clean_query(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let mut changed = false;
    let mut parts = Vec::new();
    for pair in query.split('&') {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let mut clean = |raw: &str| {
            let text = decode_component(raw);
            if text.chars().any(char::is_control) {
                changed = true;
                encode_component(&text.replace(|c: char| c.is_control(), ""))
            } else {
                raw.to_owned()
            }
        };
        let k = clean(k);
        parts.push(match v {
            Some(v) => format!("{k}={}", clean(v)),
            None => k,
        });
    }
    if !changed {
        return None;
    }
    let path = uri.path();
    let pq = format!("{path}?{}", parts.join("&"));
    let mut builder = Uri::builder();
    if let Some(scheme) = uri.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = uri.authority() {
        builder = builder.authority(authority.clone());
    }
    builder.path_and_query(pq).build().ok()
}

/// The name of the first field of a urlencoded body whose name or value holds a
/// forbidden control character.
fn bad_urlencoded_field(body: &Bytes) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(k);
        if name.chars().any(forbidden_in_text) || decode_component(v).chars().any(forbidden_in_text)
        {
            return Some(name);
        }
    }
    None
}

/// The name of the first text field (a part without a file name) of a multipart body
/// that holds a forbidden control character. A body that does not parse is left to the
/// handler, which refuses it.
fn bad_multipart_field(body: &Bytes, boundary: &str) -> Option<String> {
    let delimiter = format!("\r\n--{boundary}");
    let mut data = Vec::with_capacity(body.len() + 2);
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(body);
    let mut rest: &[u8] = &data;
    let mut first = true;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        let part = &rest[..at];
        rest = &rest[at + delimiter.len()..];
        if std::mem::take(&mut first) {
            continue; // the preamble
        }
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]);
        let content = &part[head_end + 4..];
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        if disposition.to_ascii_lowercase().contains("filename") {
            continue;
        }
        let name = param(disposition, "name").unwrap_or_default();
        if name.chars().any(forbidden_in_text)
            || String::from_utf8_lossy(content)
                .chars()
                .any(forbidden_in_text)
        {
            return Some(name);
        }
        if rest.starts_with(b"--") {
            break;
        }
    }
    None
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Russian label of a form field, as the forms show it; the name itself when unknown.
fn label(field: &str) -> String {
    let known = match field {
        "login" => "Логин",
        "password" | "current" | "new_password" | "password2" | "confirm_password" => "Пароль",
        "name" | "school_name" | "full_name" => "Название",
        "short_name" => "Краткое название",
        "title" => "Название",
        "purpose" => "Назначение",
        "number" | "order_number" => "Номер",
        "reason" | "comment" => "Причина",
        "edition" => "Редакция",
        "body" | "text" => "Текст",
        "email" => "Электронная почта",
        "phone" => "Телефон",
        "surname" | "last_name" => "Фамилия",
        "first_name" | "given_name" => "Имя",
        "patronymic" | "middle_name" => "Отчество",
        "address" => "Адрес",
        "inn" => "ИНН",
        "letter" => "Буква",
        "q" => "Поиск",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let shown: String = field.chars().filter(|c| !c.is_control()).take(40).collect();
    if shown.is_empty() {
        "без названия".to_owned()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_the_controls_but_tab_cr_lf() {
        assert!(forbidden_in_text('\0'));
        assert!(forbidden_in_text('\u{1b}'));
        assert!(forbidden_in_text('\u{7f}'));
        assert!(forbidden_in_text('\u{85}'));
        assert!(!forbidden_in_text('\t'));
        assert!(!forbidden_in_text('\n'));
        assert!(!forbidden_in_text('\r'));
        assert!(!forbidden_in_text('я'));
    }

    #[test]
    fn a_query_loses_its_control_characters_and_keeps_the_rest() {
        let uri: Uri = "/s/1/people?q=%D0%98%00%01x&page=2%00&class"
            .parse()
            .unwrap();
        let clean = clean_query(&uri).unwrap();
        assert_eq!(clean.path(), "/s/1/people");
        assert_eq!(clean.query(), Some("q=%D0%98x&page=2&class"));
        let uri: Uri = "/x?q=%D0%98+a".parse().unwrap();
        assert!(clean_query(&uri).is_none());
    }

    #[test]
    fn a_urlencoded_body_with_a_nul_names_its_field() {
        let body = Bytes::from_static(b"login=a&password=b%00c");
        assert_eq!(bad_urlencoded_field(&body).as_deref(), Some("password"));
        let body = Bytes::from_static(b"body=line%0D%0Aline%09tab&x=%");
        assert_eq!(bad_urlencoded_field(&body), None);
        let body = Bytes::from_static(b"a%00=1");
        assert!(bad_urlencoded_field(&body).is_some());
    }

    #[test]
    fn a_multipart_text_field_with_a_nul_is_found_and_files_are_not_read() {
        let body = Bytes::from(
            "--XX\r\nContent-Disposition: form-data; name=\"edition\"\r\n\r\nред\0\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"a.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n%PDF\0\0\r\n--XX--\r\n",
        );
        assert_eq!(bad_multipart_field(&body, "XX").as_deref(), Some("edition"));
        let body = Bytes::from(
            "--XX\r\nContent-Disposition: form-data; name=\"edition\"\r\n\r\nред\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"a.pdf\"\r\n\r\n\
             %PDF\0\0\r\n--XX--\r\n",
        );
        assert_eq!(bad_multipart_field(&body, "XX"), None);
    }

    #[test]
    fn components_decode_like_the_form_extractor() {
        assert_eq!(decode_component("a+b%20c%D0%98%"), "a b cИ%");
        assert_eq!(decode_component("%0"), "%0");
        assert_eq!(decode_component("%00"), "\0");
    }
}
