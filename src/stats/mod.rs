//! Statistics (issue 11, R2.1.r; STATISTICS.md): the school's statistics page for the
//! administrator, the director and the deputies (a class teacher: their own classes), the
//! daily snapshots the trends come from, the director's report, CSV and XLSX exports, the
//! «не участвует» records of voluntary participation, and the region's view for the
//! deployment operator (school-level aggregates only: no person crosses to the operator).

pub mod activity;
pub mod demo;
pub mod exports;
pub mod page;
pub mod participation;
pub mod queries;
pub mod region;
pub mod regional;
pub mod report;
pub mod snapshots;
mod start;
pub use start::{StartNotes, start_notes};
pub mod view;

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};

use crate::auth::extract::SchoolScope;
use crate::auth::permissions::{Access, Action, Role};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, SchoolId};
use crate::web::Routes;
use crate::web::format;
use activity::{Activity, Span};
use queries::{ClassRow, Headline};
use view::{Band, Period, Share, StatsQuery};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/stats",
        Access::School(Action::ViewStatistics),
        page::school_page,
    )
    .get(
        "/s/{school_id}/stats.csv",
        Access::School(Action::ViewStatistics),
        exports::school_csv,
    )
    .get(
        "/s/{school_id}/stats.xlsx",
        Access::School(Action::ViewStatistics),
        exports::school_xlsx,
    )
    .get(
        "/s/{school_id}/stats/report",
        Access::School(Action::ViewStatisticsReport),
        report::report,
    )
    .get(
        "/s/{school_id}/stats/classes/{class_id}",
        Access::School(Action::RecordParticipation),
        participation::class_page,
    )
    .post(
        "/s/{school_id}/stats/classes/{class_id}/participation",
        Access::School(Action::RecordParticipation),
        participation::record,
    )
    .get("/region/stats", Access::Region, region::region_page)
    .get("/region/stats.csv", Access::Region, region::region_csv)
    .get("/region/stats.xlsx", Access::Region, region::region_xlsx)
    .get(
        "/region/schools/{school_id}/stats",
        Access::Region,
        page::region_school_page,
    )
    .get(
        "/operator/regional-specialists",
        Access::Operator,
        regional::list,
    )
    .post(
        "/operator/regional-specialists",
        Access::Operator,
        regional::appoint,
    )
}

/// Every class for the leadership; a class teacher only their own.
pub fn sees_all(scope: &SchoolScope) -> bool {
    [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
        .iter()
        .any(|r| scope.has(*r))
}

/// One class row as every screen and file shows it.
#[derive(Debug, Clone)]
pub struct RowView {
    pub row: ClassRow,
    pub a1: Share,
    pub a1_excl: Share,
    pub a3: Share,
    pub a3_excl: Share,
    pub a4: Share,
    pub band: Band,
    /// The lower of A1 and A3 (the row's band and the default sort: worst first).
    pub worst: Option<i64>,
    pub spark: String,
    pub chats: usize,
    pub missing: String,
    /// Whether the viewer may open the class's list of children (set by the page).
    pub link: bool,
}

/// A parallel (all classes of a grade).
#[derive(Debug, Clone)]
pub struct ParallelView {
    pub grade: i16,
    pub classes: i64,
    pub a1: Share,
    pub a3: Share,
    pub d2: Share,
}

/// A headline card.
#[derive(Debug, Clone)]
pub struct Card {
    pub id: &'static str,
    pub title: &'static str,
    pub share: Share,
    /// «без отказавшихся — …» where refusals are recorded for it.
    pub excl: Option<Share>,
    pub change: String,
    pub band: Band,
}

/// Everything the page, the report and the files show, gathered once.
pub struct Stats {
    pub as_of: String,
    pub today: Date,
    pub period: Period,
    pub headline: Headline,
    pub cards: Vec<Card>,
    pub rows: Vec<RowView>,
    pub parallels: Vec<ParallelView>,
    pub activity: Activity,
    pub own_only: bool,
}

/// The figures of a school now, for every class or only those `only_led_by` leads.
pub async fn gather(
    conn: &mut PgConnection,
    tenant: Tenant,
    tz: &str,
    only_led_by: Option<AccountId>,
    q: &StatsQuery,
    unused_days: i32,
) -> sqlx::Result<Stats> {
    let today = queries::today(conn, tenant).await?;
    let period = Period::parse(q, today);
    let span = span(conn, tenant, period.from, period.to).await?;
    let rows = queries::class_rows(conn, tenant, only_led_by).await?;
    let staff = queries::staff(conn, tenant).await?;
    let headline = Headline::from_rows(&rows, staff);
    let past = snapshots::school_days(conn, tenant, today - time::Duration::days(90)).await?;
    // A class teacher's headline is their classes': the school's snapshot does not compare.
    let week_ago = if only_led_by.is_none() {
        snapshots::at_or_before(&past, today - time::Duration::days(7)).map(|d| d.headline.clone())
    } else {
        None
    };
    // Twelve weekly points: eleven snapshots and today, live.
    let days: Vec<Date> = (1..=11)
        .rev()
        .map(|k| today - time::Duration::weeks(k))
        .collect();
    let series = snapshots::class_series(conn, tenant, &days).await?;
    let activity = activity::activity(conn, tenant, span, only_led_by, unused_days).await?;

    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let mut points: Vec<Option<i64>> = days
            .iter()
            .map(|d| {
                series
                    .iter()
                    .find(|(c, day, _, _)| *c == row.class_id && day == d)
                    .and_then(|(_, _, part, whole)| Share::new(*part, *whole).percent())
            })
            .collect();
        let a1 = Share::new(row.connected, row.students);
        points.push(a1.percent());
        views.push(row_view(row, &points));
    }
    let mut parallels: Vec<ParallelView> = Vec::new();
    for v in &views {
        let p = match parallels.iter_mut().find(|p| p.grade == v.row.grade) {
            Some(p) => p,
            None => {
                parallels.push(ParallelView {
                    grade: v.row.grade,
                    classes: 0,
                    a1: Share::default(),
                    a3: Share::default(),
                    d2: Share::default(),
                });
                let last = parallels.len() - 1;
                &mut parallels[last]
            }
        };
        p.classes += 1;
        p.a1 = Share::new(p.a1.part + v.row.connected, p.a1.whole + v.row.students);
        p.a3 = Share::new(p.a3.part + v.row.with_parent, p.a3.whole + v.row.students);
        p.d2 = Share::new(p.d2.part + i64::from(v.row.all_chats()), p.d2.whole + 1);
    }
    let cards = cards(&headline, week_ago.as_ref(), only_led_by.is_some());
    let now = OffsetDateTime::now_utc();
    Ok(Stats {
        as_of: format!("Данные на {} (время школы)", format::datetime(now, tz)),
        today,
        period,
        headline,
        cards,
        rows: views,
        parallels,
        activity,
        own_only: only_led_by.is_some(),
    })
}

fn row_view(row: ClassRow, points: &[Option<i64>]) -> RowView {
    let a1 = Share::new(row.connected, row.students);
    let a3 = Share::new(row.with_parent, row.students);
    let worst = match (a1.percent(), a3.percent()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    };
    RowView {
        a1,
        a1_excl: Share::new(row.connected_not_refused, row.students - row.refused),
        a3,
        a3_excl: Share::new(
            row.with_parent_not_refused,
            row.students - row.family_refused,
        ),
        a4: Share::new(row.parents_in_chat, row.parents),
        band: Band::of(worst),
        worst,
        spark: view::sparkline(points),
        chats: usize::from(row.students_chat)
            + usize::from(row.parents_chat)
            + usize::from(row.teachers_chat),
        missing: row.missing_chats().join(", "),
        link: false,
        row,
    }
}

fn cards(h: &Headline, week_ago: Option<&Headline>, own_only: bool) -> Vec<Card> {
    let a1 = Share::new(h.connected, h.students);
    let a2 = Share::new(h.staff_verified, h.staff);
    let a3 = Share::new(h.with_parent, h.students);
    let d2 = Share::new(h.classes_all_chats, h.classes);
    let mut out = vec![
        Card {
            id: "a1",
            title: "Ученики на платформе",
            share: a1,
            excl: (h.refused > 0)
                .then(|| Share::new(h.connected_not_refused, h.students - h.refused)),
            change: view::change(a1, week_ago.map(|w| Share::new(w.connected, w.students))),
            band: a1.band(),
        },
        Card {
            id: "a2",
            title: "Сотрудники в Учительской, статус подтверждён",
            share: a2,
            excl: None,
            change: view::change(a2, week_ago.map(|w| Share::new(w.staff_verified, w.staff))),
            band: a2.band(),
        },
        Card {
            id: "a3",
            title: "Ученики со связанным родителем",
            share: a3,
            excl: (h.family_refused > 0)
                .then(|| Share::new(h.with_parent_not_refused, h.students - h.family_refused)),
            change: view::change(a3, week_ago.map(|w| Share::new(w.with_parent, w.students))),
            band: a3.band(),
        },
        Card {
            id: "d2",
            title: "Классы со всеми тремя обязательными чатами",
            share: d2,
            excl: None,
            change: view::change(
                d2,
                week_ago.map(|w| Share::new(w.classes_all_chats, w.classes)),
            ),
            band: d2.band(),
        },
    ];
    if own_only {
        // A2 is the school's, not a class teacher's.
        out.retain(|c| c.id != "a2");
        for c in &mut out {
            c.change = "изменение за неделю — на странице школы".to_owned();
        }
    }
    out
}

/// The local dates [from, to] as UTC instants [from 00:00, to + 1 day 00:00) in the
/// school's zone.
pub async fn span(
    conn: &mut PgConnection,
    tenant: Tenant,
    from: Date,
    to: Date,
) -> sqlx::Result<Span> {
    let r = sqlx::query!(
        r#"select ($2::date::timestamp at time zone s.timezone) as "from!",
                  (($3::date + 1)::timestamp at time zone s.timezone) as "to!"
           from schools s where s.id = $1"#,
        tenant.id() as SchoolId,
        from,
        to
    )
    .fetch_one(conn)
    .await?;
    Ok(Span {
        from: r.from,
        to: r.to,
    })
}

/// Sorts the rows by a column of the page (worst first by default).
pub fn sort_rows(rows: &mut [RowView], sort: &str, dir: &str) {
    let key = |v: &RowView| -> (i64, i64) {
        let p = |s: Share| s.percent().unwrap_or(-1);
        match sort {
            "class" => (i64::from(v.row.grade), 0),
            "a1" => (p(v.a1), 0),
            "a3" => (p(v.a3), 0),
            "a4" => (p(v.a4), 0),
            "a5" => (v.row.without_parent(), 0),
            "d2" => (v.chats as i64, 0),
            _ => (v.worst.unwrap_or(-1), p(v.a1)),
        }
    };
    rows.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.row.title.cmp(&b.row.title))
    });
    if dir == "desc" {
        rows.reverse();
    }
}
