//! The audit log page (SECURITY.md 26) for the administrator and the director: filter by
//! person, action, target and date; newest first, paginated by keyset (the row id), so a
//! page deep in a long log costs the same as the first.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::{Access, Action};
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::web::clock::SchoolClock;
use crate::web::form::parse_date;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::query::{like_contains, like_prefix};
use crate::web::{Routes, render};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/audit",
        Access::School(Action::ViewAuditLog),
        page,
    )
}

/// The Russian words for an action code (unknown codes are shown as they are).
pub fn action_title(action: &str) -> String {
    let known = [
        ("login", "вход"),
        ("login.failed", "неудачный вход"),
        ("logout", "выход"),
        ("access.denied", "отказ в доступе"),
        ("school.created", "школа создана"),
        ("school.profile_updated", "профиль школы изменён"),
        ("admin.appointed", "назначен администратор"),
        ("password.changed", "пароль изменён"),
        ("password.set_by_link", "пароль задан по ссылке"),
        ("session.ended", "сеанс завершён"),
        ("session.ended_all", "выход на всех устройствах"),
        ("class.created", "класс создан"),
        ("class.updated", "класс изменён"),
        ("class.deleted", "класс удалён"),
        ("person.staff_added", "сотрудник добавлен"),
        ("verification.confirmed", "статус подтверждён"),
        ("verification.rejected", "статус отклонён"),
        ("class_teacher.order", "приказ о классном руководстве"),
        ("class_teacher.assigned", "назначен классный руководитель"),
        ("class_teacher.removed", "классное руководство снято"),
        (
            "admin_rights.proposed",
            "предложено выдать права администратора",
        ),
        ("admin_rights.approved", "права администратора согласованы"),
        (
            "admin_rights.rejected",
            "права администратора не согласованы",
        ),
        ("admin_rights.revoked", "права администратора отозваны"),
        ("subject.created", "предмет добавлен"),
        ("subject.archived", "предмет в архиве"),
        ("teaching.assigned", "назначен учитель предмета"),
        ("teaching.removed", "назначение учителя снято"),
        ("regulation.edition_added", "новая редакция Положения"),
        ("movement.enrolment", "зачисление"),
        ("movement.transfer", "перевод"),
        ("movement.leaving", "выбытие"),
        ("movement.staff_leaving", "выбытие сотрудника"),
        ("rollover.applied", "переход на новый учебный год"),
        ("import.applied", "импорт"),
        ("export.students", "экспорт учеников"),
        ("export.staff", "экспорт сотрудников"),
        ("export.movements", "экспорт движения"),
        ("people.corrected", "данные исправлены"),
        (
            "consent.parent_given",
            "согласие родителя на участие в чатах",
        ),
        ("consent.own_given", "согласие ученика на участие в чатах"),
        (
            "school.consent_setting",
            "настройка согласий родителей изменена",
        ),
    ];
    known
        .iter()
        .find(|(code, _)| *code == action)
        .map(|(_, title)| (*title).to_owned())
        .unwrap_or_else(|| action.to_owned())
}

const PAGE_SIZE: i64 = 50;

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

struct Row {
    at: String,
    actor: String,
    action: String,
    target: String,
    details: String,
    ip: String,
    request_id: String,
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct Page {
    layout: Layout,
    school_id: SchoolId,
    person: String,
    action: String,
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

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(f): Query<Filters>,
) -> AppResult<Response> {
    scope.require(Action::ViewAuditLog)?;
    let tz = scope.timezone().to_owned();
    let clock = SchoolClock::of(&scope);
    let from = parse_date(&f.from).map(|d| clock.start_of(d));
    let to = parse_date(&f.to).map(|d| clock.end_of(d));
    let mut conn = state.db.acquire().await?;
    let rows = sqlx::query!(
        r#"select l.id, l.at, l.action, l.target, l.details, l.ip, l.request_id,
                  coalesce(a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, ''), '—') as "actor!"
           from audit_log l left join accounts a on a.id = l.actor_id
           where l.school_id = $1
             and ($2::text is null or translate(lower(coalesce(a.surname || ' ' || a.given_name || ' ' || coalesce(a.patronymic, ''), '')), 'ё', 'е')
                             like translate(lower($2), 'ё', 'е'))
             and ($3::text is null or l.action like $3)
             and ($4::text is null or l.target ilike $4 or l.details ilike $4)
             and ($5::timestamptz is null or l.at >= $5)
             and ($6::timestamptz is null or l.at < $6)
             and ($7::bigint is null or l.id < $7)
           order by l.id desc
           limit $8"#,
        scope.school_id() as SchoolId,
        typed(&f.person).map(like_contains),
        typed(&f.action).map(like_prefix),
        typed(&f.target).map(like_contains),
        from,
        to,
        f.before,
        PAGE_SIZE + 1
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let last_id = rows
        .get((PAGE_SIZE as usize).min(rows.len()).saturating_sub(1))
        .map(|r| r.id);
    let filter_query = format!(
        "person={}&action={}&target={}&from={}&to={}",
        crate::error::urlencode(f.person.trim()),
        crate::error::urlencode(f.action.trim()),
        crate::error::urlencode(f.target.trim()),
        crate::error::urlencode(f.from.trim()),
        crate::error::urlencode(f.to.trim())
    );
    let rows = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| Row {
            at: format::datetime(r.at, &tz),
            actor: r.actor,
            action: action_title(&r.action),
            target: r.target.unwrap_or_default(),
            details: r.details.unwrap_or_default(),
            ip: r.ip.unwrap_or_default(),
            request_id: r.request_id.unwrap_or_default(),
        })
        .collect();
    Ok(render(&Page {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        person: f.person,
        action: f.action,
        target: f.target,
        from: f.from,
        to: f.to,
        rows,
        next: if more {
            last_id.map(|id| id.to_string())
        } else {
            None
        },
        first_page: f.before.is_none(),
        filter_query,
    })?
    .into_response())
}
