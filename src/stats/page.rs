//! «Статистика»: the school's statistics page (headline cards, the table by parallel and by
//! class, queues, the invite funnel and link hygiene, the period), and the same page as
//! aggregates for the deployment operator.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use super::view::StatsQuery;
use super::{Stats, gather, sees_all, sort_rows};
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::auth::region::RegionViewer;
use crate::error::{AppError, AppResult};
use crate::ids::SchoolId;
use crate::web::layout::Layout;

/// A sortable column header.
pub struct Column {
    pub code: &'static str,
    pub title: &'static str,
    pub href: String,
    /// «по возрастанию» / «по убыванию» on the current sort column.
    pub current: Option<&'static str>,
}

pub fn columns(base: &str, period_q: &str, q: &StatsQuery) -> Vec<Column> {
    let cols = [
        ("class", "Класс"),
        ("band", "Зона"),
        ("a1", "Ученики на платформе (A1)"),
        ("a3", "Со связанным родителем (A3)"),
        ("a4", "Родители в чате родителей (A4)"),
        ("a5", "Без связанного родителя (A5)"),
        ("d2", "Обязательные чаты (D2)"),
    ];
    let sort = if q.sort.is_empty() {
        "band"
    } else {
        q.sort.as_str()
    };
    cols.iter()
        .map(|(code, title)| {
            let on = sort == *code;
            let next = if on && q.dir != "desc" { "desc" } else { "asc" };
            Column {
                code,
                title,
                href: format!("{base}?{period_q}&sort={code}&dir={next}"),
                current: on.then_some(if q.dir == "desc" {
                    "по убыванию"
                } else {
                    "по возрастанию"
                }),
            }
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/school.html")]
struct Page {
    layout: Layout,
    /// Where the page lives (`/s/{id}/stats` or the operator's).
    base: String,
    school_name: String,
    stats: Stats,
    columns: Vec<Column>,
    /// `period=…` to keep in links.
    period_q: String,
    q: StatsQuery,
    periods: [(&'static str, &'static str); 4],
    /// The school's links (report, files) exist only inside the school.
    in_school: bool,
    can_report: bool,
    unused_days: i32,
}

const PERIODS: [(&str, &str); 4] = [
    ("week", "эта неделя"),
    ("month", "этот месяц"),
    ("year", "этот учебный год"),
    ("custom", "свой период"),
];

pub async fn school_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewStatistics)?;
    let mut conn = state.db.acquire().await?;
    let only = (!sees_all(&scope)).then(|| scope.actor().id());
    let unused_days = state.config.stale_invite_days;
    let mut stats = gather(
        &mut conn,
        scope.tenant(),
        scope.timezone(),
        only,
        &q,
        unused_days,
    )
    .await?;
    sort_rows(&mut stats.rows, &q.sort, &q.dir);
    let facts = scope.facts();
    for r in &mut stats.rows {
        // The list of children is the administrator's and the class teacher's (LeadsClass).
        r.link = facts.can_on(Action::RecordParticipation, &Target::Class(r.row.class_id));
    }
    let base = format!("/s/{}/stats", scope.school_id());
    let period_q = stats.period.query();
    Ok(Page {
        layout: Layout::for_scope(&scope),
        columns: columns(&base, &period_q, &q),
        base,
        school_name: scope.school_name().to_owned(),
        stats,
        period_q,
        q,
        periods: PERIODS,
        in_school: true,
        can_report: scope.can(Action::ViewStatisticsReport),
        unused_days,
    }
    .into_response())
}

/// The region's view of one school (the operator, a regional specialist): the same
/// figures, school and class aggregates only.
pub async fn region_school_page(
    State(state): State<AppState>,
    viewer: RegionViewer,
    Path(school): Path<SchoolId>,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let Some((tenant, name, tz)) = viewer.tenant(&mut conn, school).await? else {
        return Err(AppError::NotFound);
    };
    let unused_days = state.config.stale_invite_days;
    let mut stats = gather(&mut conn, tenant, &tz, None, &q, unused_days).await?;
    sort_rows(&mut stats.rows, &q.sort, &q.dir);
    let base = format!("/region/schools/{school}/stats");
    let period_q = stats.period.query();
    Ok(Page {
        layout: viewer.layout(),
        columns: columns(&base, &period_q, &q),
        base,
        school_name: name,
        stats,
        period_q,
        q,
        periods: PERIODS,
        in_school: false,
        can_report: false,
        unused_days,
    }
    .into_response())
}
