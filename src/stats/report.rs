//! «Справка об использовании платформы» (R2.1.r; STATISTICS.md «The director's report»): one
//! A4 document for a period, laid out as a Russian office document (ГОСТ Р 7.0.97): the
//! school's name, the title, the date and the period, the findings with the key numbers, a
//! short table by parallel, the classes that need attention, conclusions and proposals,
//! then «Исполнитель» and a signature line. The numbers are the page's (`gather`).
//! Printable from the browser (print CSS, A4) and downloadable as one self-contained file.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::view::StatsQuery;
use super::{RowView, Stats, gather};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::web::format;

/// The report's own style: inlined into the downloaded file, linked when served.
const CSS: &str = include_str!("../../static/css/stats-report.css");

#[derive(Template, WebTemplate)]
#[template(path = "stats/report.html")]
struct Report {
    school_name: String,
    school_id: SchoolId,
    date: String,
    stats: Stats,
    attention: Vec<RowView>,
    proposals: Vec<String>,
    executor: String,
    director: String,
    download: bool,
    css: &'static str,
}

/// The classes that need attention: red band or a mandatory chat missing, worst first, ten.
pub fn attention(stats: &Stats) -> Vec<RowView> {
    let mut rows: Vec<RowView> = stats
        .rows
        .iter()
        .filter(|r| r.band == super::view::Band::Red || !r.row.all_chats())
        .cloned()
        .collect();
    super::sort_rows(&mut rows, "", "");
    rows.truncate(10);
    rows
}

/// Proposals that follow from the numbers (each says what to do and where).
pub fn proposals(stats: &Stats) -> Vec<String> {
    let mut out = Vec::new();
    let low_family: Vec<&str> = stats
        .rows
        .iter()
        .filter(|r| r.a3.percent().is_some_and(|p| p < 50))
        .map(|r| r.row.title.as_str())
        .collect();
    if !low_family.is_empty() {
        out.push(format!(
            "Распечатать приглашения для родителей {} и передать через классных руководителей.",
            list(&low_family)
        ));
    }
    let no_chats: Vec<String> = stats
        .rows
        .iter()
        .filter(|r| !r.row.all_chats())
        .map(|r| format!("{} ({})", r.row.title, r.missing))
        .collect();
    if !no_chats.is_empty() {
        out.push(format!(
            "Создать недостающие обязательные чаты: {}.",
            no_chats.join("; ")
        ));
    }
    let no_teacher: Vec<&str> = stats
        .rows
        .iter()
        .filter(|r| !r.row.verified_teacher)
        .map(|r| r.row.title.as_str())
        .collect();
    if !no_teacher.is_empty() {
        out.push(format!(
            "Назначить классных руководителей или подтвердить их статус: {}.",
            list(&no_teacher)
        ));
    }
    let a = &stats.activity;
    if a.verification_pending > 0 {
        out.push(format!(
            "Рассмотреть подтверждение статуса: ждут {}.",
            Role::Staff.count(a.verification_pending)
        ));
    }
    if a.requests_pending > 0 {
        out.push(format!(
            "Рассмотреть заявки на вступление: {}.",
            format::count(a.requests_pending, "заявка", "заявки", "заявок")
        ));
    }
    if a.links_expired_unused + a.links_unused_days > 0 {
        out.push("Отозвать неиспользуемые ссылки-приглашения (раздел «Приглашения»).".to_owned());
    }
    if out.is_empty() {
        out.push("Существенных замечаний нет; продолжать работу по Положению.".to_owned());
    }
    out
}

fn list(items: &[&str]) -> String {
    if items.len() > 12 {
        format!("{} и ещё {}", items[..12].join(", "), items.len() - 12)
    } else {
        items.join(", ")
    }
}

pub async fn report(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewStatisticsReport)?;
    let mut conn = state.db.acquire().await?;
    let stats = gather(
        &mut conn,
        scope.tenant(),
        scope.timezone(),
        None,
        &q,
        state.config.stale_invite_days,
    )
    .await?;
    let names = sqlx::query!(
        r#"select s.director_name,
             (select a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')
              from active_admin_grants g join accounts a on a.id = g.account_id
              where g.school_id = s.id order by (g.account_id = $2) desc, g.approved_at limit 1) as admin
           from schools s where s.id = $1"#,
        scope.school_id() as SchoolId,
        scope.actor().id().0
    )
    .fetch_one(&mut *conn)
    .await?;
    let download = q.download == "1";
    if download {
        audit::in_school(
            &mut conn,
            &meta,
            &scope,
            "stats.report_downloaded",
            Some(format!("school:{}", scope.school_id())),
            Some(stats.period.title()),
        )
        .await?;
    }
    let page = Report {
        school_name: scope.school_name().to_owned(),
        school_id: scope.school_id(),
        date: format::date(stats.today),
        attention: attention(&stats),
        proposals: proposals(&stats),
        stats,
        executor: names
            .admin
            .unwrap_or_else(|| "администратор не назначен".to_owned()),
        director: names.director_name.unwrap_or_default(),
        download,
        css: CSS,
    };
    if download {
        return Ok((
            [(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"spravka.html\"",
            )],
            page,
        )
            .into_response());
    }
    Ok(page.into_response())
}
