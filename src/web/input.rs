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
//!   character other than tab, CR and LF is removed from the field, and the field is
//!   marked refused for this request. The handler runs with what was typed minus those
//!   characters; the first [`FormErrors`](crate::web::form::FormErrors) it makes already
//!   holds «Поле содержит недопустимые символы» for each marked field, so its validation
//!   fails and it shows the form again with the message next to the field and nothing
//!   stored — no handler has to ask. A field's value is never logged (an anonymous
//!   `/login` must not fill the log with passwords), only its name.
//!
//! The marks live in a task-local for the duration of the handler (the handler runs in the
//! request's task); [`refused_fields`] reads them.

use std::sync::atomic::{AtomicBool, Ordering};

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
    let cleaned = match &kind {
        BodyKind::UrlEncoded => clean_urlencoded(&bytes),
        BodyKind::Multipart(boundary) => clean_multipart(&bytes, boundary),
    };
    let Some((body, fields)) = cleaned else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    for field in &fields {
        tracing::info!(field = %field, "form field: control characters removed, shown as refused");
    }
    let mut parts = parts;
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let refused = Refused {
        fields,
        shown: AtomicBool::new(false),
    };
    let req = Request::from_parts(parts, Body::from(body));
    REFUSED
        .scope(refused, async move {
            let res = next.run(req).await;
            let shown = REFUSED.with(|r| r.shown.load(Ordering::Relaxed));
            if !shown {
                // A form without field messages (a button, a select): the cleaned value
                // went through, which for those fields is harmless.
                tracing::info!("form field with control characters: no form message made");
            }
            res
        })
        .await
}

tokio::task_local! {
    static REFUSED: Refused;
}

/// The fields of this request's form that held control characters.
struct Refused {
    fields: Vec<String>,
    /// Whether a [`FormErrors`](crate::web::form::FormErrors) took them.
    shown: AtomicBool,
}

/// The names of this request's form fields whose control characters the middleware
/// removed (none outside a request, or when there were none). Asking counts as showing
/// them: [`FormErrors`](crate::web::form::FormErrors) asks when it is made.
pub fn refused_fields() -> Vec<String> {
    REFUSED
        .try_with(|r| {
            r.shown.store(true, Ordering::Relaxed);
            r.fields.clone()
        })
        .unwrap_or_default()
}

/// The message next to a refused field.
pub const REFUSED_MESSAGE: &str = "Поле содержит недопустимые символы. Мы их убрали: проверьте \
     значение и отправьте форму ещё раз.";

fn strip(text: &str) -> String {
    text.chars().filter(|c| !forbidden_in_text(*c)).collect()
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

/// The urlencoded body without forbidden control characters, and the names of the fields
/// that held them; `None` when there were none (the body is then passed on as sent).
fn clean_urlencoded(body: &Bytes) -> Option<(Bytes, Vec<String>)> {
    let text = String::from_utf8_lossy(body);
    let mut fields: Vec<String> = Vec::new();
    let mut pairs = Vec::new();
    for pair in text.split('&') {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let name = decode_component(k);
        let value = v.map(decode_component).unwrap_or_default();
        if !name.chars().any(forbidden_in_text) && !value.chars().any(forbidden_in_text) {
            pairs.push(pair.to_owned());
            continue;
        }
        let name = strip(&name);
        if !fields.contains(&name) {
            fields.push(name.clone());
        }
        pairs.push(match v {
            Some(_) => format!(
                "{}={}",
                encode_component(&name),
                encode_component(&strip(&value))
            ),
            None => encode_component(&name),
        });
    }
    (!fields.is_empty()).then(|| (Bytes::from(pairs.join("&")), fields))
}

/// The multipart body with forbidden control characters removed from its text fields
/// (parts without a file name), and the names of those fields; `None` when there were
/// none, or the body does not parse (the handler then refuses it).
fn clean_multipart(body: &Bytes, boundary: &str) -> Option<(Bytes, Vec<String>)> {
    let delimiter = format!("\r\n--{boundary}");
    let d = delimiter.as_bytes();
    let mut data = Vec::with_capacity(body.len() + 2);
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(body);
    let mut fields: Vec<String> = Vec::new();
    // (start, end, new content) in `data`, in order.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let mut pos = find(&data, d)? + d.len();
    while !data[pos..].starts_with(b"--") {
        let Some(len) = find(&data[pos..], d) else {
            break;
        };
        let (start, end) = (pos, pos + len);
        pos = end + d.len();
        let part = &data[start..end];
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]);
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        if disposition.to_ascii_lowercase().contains("filename") {
            continue;
        }
        let name = param(disposition, "name").unwrap_or_default();
        let content_start = start + head_end + 4;
        let content = String::from_utf8_lossy(&data[content_start..end]);
        if name.chars().any(forbidden_in_text) || content.chars().any(forbidden_in_text) {
            let name = strip(&name);
            if !fields.contains(&name) {
                fields.push(name);
            }
            edits.push((content_start, end, strip(&content).into_bytes()));
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut at = 2;
    for (start, end, content) in edits {
        out.extend_from_slice(&data[at..start]);
        out.extend_from_slice(&content);
        at = end;
    }
    out.extend_from_slice(&data[at..]);
    Some((Bytes::from(out), fields))
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
    fn a_urlencoded_body_loses_its_control_characters_and_names_the_field() {
        let body = Bytes::from_static(b"login=a&password=b%00c&title=%D0%98%01%D0%AF");
        let (clean, fields) = clean_urlencoded(&body).unwrap();
        assert_eq!(clean, "login=a&password=bc&title=%D0%98%D0%AF");
        assert_eq!(fields, ["password", "title"]);
        let body = Bytes::from_static(b"body=line%0D%0Aline%09tab&x=%");
        assert!(clean_urlencoded(&body).is_none());
        let body = Bytes::from_static(b"a%00=1");
        assert_eq!(clean_urlencoded(&body).unwrap().1, ["a"]);
    }

    #[test]
    fn a_multipart_text_field_is_cleaned_and_files_are_left_alone() {
        let body = Bytes::from(
            "--XX\r\nContent-Disposition: form-data; name=\"edition\"\r\n\r\nред\0\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"a.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n%PDF\0\0\r\n--XX--\r\n",
        );
        let (clean, fields) = clean_multipart(&body, "XX").unwrap();
        assert_eq!(fields, ["edition"]);
        assert_eq!(
            clean,
            Bytes::from(
                "--XX\r\nContent-Disposition: form-data; name=\"edition\"\r\n\r\nред\r\n\
                 --XX\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"a.pdf\"\r\n\
                 Content-Type: application/pdf\r\n\r\n%PDF\0\0\r\n--XX--\r\n",
            )
        );
        let body = Bytes::from(
            "--XX\r\nContent-Disposition: form-data; name=\"edition\"\r\n\r\nред\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"a.pdf\"\r\n\r\n\
             %PDF\0\0\r\n--XX--\r\n",
        );
        assert!(clean_multipart(&body, "XX").is_none());
    }

    #[test]
    fn outside_a_request_no_field_is_refused() {
        assert!(refused_fields().is_empty());
    }

    #[test]
    fn components_decode_like_the_form_extractor() {
        assert_eq!(decode_component("a+b%20c%D0%98%"), "a b cИ%");
        assert_eq!(decode_component("%0"), "%0");
        assert_eq!(decode_component("%00"), "\0");
    }
}
