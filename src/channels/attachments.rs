//! A post's attachments, kept in PostgreSQL (`bytea`). The platform takes images (each at
//! most 50 MB) or one file alone; an upload may be as big as that (the route's own body
//! limit, [`UPLOAD_BODY_LIMIT`]). A file is served with the content type found from its bytes (never HTML or SVG,
//! which a browser would run), as `Content-Disposition: attachment`, with `nosniff`.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgConnection;

use super::post::{Typed, page};
use super::queries;
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AttachmentId, PostId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::once::{self, FormKey};

/// The platform's limit on an image.
pub const MAX_IMAGE: usize = 50 * 1024 * 1024;
/// The upload's body: one image at the platform's limit and the multipart framing (the
/// route's own body limit, above the general one: `web::limit`).
pub const UPLOAD_BODY_LIMIT: usize = MAX_IMAGE + 512 * 1024;

pub struct AttachmentItem {
    pub id: AttachmentId,
    pub filename: String,
    pub size: String,
    pub image: bool,
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
) -> sqlx::Result<Vec<AttachmentItem>> {
    let rows = sqlx::query!(
        "select id, filename, content_type, size_bytes from post_attachments
         where school_id = $1 and post_id = $2 order by created_at, id",
        tenant.id() as SchoolId,
        post as PostId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AttachmentItem {
            id: AttachmentId(r.id),
            filename: r.filename,
            size: size_text(i64::from(r.size_bytes)),
            image: r.content_type.starts_with("image/"),
        })
        .collect())
}

fn size_text(bytes: i64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} КБ", (bytes + 1023) / 1024)
    } else {
        format!("{:.1} МБ", bytes as f64 / (1024.0 * 1024.0)).replace('.', ",")
    }
}

/// The content type a file is served with, from its first bytes: images and PDF by their
/// signatures, everything else as bytes to download.
pub fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else {
        "application/octet-stream"
    }
}

/// The platform's rule on the set: images only, or one file alone.
pub fn check_kinds(images: usize, files: usize) -> Option<&'static str> {
    (files > 0 && images + files > 1)
        .then_some("Платформа принимает либо изображения, либо один файл без других вложений.")
}

/// The platform's rules on a post's attachments, as a message for the form.
pub async fn check_set(
    state: &AppState,
    scope: &SchoolScope,
    post: PostId,
) -> sqlx::Result<Option<&'static str>> {
    let mut conn = state.db.acquire().await?;
    let files = list(&mut conn, scope.tenant(), post).await?;
    let images = files.iter().filter(|f| f.image).count();
    Ok(check_kinds(images, files.len() - images))
}

const TOO_BIG: &str = "Файл слишком большой для портала.";

pub async fn upload(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, PostId)>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    scope.require(Action::WritePosts)?;
    let mut conn = state.db.acquire().await?;
    let post = queries::post(&mut conn, scope.tenant(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    scope.require_on(
        Action::WritePosts,
        &Target::Authored {
            author: post.author,
        },
    )?;
    let mut key = FormKey::default();
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut errors = FormErrors::default();
    let mut too_big = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                too_big = true;
                break;
            }
            Err(_) => {
                return Err(AppError::BadRequest(crate::ru!(
                    "Форму не удалось прочитать."
                )));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let filename = field.file_name().unwrap_or("файл").to_owned();
            match field.bytes().await {
                Ok(b) if !b.is_empty() => file = Some((filename, b.to_vec())),
                Ok(_) => {}
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_big = true;
                    break;
                }
                Err(_) => {
                    return Err(AppError::BadRequest(crate::ru!(
                        "Файл не удалось прочитать."
                    )));
                }
            }
        } else if name == "form_key" {
            let v = field
                .text()
                .await
                .map_err(|_| AppError::BadRequest(crate::ru!("Форму не удалось прочитать.")))?;
            key = FormKey::parse(&v);
        }
    }
    // Sent again (at once, or after Back): where the first led, before the checks a second
    // file would fail.
    if let Some(url) = key.seen_before(&state.db, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    if too_big {
        errors.add("file", TOO_BIG);
    }
    let editable = (post.author == scope.actor().id() && post.state.author_edits())
        || (scope.has(crate::auth::permissions::Role::Admin)
            && post.state == super::model::State::Submitted);
    // The change's transaction and its key before the checks of the post's set: a twin
    // sent at the same moment passed `seen_before` too, and waits here for this one to
    // commit, then goes where it led instead of finding the set it changed (a file goes
    // alone) and failing.
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let mut kind = "application/octet-stream";
    match &file {
        None if errors.is_empty() => errors.add("file", "Выберите файл."),
        None => {}
        Some((name, bytes)) => {
            kind = sniff(bytes);
            let have = list(&mut tx, scope.tenant(), id).await?;
            let images = have.iter().filter(|f| f.image).count();
            let (mut i, mut f) = (images, have.len() - images);
            if kind.starts_with("image/") {
                i += 1;
            } else {
                f += 1;
            }
            if kind.starts_with("image/") && bytes.len() > MAX_IMAGE {
                errors.add(
                    "file",
                    "Изображение больше 50 МБ — платформа его не примет.",
                );
            } else if let Some(e) = check_kinds(i, f) {
                errors.add("file", e);
            } else if name.chars().count() > 200 {
                errors.add("file", "Слишком длинное имя файла.");
            }
        }
    }
    if !editable {
        drop(tx);
        return page(
            &state,
            &scope,
            id,
            Typed::default(),
            FormErrors::default(),
            Some("Сейчас вложения этой публикации изменить нельзя."),
        )
        .await;
    }
    let Some((name, bytes)) = file.filter(|_| errors.is_empty()) else {
        drop(tx);
        let res = page(&state, &scope, id, Typed::default(), errors, None).await?;
        return Ok(if too_big {
            (StatusCode::PAYLOAD_TOO_LARGE, res).into_response()
        } else {
            res
        });
    };
    let file_id = AttachmentId::new();
    sqlx::query!(
        "insert into post_attachments (school_id, id, post_id, filename, content_type, size_bytes, content)
         values ($1, $2, $3, $4, $5, $6, $7)",
        scope.school_id() as SchoolId,
        file_id as AttachmentId,
        id as PostId,
        name,
        kind,
        i32::try_from(bytes.len()).unwrap_or(i32::MAX),
        bytes
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "post.attachment_added",
        Some(format!("post:{id}")),
        Some(name),
    )
    .await?;
    let url = format!("/s/{}/posts/{id}", scope.school_id());
    key.done(&mut tx, scope.actor().id(), &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// `filename*=UTF-8''…` with the name percent-encoded (RFC 6266), and an ASCII fallback.
fn disposition(name: &str) -> String {
    let mut enc = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(char::from(b));
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"file\"; filename*=UTF-8''{enc}")
}

pub async fn download(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, post, file)): Path<(SchoolId, PostId, AttachmentId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewChannels)?;
    let mut conn = state.db.acquire().await?;
    let row = sqlx::query!(
        "select filename, content_type, content from post_attachments
         where school_id = $1 and post_id = $2 and id = $3",
        scope.school_id() as SchoolId,
        post as PostId,
        file as AttachmentId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let mut res = row.content.into_response();
    let h = res.headers_mut();
    let kind = sniff_stored(&row.content_type);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&disposition(&row.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// The stored type, only ever one of [`sniff`]'s.
fn sniff_stored(kind: &str) -> &'static str {
    [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
    ]
    .into_iter()
    .find(|k| *k == kind)
    .unwrap_or("application/octet-stream")
}

pub async fn delete(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, post_id, file)): Path<(SchoolId, PostId, AttachmentId)>,
) -> AppResult<Response> {
    scope.require(Action::WritePosts)?;
    let mut tx = state.db.begin().await?;
    let post = queries::post(&mut tx, scope.tenant(), post_id)
        .await?
        .ok_or(AppError::NotFound)?;
    scope.require_on(
        Action::WritePosts,
        &Target::Authored {
            author: post.author,
        },
    )?;
    let removed = sqlx::query!(
        "delete from post_attachments where school_id = $1 and post_id = $2 and id = $3",
        scope.school_id() as SchoolId,
        post_id as PostId,
        file as AttachmentId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Sent twice: the first removed it; the second finds nothing to remove or to audit.
    if removed > 0 {
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "post.attachment_removed",
            Some(format!("post:{post_id}")),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/posts/{post_id}", scope.school_id())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_never_gets_its_own_type_and_a_file_goes_alone() {
        assert_eq!(sniff(b"<html><script>"), "application/octet-stream");
        assert_eq!(sniff(b"<svg onload=x>"), "application/octet-stream");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(sniff_stored("text/html"), "application/octet-stream");
        assert!(check_kinds(3, 0).is_none());
        assert!(check_kinds(0, 1).is_none());
        assert!(check_kinds(1, 1).is_some());
        assert!(check_kinds(0, 2).is_some());
        assert!(disposition("отчёт.pdf").starts_with("attachment; "));
    }
}
