//! Import and export of students with their parents, and of staff (R2.1.k). The
//! administrator uploads a list the school already has (CSV in UTF-8 or Windows-1251,
//! `;` or `,`; XLSX); the file is kept in `imports` and a preview shows, row by row, what
//! will be created, updated or refused, naming the row and column of every error
//! (SECURITY.md 19). Applying checks the stored file again and writes everything in one
//! transaction, or nothing. The same lists export to CSV in the same columns, so an export
//! imports back as "no changes". Uploads, applied imports and every export are audited
//! (SECURITY.md 26).

pub mod apply;
pub mod export;
pub mod parse;
pub mod plan;

use std::time::Instant;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use self::parse::{Kind, MAX_FILE_BYTES, MAX_ROWS};
use self::plan::Plan;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;

pub use crate::ids::ImportId;

/// The upload's body: the file and a little multipart framing. The global body limit
/// (`WebConfig::body_limit_kb`) must be at least this.
const UPLOAD_BODY_LIMIT: usize = MAX_FILE_BYTES + 512 * 1024;
/// Rows of the preview table per page.
const PREVIEW_PAGE: usize = 100;
/// Imports listed on the import page.
const RECENT: i64 = 20;

pub fn routes(r: Routes) -> Routes {
    let access = Access::School(Action::ImportPeople);
    r.get("/s/{school_id}/import", access, index)
        .post(
            "/s/{school_id}/import",
            access,
            upload.layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .get(
            "/s/{school_id}/import/template/students.csv",
            access,
            export::template_students,
        )
        .get(
            "/s/{school_id}/import/template/staff.csv",
            access,
            export::template_staff,
        )
        .get("/s/{school_id}/import/{import_id}", access, preview)
        .post("/s/{school_id}/import/{import_id}/apply", access, apply)
        .get(
            "/s/{school_id}/export/students.csv",
            access,
            export::students,
        )
        .get("/s/{school_id}/export/staff.csv", access, export::staff)
}

// ---- the import page ----------------------------------------------------------------------

struct RecentImport {
    id: ImportId,
    kind: &'static str,
    filename: String,
    uploaded: String,
    by: String,
    /// «применён 25.11.2026 14:05» or «не применён».
    status: String,
    applied: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "imports/index.html")]
struct IndexPage {
    layout: Layout,
    school_id: SchoolId,
    /// The upload forms' errors, each under `file` (the two forms share the field's name).
    students_errors: FormErrors,
    staff_errors: FormErrors,
    recent: Vec<RecentImport>,
    max_rows: String,
}

async fn recent(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<Vec<RecentImport>> {
    let rows = sqlx::query!(
        r#"select i.id as "id: ImportId", i.kind, i.filename, i.created_at, i.applied_at,
                  a.surname as "surname?", a.given_name as "given_name?",
                  a.patronymic as "patronymic?"
           from imports i left join accounts a on a.id = i.created_by
           where i.school_id = $1
           order by i.created_at desc, i.id desc
           limit $2"#,
        scope.school_id() as SchoolId,
        RECENT
    )
    .fetch_all(conn)
    .await?;
    let tz = scope.timezone();
    Ok(rows
        .into_iter()
        .map(|r| RecentImport {
            id: r.id,
            kind: match Kind::parse(&r.kind) {
                Some(Kind::Staff) => "Сотрудники",
                _ => "Ученики и родители",
            },
            filename: r.filename,
            uploaded: format::datetime(r.created_at, tz),
            by: match (r.surname, r.given_name) {
                (Some(s), Some(g)) => format::full_name(&s, &g, r.patronymic.as_deref()),
                _ => "—".into(),
            },
            status: match r.applied_at {
                Some(at) => format!("применён {}", format::datetime(at, tz)),
                None => "не применён".into(),
            },
            applied: r.applied_at.is_some(),
        })
        .collect())
}

async fn index_page(
    state: &AppState,
    scope: &SchoolScope,
    error: Option<(Kind, String)>,
) -> AppResult<IndexPage> {
    let mut conn = state.db.acquire().await?;
    let (mut students_errors, mut staff_errors) = (FormErrors::none(), FormErrors::none());
    match error {
        Some((Kind::Students, e)) => students_errors.add("file", e),
        Some((Kind::Staff, e)) => staff_errors.add("file", e),
        None => {}
    }
    Ok(IndexPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        students_errors,
        staff_errors,
        recent: recent(&mut conn, scope).await?,
        max_rows: format::number(MAX_ROWS as i64),
    })
}

async fn index(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let page = index_page(&state, &scope, None).await?;
    Ok(page.into_response())
}

// ---- upload ---------------------------------------------------------------------------------

#[derive(Default)]
struct Upload {
    kind: Option<String>,
    filename: String,
    data: Vec<u8>,
    too_big: bool,
}

fn unreadable_upload() -> AppError {
    AppError::BadRequest(crate::ru!(
        "Файл не удалось получить. Загрузите его ещё раз."
    ))
}

/// Reads the form, keeping at most [`MAX_FILE_BYTES`] of the file (the rest is read and
/// dropped, so that the browser gets our answer, not a broken connection).
///
/// A read error in a request that declared more than the file may hold is the same "too
/// big": where the body limit cuts the stream decides which error the parser reports.
async fn read_upload(mut form: Multipart, declared: Option<usize>) -> AppResult<Upload> {
    let mut up = Upload::default();
    let oversized = declared.is_some_and(|n| n > MAX_FILE_BYTES);
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                up.too_big = true;
                break;
            }
            Err(_) if oversized => {
                up.too_big = true;
                break;
            }
            Err(_) => return Err(unreadable_upload()),
        };
        match field.name() {
            Some("kind") => {
                let text = field.text().await.map_err(|_| unreadable_upload())?;
                up.kind = Some(text.chars().take(20).collect());
            }
            Some("file") => {
                up.filename = field
                    .file_name()
                    .unwrap_or("")
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if up.too_big {
                                continue;
                            }
                            if up.data.len() + chunk.len() > MAX_FILE_BYTES {
                                up.too_big = true;
                                up.data = Vec::new();
                            } else {
                                up.data.extend_from_slice(&chunk);
                            }
                        }
                        Ok(None) => break,
                        Err(e) if oversized || e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            up.too_big = true;
                            up.data = Vec::new();
                            break;
                        }
                        Err(_) => return Err(unreadable_upload()),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(up)
}

async fn upload(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
    form: Multipart,
) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let up = read_upload(form, declared).await?;
    let kind = up.kind.as_deref().and_then(Kind::parse);
    // Too big is 413 even when the list's kind came after the file and was never read.
    let kind = match kind {
        Some(kind) => kind,
        None if up.too_big => Kind::Students,
        None => {
            return Err(AppError::BadRequest(crate::ru!(
                "Не указано, какой список загружается. Откройте страницу импорта и загрузите файл ещё раз."
            )));
        }
    };
    let refused = if up.too_big {
        Some((
            StatusCode::PAYLOAD_TOO_LARGE,
            "Файл больше 5 МБ. Сохраните в нём только список (без картинок и лишних листов) \
             или разделите его на части."
                .to_owned(),
        ))
    } else if up.data.is_empty() {
        Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Выберите файл со списком.".to_owned(),
        ))
    } else {
        // A file that cannot be read at all is refused here; problems of single rows are
        // for the preview.
        let data = up.data.clone();
        let read = tokio::task::spawn_blocking(move || parse::read(kind, &data).map(drop))
            .await
            .map_err(|e| AppError::Other(e.into()))?;
        read.err()
            .map(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.message()))
    };
    if let Some((status, message)) = refused {
        let page = index_page(&state, &scope, Some((kind, message))).await?;
        return Ok((status, page).into_response());
    }

    let id = ImportId(Uuid::now_v7());
    let filename = if up.filename.is_empty() {
        "без имени".to_owned()
    } else {
        up.filename
    };
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        r#"insert into imports (school_id, id, kind, filename, content, created_by)
           values ($1, $2, $3, $4, $5, $6)"#,
        scope.school_id() as SchoolId,
        id as ImportId,
        kind.as_str(),
        filename,
        up.data,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "import.uploaded",
            target: Some(format!("import:{id}")),
            details: Some(format!(
                "{}: «{filename}», {} байт",
                kind.title(),
                up.data.len()
            )),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/import/{id}", scope.school_id())).into_response())
}

// ---- preview and apply --------------------------------------------------------------------

struct Stored {
    id: ImportId,
    kind: Kind,
    filename: String,
    content: Vec<u8>,
    created_at: OffsetDateTime,
    applied_at: Option<OffsetDateTime>,
    summary: Option<String>,
    by: Option<String>,
}

/// The import, if it is this school's. `lock`: hold it for the transaction.
async fn load_import(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: ImportId,
    lock: bool,
) -> sqlx::Result<Option<Stored>> {
    let school = tenant.id();
    if lock {
        sqlx::query!(
            "select id from imports where school_id = $1 and id = $2 for update",
            school as SchoolId,
            id as ImportId
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    let row = sqlx::query!(
        r#"select i.id as "id: ImportId", i.kind, i.filename, i.content, i.created_at,
                  i.applied_at, i.summary,
                  a.surname as "surname?", a.given_name as "given_name?",
                  a.patronymic as "patronymic?"
           from imports i left join accounts a on a.id = i.created_by
           where i.school_id = $1 and i.id = $2"#,
        school as SchoolId,
        id as ImportId
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Stored {
        id: r.id,
        kind: Kind::parse(&r.kind).unwrap_or(Kind::Students),
        filename: r.filename,
        content: r.content,
        created_at: r.created_at,
        applied_at: r.applied_at,
        summary: r.summary,
        by: match (r.surname, r.given_name) {
            (Some(s), Some(g)) => Some(format::full_name(&s, &g, r.patronymic.as_deref())),
            _ => None,
        },
    }))
}

#[derive(Deserialize)]
struct ImportPath {
    import_id: String,
}

impl ImportPath {
    /// A malformed id is as missing as another school's (404).
    fn id(&self) -> AppResult<ImportId> {
        self.import_id
            .parse()
            .map(ImportId)
            .map_err(|_| AppError::NotFound)
    }
}

#[derive(Deserialize)]
struct PreviewQuery {
    #[serde(default)]
    page: crate::web::query::Page,
    done: Option<String>,
}

struct CountsView {
    create: String,
    update: String,
    unchanged: String,
    refused: String,
    parents_new: String,
    links_new: String,
}

struct RowView {
    number: usize,
    person: String,
    place: String,
    details: String,
    outcome: &'static str,
    css: &'static str,
    notes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "imports/preview.html")]
struct PreviewPage {
    layout: Layout,
    school_id: SchoolId,
    import_id: ImportId,
    filename: String,
    kind_title: &'static str,
    is_students: bool,
    uploaded: String,
    /// A message at the top: applied just now, applied already, refused.
    notice: Option<&'static str>,
    refused_now: bool,
    /// «25.11.2026 14:05» and the summary, once applied.
    applied: Option<(String, String)>,
    file_error: Option<String>,
    format: String,
    counts: CountsView,
    errors: Vec<String>,
    errors_count: String,
    ignored: String,
    rows: Vec<RowView>,
    page: usize,
    pages: usize,
}

/// A stored file read and checked against the school.
struct Checked {
    plan: Plan,
    /// How the file was read («CSV, Windows-1251, разделитель «;»»).
    format: String,
    /// Headers left out.
    ignored: Vec<String>,
}

/// The check's answer: the plan, or why the file cannot be read at all.
type CheckResult = Result<Checked, String>;

/// The file read and checked against the school (the parse and check are CPU work: off
/// the async threads).
async fn check(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    stored: &Stored,
) -> AppResult<CheckResult> {
    let (kind, content) = (stored.kind, stored.content.clone());
    let table = tokio::task::spawn_blocking(move || parse::read(kind, &content))
        .await
        .map_err(|e| AppError::Other(e.into()))?;
    let table = match table {
        Ok(t) => t,
        Err(e) => return Ok(Err(e.message())),
    };
    let snap = plan::load(conn, scope.tenant(), &table).await?;
    let may_appoint_director = scope.has(Role::Director);
    let (plan, table) = tokio::task::spawn_blocking(move || {
        (plan::build(&table, &snap, may_appoint_director), table)
    })
    .await
    .map_err(|e| AppError::Other(e.into()))?;
    Ok(Ok(Checked {
        plan,
        format: table.format,
        ignored: table.ignored,
    }))
}

async fn preview_page(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    stored: &Stored,
    page: usize,
    notice: Option<&'static str>,
    checked: Option<CheckResult>,
) -> AppResult<PreviewPage> {
    let tz = scope.timezone();
    let mut out = PreviewPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        import_id: stored.id,
        filename: stored.filename.clone(),
        kind_title: match stored.kind {
            Kind::Students => "Ученики и родители",
            Kind::Staff => "Сотрудники",
        },
        is_students: stored.kind == Kind::Students,
        uploaded: match &stored.by {
            Some(by) => format!("{}, {by}", format::datetime(stored.created_at, tz)),
            None => format::datetime(stored.created_at, tz),
        },
        notice,
        refused_now: false,
        applied: None,
        file_error: None,
        format: String::new(),
        counts: CountsView {
            create: String::new(),
            update: String::new(),
            unchanged: String::new(),
            refused: String::new(),
            parents_new: String::new(),
            links_new: String::new(),
        },
        errors: Vec::new(),
        errors_count: String::new(),
        ignored: String::new(),
        rows: Vec::new(),
        page: 1,
        pages: 1,
    };
    if let Some(at) = stored.applied_at {
        out.applied = Some((
            format::datetime(at, tz),
            stored.summary.clone().unwrap_or_default(),
        ));
        return Ok(out);
    }
    let checked = match checked {
        Some(c) => c,
        None => check(conn, scope, stored).await?,
    };
    let Checked {
        plan,
        format: file_format,
        ignored,
    } = match checked {
        Ok(x) => x,
        Err(message) => {
            out.file_error = Some(message);
            return Ok(out);
        }
    };
    let c = &plan.counts;
    out.format = file_format;
    out.counts = CountsView {
        create: format::number(c.create),
        update: format::number(c.update),
        unchanged: format::number(c.unchanged),
        refused: format::number(c.refused),
        parents_new: format::number(c.parents_new),
        links_new: format::number(c.links_new),
    };
    out.errors = plan.errors.iter().map(ToString::to_string).collect();
    out.errors_count = format::count(plan.errors.len() as i64, "ошибка", "ошибки", "ошибок");
    out.ignored = ignored
        .iter()
        .map(|h| format!("«{h}»"))
        .collect::<Vec<_>>()
        .join(", ");
    out.pages = plan.rows.len().div_ceil(PREVIEW_PAGE).max(1);
    out.page = page.clamp(1, out.pages);
    out.rows = plan
        .rows
        .iter()
        .skip((out.page - 1) * PREVIEW_PAGE)
        .take(PREVIEW_PAGE)
        .map(|r| RowView {
            number: r.number,
            person: r.person.clone(),
            place: r.place.clone(),
            details: r.details.clone(),
            outcome: r.outcome.label(),
            css: r.outcome.css(),
            notes: r.notes.join("; "),
        })
        .collect();
    Ok(out)
}

async fn preview(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path(path): Path<ImportPath>,
    Query(q): Query<PreviewQuery>,
) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let id = path.id()?;
    let mut conn = state.db.acquire().await?;
    let stored = load_import(&mut conn, scope.tenant(), id, false)
        .await?
        .ok_or(AppError::NotFound)?;
    let notice = match q.done.as_deref() {
        Some("applied") => Some("Импорт выполнен: все строки файла записаны."),
        Some("again") => Some("Этот файл уже импортирован: повторное применение ничего не меняет."),
        _ => None,
    };
    let page = preview_page(
        &mut conn,
        &scope,
        &stored,
        q.page.number() as usize,
        notice,
        None,
    )
    .await?;
    Ok(page.into_response())
}

async fn apply(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path(path): Path<ImportPath>,
) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let id = path.id()?;
    let school = scope.school_id();
    let started = Instant::now();
    let mut tx = state.db.begin().await?;
    // One import at a time in a school: two files applied at once could each create the
    // same new person.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('imports:' || $1::text, 0))::text as locked",
        school.0.to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    let stored = load_import(&mut tx, scope.tenant(), id, true)
        .await?
        .ok_or(AppError::NotFound)?;
    let preview_url = format!("/s/{school}/import/{id}");
    if stored.applied_at.is_some() {
        tx.rollback().await?;
        // Sent again (at once, or after Back): the first submit's answer.
        return Ok(Redirect::to(&format!("{preview_url}?done=applied")).into_response());
    }
    // Checked again from the stored file, against the database as it is now.
    let checked = check(&mut tx, &scope, &stored).await?;
    let plan = match checked {
        Ok(Checked { plan, .. }) if plan.errors.is_empty() => plan,
        other => {
            tx.rollback().await?;
            let mut conn = state.db.acquire().await?;
            let mut page = preview_page(&mut conn, &scope, &stored, 1, None, Some(other)).await?;
            page.refused_now = true;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let maker = crate::offers::Maker::new(&scope, &state.public_url, "import");
    apply::apply(&mut tx, &meta, &maker, &plan).await?;
    let summary = plan.summary();
    // The file held personal data and is not needed once applied (152-FZ: keep the
    // minimum); the summary stays.
    sqlx::query!(
        r#"update imports set applied_at = now(), summary = $3, content = ''::bytea
           where school_id = $1 and id = $2"#,
        school as SchoolId,
        id as ImportId,
        summary
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(school),
            action: "import.applied",
            target: Some(format!("import:{id}")),
            details: Some(format!("«{}»: {summary}", stored.filename)),
        },
    )
    .await?;
    tx.commit().await?;
    crate::db::maintenance::analyze(&state.db, crate::db::maintenance::IMPORT_TABLES).await;
    tracing::info!(
        rows = plan.rows.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import applied"
    );
    Ok(Redirect::to(&format!("{preview_url}?done=applied")).into_response())
}
