//! The region's view for the deployment operator and the regional specialists (issue 11, items 4 and 6; STATISTICS.md A6, A7):
//! every school with its headline figures from its latest daily snapshot (so the page
//! stays fast at thousands of schools, and says the date of each), the municipality when
//! the school records one, a filter by it, the bottom ten, the share of schools connected
//! (A6, live), the band distribution (A7), exports. School-level aggregates only.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;
use time::Date;

use super::exports::{self, Cell, Table};
use super::view::{self, Band, Share, StatsQuery};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::RequestMeta;
use crate::auth::region::RegionViewer;
use crate::error::{AppError, AppResult};
use crate::ids::SchoolId;
use crate::web::format;
use crate::web::layout::Layout;

/// Rows per page of the region table.
const PER_PAGE: usize = 100;

/// One school as the region sees it.
#[derive(Debug, Clone)]
pub struct SchoolRow {
    pub id: SchoolId,
    pub name: String,
    pub municipality: Option<String>,
    /// The day of the snapshot the figures come from; `None`: no snapshot yet.
    pub day: Option<Date>,
    pub a1: Share,
    pub a2: Share,
    pub a3: Share,
    pub d1: Share,
    pub d2: Share,
    /// A6: an administrator, «Учительская», classes and members.
    pub connected: bool,
    pub worst: Option<i64>,
    pub band: Band,
}

impl SchoolRow {
    pub fn day_text(&self) -> String {
        self.day
            .map(format::date)
            .unwrap_or_else(|| "снимка ещё нет".to_owned())
    }
}

/// Every school (or a municipality's), worst first.
pub async fn school_rows(
    conn: &mut PgConnection,
    municipality: Option<&str>,
) -> sqlx::Result<Vec<SchoolRow>> {
    let rows = sqlx::query!(
        r#"select s.id as "id: SchoolId", s.name, s.municipality,
             d.day as "day?", d.students as "students?", d.students_connected as "students_connected?",
             d.staff as "staff?", d.staff_verified as "staff_verified?",
             d.students_with_parent as "with_parent?", d.classes as "classes?",
             d.classes_all_chats as "all_chats?", d.classes_verified_teacher as "verified_teacher?",
             (exists(select 1 from active_admin_grants g where g.school_id = s.id)
              and exists(select 1 from classes c where c.school_id = s.id and c.kind = 'staffroom')
              and exists(select 1 from classes c join academic_years y
                           on y.school_id = c.school_id and y.id = c.academic_year_id and y.is_current
                         where c.school_id = s.id and c.kind = 'class' and c.archived_at is null)
              and exists(select 1 from memberships m where m.school_id = s.id and m.status = 'active')
             ) as "connected!"
           from schools s
           left join lateral (
             select * from stats_school_days x where x.school_id = s.id order by x.day desc limit 1
           ) d on true
           where $1::text is null or s.municipality = $1"#,
        municipality
    )
    .fetch_all(conn)
    .await?;
    let mut out: Vec<SchoolRow> = rows
        .into_iter()
        .map(|r| {
            let s = |a: Option<i32>, b: Option<i32>| {
                Share::new(i64::from(a.unwrap_or(0)), i64::from(b.unwrap_or(0)))
            };
            let a1 = s(r.students_connected, r.students);
            let a2 = s(r.staff_verified, r.staff);
            let a3 = s(r.with_parent, r.students);
            let worst = [a1, a2, a3].iter().filter_map(|x| x.percent()).min();
            SchoolRow {
                id: r.id,
                name: r.name,
                municipality: r.municipality,
                day: r.day,
                a1,
                a2,
                a3,
                d1: s(r.verified_teacher, r.classes),
                d2: s(r.all_chats, r.classes),
                connected: r.connected,
                worst,
                band: Band::of(worst),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.worst
            .unwrap_or(-1)
            .cmp(&b.worst.unwrap_or(-1))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// The municipalities schools record, for the filter.
async fn municipalities(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select distinct municipality as "m!" from schools where municipality is not null
           order by 1"#
    )
    .fetch_all(conn)
    .await
}

/// A7: schools per band of one share.
pub fn distribution(rows: &[SchoolRow], f: fn(&SchoolRow) -> Share) -> [i64; 4] {
    let mut out = [0i64; 4];
    for r in rows.iter().filter(|r| r.day.is_some()) {
        out[view::region_band(f(r).percent())] += 1;
    }
    out
}

pub struct Distribution {
    pub title: &'static str,
    pub counts: [i64; 4],
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/region.html")]
struct RegionPage {
    layout: Layout,
    rows: Vec<SchoolRow>,
    bottom: Vec<SchoolRow>,
    total: usize,
    a6: Share,
    distributions: Vec<Distribution>,
    bands: [&'static str; 4],
    municipalities: Vec<String>,
    municipality: String,
    page: usize,
    pages: usize,
    as_of: String,
    without_snapshot: usize,
}

/// The municipality shown: a specialist's own, or the filter chosen.
fn chosen<'a>(viewer: &'a RegionViewer, q: &'a StatsQuery) -> Option<&'a str> {
    viewer
        .municipality()
        .or(Some(q.municipality.trim()).filter(|m| !m.is_empty()))
}

pub async fn region_page(
    State(state): State<AppState>,
    viewer: RegionViewer,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let rows = school_rows(&mut conn, chosen(&viewer, &q)).await?;
    let total = rows.len();
    let a6 = Share::new(
        rows.iter().filter(|r| r.connected).count() as i64,
        total as i64,
    );
    let distributions = vec![
        Distribution {
            title: "Ученики на платформе (A1)",
            counts: distribution(&rows, |r| r.a1),
        },
        Distribution {
            title: "Сотрудники подтверждены (A2)",
            counts: distribution(&rows, |r| r.a2),
        },
        Distribution {
            title: "Ученики со связанным родителем (A3)",
            counts: distribution(&rows, |r| r.a3),
        },
    ];
    let bottom: Vec<SchoolRow> = rows
        .iter()
        .filter(|r| r.day.is_some())
        .take(10)
        .cloned()
        .collect();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = (q.page.number() as usize).clamp(1, pages);
    let without_snapshot = rows.iter().filter(|r| r.day.is_none()).count();
    let shown: Vec<SchoolRow> = rows
        .into_iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    Ok(RegionPage {
        layout: viewer.layout(),
        rows: shown,
        bottom,
        total,
        a6,
        distributions,
        bands: view::REGION_BANDS,
        municipalities: match viewer.municipality() {
            Some(m) => vec![m.to_owned()],
            None => municipalities(&mut conn).await?,
        },
        municipality: chosen(&viewer, &q).unwrap_or_default().to_owned(),
        page,
        pages,
        as_of: as_of(),
        without_snapshot,
    }
    .into_response())
}

fn as_of() -> String {
    format!(
        "Данные на {} (МСК); показатели школ — по последнему ежедневному снимку, его дата в строке",
        format::datetime(time::OffsetDateTime::now_utc(), "Europe/Moscow")
    )
}

fn region_table(rows: &[SchoolRow], municipality: Option<&str>) -> Table {
    Table {
        title: "Статистика региона".to_owned(),
        lines: vec![
            as_of(),
            format!("Муниципалитет: {}", municipality.unwrap_or("все")),
        ],
        headers: vec![
            "Школа",
            "Муниципалитет",
            "Дата снимка",
            "Доля учеников на платформе",
            "Доля сотрудников подтверждена",
            "Доля учеников со связанным родителем",
            "Доля классов с подтверждённым классным руководителем",
            "Доля классов со всеми обязательными чатами",
            "Учеников",
            "Подключена к платформе",
            "Зона",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(r.name.clone()),
                    Cell::Text(r.municipality.clone().unwrap_or_default()),
                    Cell::Text(r.day.map(format::date).unwrap_or_default()),
                    Cell::Pct(r.a1),
                    Cell::Pct(r.a2),
                    Cell::Pct(r.a3),
                    Cell::Pct(r.d1),
                    Cell::Pct(r.d2),
                    Cell::Int(r.a1.whole),
                    Cell::Text(if r.connected { "да" } else { "нет" }.to_owned()),
                    Cell::Text(r.band.title().to_owned()),
                ]
            })
            .collect(),
    }
}

async fn region_file(
    state: &AppState,
    viewer: &RegionViewer,
    meta: &RequestMeta,
    q: &StatsQuery,
    format: &str,
) -> AppResult<Table> {
    let mut conn = state.db.acquire().await?;
    let rows = school_rows(&mut conn, chosen(viewer, q)).await?;
    audit::record(
        &mut conn,
        meta,
        Entry {
            actor: Some(viewer.actor().id()),
            school: None,
            action: "stats.region_exported",
            target: Some("region".to_owned()),
            details: Some(format!("{format}; школ: {}", rows.len())),
        },
    )
    .await?;
    Ok(region_table(&rows, chosen(viewer, q)))
}

pub async fn region_csv(
    State(state): State<AppState>,
    viewer: RegionViewer,
    meta: RequestMeta,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let t = region_file(&state, &viewer, &meta, &q, "CSV").await?;
    let body = exports::to_csv(&t)?;
    Ok(exports::file(body, exports::CSV, "region.csv"))
}

pub async fn region_xlsx(
    State(state): State<AppState>,
    viewer: RegionViewer,
    meta: RequestMeta,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let t = region_file(&state, &viewer, &meta, &q, "XLSX").await?;
    let body = exports::to_xlsx(&t, "Школы").map_err(|e| AppError::Other(e.into()))?;
    Ok(exports::file(body, exports::XLSX, "region.xlsx"))
}
