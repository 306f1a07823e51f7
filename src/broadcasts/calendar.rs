//! The school's calendar (a week or a month, as a list of days that reads on a phone too)
//! and a single broadcast as an `.ics` file.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime};

use super::ical::{self, Event};
use super::pages::{Item, items, visible};
use super::queries::{self, Broadcast, Which};
use super::recurrence;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Action;
use crate::error::AppResult;
use crate::ids::{BroadcastId, SchoolId};
use crate::web::format;
use crate::web::layout::Layout;

#[derive(Deserialize, Default)]
pub struct CalendarQuery {
    #[serde(default)]
    view: String,
    #[serde(default)]
    date: String,
}

pub struct Day {
    pub title: String,
    pub items: Vec<Item>,
}

#[derive(Template, WebTemplate)]
#[template(path = "broadcasts/calendar.html")]
struct CalendarPage {
    layout: Layout,
    base: String,
    month: bool,
    heading: String,
    days: Vec<Day>,
    prev: String,
    next: String,
    anchor: String,
    can_plan: bool,
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

const WEEKDAYS: [&str; 7] = [
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
];

pub async fn school(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<CalendarQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewSchoolCalendar)?;
    let tz = scope.timezone();
    let today = recurrence::local_date(OffsetDateTime::now_utc(), tz);
    let anchor = crate::web::form::parse_date(&q.date).unwrap_or(today);
    let month = q.view == "month";
    let (from, to, prev, next) = if month {
        let first = anchor.replace_day(1).unwrap_or(anchor);
        let next_first = (first + Duration::days(32)).replace_day(1).unwrap_or(first);
        let prev_first = (first - Duration::days(1)).replace_day(1).unwrap_or(first);
        (
            first,
            next_first - Duration::days(1),
            prev_first,
            next_first,
        )
    } else {
        let monday = anchor - Duration::days(i64::from(anchor.weekday().number_days_from_monday()));
        (
            monday,
            monday + Duration::days(6),
            monday - Duration::days(7),
            monday + Duration::days(7),
        )
    };
    let mut conn = state.db.acquire().await?;
    let list = queries::load(&mut conn, scope.tenant(), Which::All).await?;
    let all = items(&list, tz, from, to);
    let mut days = Vec::new();
    let mut d = from;
    while d <= to {
        let title = format::date(d);
        let its: Vec<Item> = all
            .iter()
            .filter(|i| i.day == title)
            .map(clone_item)
            .collect();
        if !month || !its.is_empty() {
            days.push(Day {
                title: format!(
                    "{}, {}",
                    WEEKDAYS[usize::from(d.weekday().number_days_from_monday())],
                    format::date_prose(d)
                ),
                items: its,
            });
        }
        d += Duration::days(1);
    }
    Ok(CalendarPage {
        layout: Layout::for_scope(&scope),
        base: format!("/s/{}", scope.school_id()),
        month,
        heading: format!("{} — {}", format::date(from), format::date(to)),
        days,
        prev: iso(prev),
        next: iso(next),
        anchor: iso(anchor),
        can_plan: scope.can(Action::PlanBroadcasts),
    }
    .into_response())
}

fn clone_item(i: &Item) -> Item {
    Item {
        id: i.id,
        when: i.when.clone(),
        day: i.day.clone(),
        kind: i.kind,
        title: i.title.clone(),
        audience: i.audience.clone(),
        host: i.host.clone(),
        state: i.state,
        cancelled: i.cancelled,
        join_url: i.join_url.clone(),
    }
}

/// The host part of the portal's address, for UIDs.
pub fn uid_host(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(public_url);
    rest.split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("school-portal")
        .to_owned()
}

/// The feed's window: a week back, ninety days ahead (school dates).
pub fn window(tz: &str) -> (Date, Date) {
    let today = recurrence::local_date(OffsetDateTime::now_utc(), tz);
    (today - Duration::days(7), today + Duration::days(90))
}

/// The events of `list` in the window: one per occurrence, with a stable UID.
pub fn events(list: &[Broadcast], tz: &str, host: &str, from: Date, to: Date) -> Vec<Event> {
    let mut out = Vec::new();
    for b in list {
        for (o, cancelled) in b.occurrences(tz, from, to) {
            let mut description = format!("{}. Ведёт: {}.", b.kind.title(), b.host_name);
            description.push_str(&format!(" Приглашены: {}.", b.audience_text()));
            out.push(Event {
                uid: format!(
                    "broadcast-{}-{:04}{:02}{:02}@{host}",
                    b.id,
                    o.date.year(),
                    u8::from(o.date.month()),
                    o.date.day()
                ),
                dtstamp: b.updated_at,
                sequence: b.sequence,
                start: o.starts_at,
                end: o.starts_at + Duration::minutes(i64::from(b.duration_minutes)),
                summary: format!("{}: {}", capitalise(b.kind.title()), b.title),
                description,
                url: Some(b.join_url.clone()).filter(|u| !u.is_empty()),
                cancelled,
            });
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One broadcast (all its occurrences in the window) as an `.ics` download.
pub async fn ics(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewBroadcasts)?;
    let mut conn = state.db.acquire().await?;
    let b = visible(&mut conn, &scope, id).await?;
    let tz = scope.timezone();
    let (from, to) = window(tz);
    let evs = events(
        std::slice::from_ref(&b),
        tz,
        &uid_host(&state.public_url),
        from.min(recurrence::local_date(b.starts_at, tz)),
        to,
    );
    let body = ical::calendar(&b.title, tz, &evs);
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"broadcast.ics\""),
    );
    Ok(res)
}
