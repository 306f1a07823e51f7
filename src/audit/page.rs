//! The audit log page (SECURITY.md 26) for the administrator and the director: filter by
//! person, action (a list of Russian titles), object and date; newest first, paginated by
//! keyset (the row id), so a page deep in a long log costs the same as the first; the
//! same rows as a CSV file. Besides the school's own rows it shows its members' logins,
//! failed logins and password and session changes (written without a school). People
//! and objects are shown by name, looked up for the page's rows once the page is chosen
//! ([`names::resolve`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::actions::{self, ACCOUNT_ACTIONS, ACTIONS};
use super::names;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::{Access, Action};
use crate::error::AppResult;
use crate::ids::{AccountId, SchoolId};
use crate::web::Routes;
use crate::web::clock::SchoolClock;
use crate::web::csv::{self, Csv};
use crate::web::form::parse_date;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::query::{like_contains, like_prefix};
use crate::web::request_meta::RequestMeta;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/audit",
        Access::School(Action::ViewAuditLog),
        page,
    )
    .get(
        "/s/{school_id}/audit.csv",
        Access::School(Action::ViewAuditLog),
        csv_file,
    )
}

/// The Russian title of an action code (see [`super::actions`]).
pub fn action_title(action: &str) -> String {
    actions::title(action).to_owned()
}

const PAGE_SIZE: i64 = 50;
/// The most rows one CSV file holds (the newest of the filter); narrow the dates for more.
pub const CSV_ROWS: i64 = 20_000;

#[derive(Deserialize, Default)]
struct Filters {
    #[serde(default)]
    person: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Keyset cursor: rows with a smaller id than this.
    before: Option<i64>,
}

impl Filters {
    /// The filters as a query string (without the cursor), for the next page and the CSV.
    fn query(&self) -> String {
        format!(
            "person={}&action={}&target={}&from={}&to={}",
            crate::error::urlencode(self.person.trim()),
            crate::error::urlencode(self.action.trim()),
            crate::error::urlencode(self.target.trim()),
            crate::error::urlencode(self.from.trim()),
            crate::error::urlencode(self.to.trim())
        )
    }
}

struct Row {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    details: String,
    ip: String,
    request_id: String,
}

/// One option of the action filter.
struct Choice {
    code: &'static str,
    title: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
struct Page {
    layout: Layout,
    school_id: SchoolId,
    person: String,
    action: String,
    /// An action typed into the address that is no code of the list (a prefix, an old code).
    action_other: bool,
    choices: Vec<Choice>,
    target: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    next: Option<String>,
    first_page: bool,
    filter_query: String,
}

/// A filter as typed, or `None` when left empty.
fn typed(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// The rows of the filter, newest first, at most `limit`, with people and objects by name.
async fn fetch(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    f: &Filters,
    limit: i64,
) -> sqlx::Result<Vec<Row>> {
    let tz = scope.timezone().to_owned();
    let clock = SchoolClock::of(scope);
    let from = parse_date(&f.from).map(|d| clock.start_of(d));
    let to = parse_date(&f.to).map(|d| clock.end_of(d));
    // A code from the list matches itself only («Вход» is not «Неудачный вход»); anything
    // else typed into the address is a prefix («movement» for every movement).
    let (exact, prefix) = match typed(&f.action) {
        Some(a) if actions::known(a) => (Some(a.to_owned()), None),
        Some(a) => (None, Some(like_prefix(a))),
        None => (None, None),
    };
    let account_actions: Vec<String> = ACCOUNT_ACTIONS.iter().map(|a| (*a).to_owned()).collect();
    // The page is chosen from audit_log alone (issue 10): the school's rows by
    // (school, id), and its members' account rows (written without a school) member by
    // member by (actor, id) where the school is null, each newest first and at most
    // `limit`; the newest `limit` of both are the page. Names are looked up after.
    let rows = sqlx::query!(
        r#"with members as (
             select m.account_id from memberships m where m.school_id = $1
             union
             select g.account_id from admin_grants g where g.school_id = $1
           )
           select p.id as "id!", p.at as "at!", p.actor_id as "actor_id?: AccountId",
                  p.action as "action!", p.target, p.details, p.ip, p.request_id
           from ((select l.id, l.at, l.actor_id, l.action, l.target, l.details, l.ip, l.request_id
              from audit_log l
              where l.school_id = $1
                and ($2::text is null or exists(
                      select 1 from accounts a where a.id = l.actor_id
                        and name_key(a.surname || ' ' || a.given_name || ' ' || coalesce(a.patronymic, ''))
                            like name_key($2)))
                and ($3::text is null or l.action = $3)
                and ($4::text is null or l.action like $4)
                and ($5::text is null or l.target ilike $5 or l.details ilike $5
                     or l.target in (select audit_targets_named($1, $5)))
                and ($6::timestamptz is null or l.at >= $6)
                and ($7::timestamptz is null or l.at < $7)
                and ($8::bigint is null or l.id < $8)
              order by l.id desc limit $9)
           union all
           (select o.* from members mb cross join lateral (
              select l.id, l.at, l.actor_id, l.action, l.target, l.details, l.ip, l.request_id
              from audit_log l
              where l.actor_id = mb.account_id and l.school_id is null and l.action = any($10)
                and ($2::text is null or exists(
                      select 1 from accounts a where a.id = l.actor_id
                        and name_key(a.surname || ' ' || a.given_name || ' ' || coalesce(a.patronymic, ''))
                            like name_key($2)))
                and ($3::text is null or l.action = $3)
                and ($4::text is null or l.action like $4)
                and ($5::text is null or l.target ilike $5 or l.details ilike $5
                     or l.target in (select audit_targets_named($1, $5)))
                and ($6::timestamptz is null or l.at >= $6)
                and ($7::timestamptz is null or l.at < $7)
                and ($8::bigint is null or l.id < $8)
              order by l.id desc limit $9) o)) p
           order by p.id desc limit $9"#,
        scope.school_id() as SchoolId,
        typed(&f.person).map(like_contains),
        exact,
        prefix,
        typed(&f.target).map(like_contains),
        from,
        to,
        f.before,
        limit,
        &account_actions,
    )
    .fetch_all(&mut *conn)
    .await?;
    // The page's people and objects by name, looked up after the page is chosen: one
    // cheap query for its rows, not fifteen joins planned on every request (issue 10).
    // An account is an object like any other there, so the actors go in the same list.
    let ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| names::target_id(r.target.as_deref()?))
        .chain(rows.iter().filter_map(|r| r.actor_id.map(|a| a.0)))
        .collect();
    let found = names::resolve(conn, scope.tenant(), &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = r
                .target
                .as_deref()
                .and_then(names::target_id)
                .and_then(|id| found.get(&id))
                .map(String::as_str);
            let actor = r
                .actor_id
                .and_then(|a| found.get(&a.0))
                .filter(|n| !n.is_empty());
            Row {
                id: r.id,
                at: format::datetime(r.at, &tz),
                actor: actor.cloned().unwrap_or_else(|| "—".to_owned()),
                action: action_title(&r.action),
                target: names::target(r.target.as_deref(), name),
                details: names::details(r.details.as_deref().unwrap_or_default()),
                ip: r.ip.unwrap_or_default(),
                request_id: r.request_id.unwrap_or_default(),
            }
        })
        .collect())
}

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(f): Query<Filters>,
) -> AppResult<Response> {
    scope.require(Action::ViewAuditLog)?;
    let mut conn = state.db.acquire().await?;
    let mut rows = fetch(&mut conn, &scope, &f, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next = if more {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let action = f.action.trim().to_owned();
    Ok(Page {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        filter_query: f.query(),
        action_other: !action.is_empty() && !actions::known(&action),
        action,
        choices: ACTIONS
            .iter()
            .map(|(code, title)| Choice { code, title })
            .collect(),
        person: f.person,
        target: f.target,
        from: f.from,
        to: f.to,
        rows,
        next,
        first_page: f.before.is_none(),
    }
    .into_response())
}

/// The filtered log as a CSV file (the newest [`CSV_ROWS`] rows); the export is audited.
async fn csv_file(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Query(mut f): Query<Filters>,
) -> AppResult<Response> {
    scope.require(Action::ViewAuditLog)?;
    f.before = None;
    let mut conn = state.db.acquire().await?;
    let rows = fetch(&mut conn, &scope, &f, CSV_ROWS).await?;
    let mut out = Csv::new();
    out.row([
        "Когда",
        "Кто",
        "Действие",
        "Объект",
        "Подробности",
        "IP",
        "Код запроса",
    ])?;
    for r in &rows {
        out.row([
            &r.at,
            &r.actor,
            &r.action,
            &r.target,
            &r.details,
            &r.ip,
            &r.request_id,
        ])?;
    }
    super::in_school(
        &mut conn,
        &meta,
        &scope,
        "export.audit",
        Some(format!("school:{}", scope.school_id())),
        Some(format::count(
            rows.len() as i64,
            "строка",
            "строки",
            "строк",
        )),
    )
    .await?;
    let name = format!("audit-{}.csv", SchoolClock::of(&scope).file_date());
    Ok(csv::attachment(&name, out.finish()?))
}
