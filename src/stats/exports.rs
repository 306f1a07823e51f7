//! The class table (and the region's table) as files (STATISTICS.md «Export»): CSV in UTF-8
//! with a BOM, `;`-separated, every text cell guarded against formulas; XLSX with Russian
//! headers, a frozen header row, percentages as numbers with a % format and an A4 page
//! set-up. Each file carries the «as of» line and the period, and every download is audited.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::view::{Share, StatsQuery};
use super::{Stats, gather, sees_all, sort_rows};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::{AppError, AppResult};
use crate::web::csv::Csv;

/// One cell of a table to export.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A share as a percentage (empty when there is nobody to count).
    Pct(Share),
}

/// A table with its title lines («as of», period) and headers.
pub struct Table {
    pub title: String,
    pub lines: Vec<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// The table as a CSV file ([`crate::web::csv`]: its settings and its formula guard).
pub fn to_csv(t: &Table) -> AppResult<Vec<u8>> {
    let mut w = Csv::new();
    w.row([&t.title])?;
    for l in &t.lines {
        w.row([l])?;
    }
    w.row(&t.headers)?;
    for row in &t.rows {
        w.row(row.iter().map(|c| match c {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Pct(s) => s.percent().map(|p| p.to_string()).unwrap_or_default(),
        }))?;
    }
    w.finish()
}

pub fn to_xlsx(t: &Table, sheet: &str) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    ws.set_paper_size(9); // A4
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    let bold = Format::new().set_bold();
    let head = Format::new().set_bold().set_text_wrap();
    let pct = Format::new().set_num_format("0%");
    ws.write_string_with_format(0, 0, &t.title, &bold)?;
    let mut r: u32 = 1;
    for l in &t.lines {
        ws.write_string(r, 0, l)?;
        r += 1;
    }
    r += 1;
    for (c, h) in t.headers.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(r, c, *h, &head)?;
        ws.set_column_width(c, if c == 0 { 24 } else { 14 })?;
    }
    ws.set_freeze_panes(r + 1, 0)?;
    ws.set_repeat_rows(r, r)?;
    for row in &t.rows {
        r += 1;
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            match cell {
                Cell::Text(s) => {
                    ws.write_string(r, c, s)?;
                }
                Cell::Int(n) => {
                    ws.write_number(r, c, *n as f64)?;
                }
                Cell::Pct(s) => {
                    if let Some(f) = s.fraction() {
                        ws.write_number_with_format(r, c, f, &pct)?;
                    }
                }
            }
        }
    }
    book.save_to_buffer()
}

/// The class table of the page, in the page's order.
pub fn class_table(school: &str, stats: &Stats) -> Table {
    let yes = |b: bool| Cell::Text(if b { "да" } else { "нет" }.to_owned());
    Table {
        title: format!("Статистика: {school}"),
        lines: vec![
            stats.as_of.clone(),
            format!("Период: {}", stats.period.title()),
        ],
        headers: vec![
            "Класс",
            "Учеников",
            "На платформе",
            "Доля на платформе",
            "Не участвуют (ученики)",
            "Доля без отказавшихся",
            "Со связанным родителем",
            "Доля со связанным родителем",
            "Не участвуют (семьи)",
            "Доля без отказавшихся семей",
            "Связанных родителей",
            "Родителей в чате родителей",
            "Доля родителей в чате",
            "Без связанного родителя",
            "Обязательных чатов из 3",
            "Классный руководитель подтверждён",
            "Зона",
        ],
        rows: stats
            .rows
            .iter()
            .map(|v| {
                vec![
                    Cell::Text(v.row.title.clone()),
                    Cell::Int(v.row.students),
                    Cell::Int(v.row.connected),
                    Cell::Pct(v.a1),
                    Cell::Int(v.row.refused),
                    Cell::Pct(v.a1_excl),
                    Cell::Int(v.row.with_parent),
                    Cell::Pct(v.a3),
                    Cell::Int(v.row.family_refused),
                    Cell::Pct(v.a3_excl),
                    Cell::Int(v.row.parents),
                    Cell::Int(v.row.parents_in_chat),
                    Cell::Pct(v.a4),
                    Cell::Int(v.row.without_parent()),
                    Cell::Int(v.chats as i64),
                    yes(v.row.verified_teacher),
                    Cell::Text(v.band.title().to_owned()),
                ]
            })
            .collect(),
    }
}

/// A file to download.
pub fn file(body: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub const CSV: &str = crate::web::csv::CONTENT_TYPE;

async fn school_table(
    state: &AppState,
    scope: &SchoolScope,
    meta: &RequestMeta,
    q: &StatsQuery,
    format: &str,
) -> AppResult<Table> {
    scope.require(Action::ViewStatistics)?;
    let mut conn = state.db.acquire().await?;
    let only = (!sees_all(scope)).then(|| scope.actor().id());
    let mut stats = gather(
        &mut conn,
        scope.tenant(),
        scope.timezone(),
        only,
        q,
        state.config.stale_invite_days,
    )
    .await?;
    sort_rows(&mut stats.rows, &q.sort, &q.dir);
    audit::in_school(
        &mut conn,
        meta,
        scope,
        "stats.exported",
        Some(format!("school:{}", scope.school_id())),
        Some(format!(
            "{format}; {}; классов: {}",
            stats.period.title(),
            stats.rows.len()
        )),
    )
    .await?;
    Ok(class_table(scope.school_name(), &stats))
}

pub async fn school_csv(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let t = school_table(&state, &scope, &meta, &q, "CSV").await?;
    let body = to_csv(&t)?;
    Ok(file(body, CSV, "statistics.csv"))
}

pub async fn school_xlsx(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Query(q): Query<StatsQuery>,
) -> AppResult<Response> {
    let t = school_table(&state, &scope, &meta, &q, "XLSX").await?;
    let body = to_xlsx(&t, "Классы").map_err(|e| AppError::Other(e.into()))?;
    Ok(file(body, XLSX, "statistics.xlsx"))
}
