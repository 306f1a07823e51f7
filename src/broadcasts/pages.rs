//! «Мои трансляции», a broadcast's page, and planning a new one.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use time::{Date, Duration, OffsetDateTime};

use super::model::{self, Audience, BState, Kind, Planner};
use super::queries::{self, Broadcast, ClassChoice, HostChoice, Which};
use super::recurrence;
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, BroadcastId, ClassId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

/// One occurrence in a list.
pub struct Item {
    pub id: BroadcastId,
    pub when: String,
    pub day: String,
    pub kind: &'static str,
    pub title: String,
    pub audience: String,
    pub host: String,
    pub state: &'static str,
    pub cancelled: bool,
    pub join_url: String,
}

/// The occurrences of `list` within `[from, to]`, in time order.
pub fn items(list: &[Broadcast], tz: &str, from: Date, to: Date) -> Vec<Item> {
    let mut out: Vec<(OffsetDateTime, Item)> = Vec::new();
    for b in list {
        for (o, cancelled) in b.occurrences(tz, from, to) {
            let end = o.starts_at + Duration::minutes(i64::from(b.duration_minutes));
            let local_end = recurrence::local_input(end, tz);
            out.push((
                o.starts_at,
                Item {
                    id: b.id,
                    when: format!(
                        "{}–{}",
                        format::datetime(o.starts_at, tz),
                        local_end.get(11..16).unwrap_or("")
                    ),
                    day: format::date(o.date),
                    kind: b.kind.title(),
                    title: b.title.clone(),
                    audience: b.audience_text(),
                    host: b.host_name.clone(),
                    state: if cancelled && b.state != BState::Cancelled {
                        "отменена (это занятие)"
                    } else {
                        b.state.title()
                    },
                    cancelled,
                    join_url: b.join_url.clone(),
                },
            ));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, i)| i).collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "broadcasts/mine.html")]
struct MinePage {
    layout: Layout,
    base: String,
    items: Vec<Item>,
    can_plan: bool,
    can_calendar: bool,
    has_feed: bool,
    /// The feed's address, shown once right after it is made.
    feed_url: Option<String>,
    key: FormKey,
}

/// «Мои трансляции» (and, once, the new feed address).
pub async fn mine_page(
    state: &AppState,
    scope: &SchoolScope,
    feed_url: Option<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let list = queries::load(&mut conn, scope.tenant(), Which::For(scope.actor().id())).await?;
    let tz = scope.timezone();
    let today = recurrence::local_date(OffsetDateTime::now_utc(), tz);
    let has_feed = super::feed::has_feed(&mut conn, scope).await?;
    Ok(MinePage {
        layout: Layout::for_scope(scope),
        base: format!("/s/{}", scope.school_id()),
        items: items(&list, tz, today, today + Duration::days(90)),
        can_plan: scope.can(Action::PlanBroadcasts),
        can_calendar: scope.can(Action::ViewSchoolCalendar),
        has_feed,
        feed_url,
        key: FormKey::default(),
    }
    .into_response())
}

pub async fn mine(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewBroadcasts)?;
    mine_page(&state, &scope, None).await
}

/// The planning form as typed.
#[derive(Default, Clone)]
pub struct PlanForm {
    pub form_key: FormKey,
    pub kind: String,
    pub title: String,
    pub starts_at: String,
    pub duration: String,
    pub join_url: String,
    pub weekly_until: String,
    pub whole_school: bool,
    pub staffroom: bool,
    /// "class:student" / "class:parent"
    pub aud: Vec<String>,
    /// Who runs it (an account id); the planner when left out.
    pub host: String,
}

impl PlanForm {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut f = PlanForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "form_key" => f.form_key = FormKey::parse(v),
                "kind" => f.kind = v.clone(),
                "title" => f.title = v.clone(),
                "starts_at" => f.starts_at = v.clone(),
                "duration" => f.duration = v.clone(),
                "join_url" => f.join_url = v.clone(),
                "weekly_until" => f.weekly_until = v.clone(),
                "whole_school" => f.whole_school = v == "yes",
                "staffroom" => f.staffroom = v == "yes",
                "aud" => f.aud.push(v.clone()),
                "host" => f.host = v.clone(),
                _ => {}
            }
        }
        f
    }

    pub fn of(b: &Broadcast, tz: &str) -> Self {
        PlanForm {
            form_key: FormKey::default(),
            kind: b.kind.as_str().to_owned(),
            title: b.title.clone(),
            starts_at: recurrence::local_input(b.starts_at, tz),
            duration: b.duration_minutes.to_string(),
            join_url: b.join_url.clone(),
            weekly_until: b
                .weekly_until
                .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
                .unwrap_or_default(),
            whole_school: b.whole_school,
            staffroom: b.staffroom,
            aud: b
                .audience
                .iter()
                .map(|(c, _, r)| format!("{c}:{r}"))
                .collect(),
            host: b.host.to_string(),
        }
    }

    pub fn has(&self, class: &ClassId, role: &str) -> bool {
        self.aud.contains(&format!("{class}:{role}"))
    }
}

/// A checked plan.
pub struct Plan {
    pub kind: Kind,
    pub title: String,
    pub starts_at: OffsetDateTime,
    pub duration: i32,
    pub join_url: String,
    pub weekly_until: Option<Date>,
    pub audience: Audience,
    pub host: AccountId,
}

/// Checks the form: a Russian message next to each wrong field; who plans what.
pub fn check(
    scope: &SchoolScope,
    f: &PlanForm,
    classes: &[ClassChoice],
    hosts: &[HostChoice],
    errors: &mut FormErrors,
) -> Option<Plan> {
    let tz = scope.timezone();
    // Who runs it: the planner, or one of the school's staff (never someone elsewhere).
    let me = scope.actor().id();
    let host = match f.host.trim() {
        "" => Some(me),
        h => h
            .parse::<AccountId>()
            .ok()
            .filter(|h| *h == me || hosts.iter().any(|c| c.id == *h)),
    };
    if host.is_none() {
        errors.add("host", "Выберите, кто ведёт: сотрудника этой школы.");
    }
    let kind = Kind::parse(&f.kind);
    if kind.is_none() {
        errors.add("kind", "Выберите вид трансляции.");
    }
    let title = f.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите название (до 200 символов).");
    }
    let starts_at = recurrence::parse_local(&f.starts_at, tz);
    if starts_at.is_none() {
        errors.add("starts_at", "Укажите дату и время начала.");
    }
    let duration = f
        .duration
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (5..=720).contains(d));
    if duration.is_none() {
        errors.add("duration", "Укажите длительность в минутах: от 5 до 720.");
    }
    let join_url = f.join_url.trim().to_owned();
    if !join_url.is_empty() && !crate::channels::pages::is_link(&join_url) {
        errors.add("join_url", "Ссылка для подключения начинается с https://.");
    }
    let weekly_until = if f.weekly_until.trim().is_empty() {
        None
    } else {
        let d = crate::web::form::parse_date(f.weekly_until.trim());
        match (d, starts_at) {
            (None, _) => {
                errors.add("weekly_until", "Укажите дату окончания повторов.");
                None
            }
            (Some(d), Some(s)) if d < recurrence::local_date(s, tz) => {
                errors.add(
                    "weekly_until",
                    "Повторы не заканчиваются раньше первого занятия.",
                );
                None
            }
            (Some(d), Some(s)) if d > recurrence::local_date(s, tz) + Duration::days(400) => {
                errors.add("weekly_until", "Повторы — не дольше года.");
                None
            }
            (d, _) => d,
        }
    };
    let mut audience = Audience {
        whole_school: f.whole_school,
        staffroom: f.staffroom,
        classes: Vec::new(),
    };
    for a in &f.aud {
        let Some((c, r)) = a.split_once(':') else {
            continue;
        };
        let Ok(c) = c.parse::<ClassId>() else {
            continue;
        };
        let role = match r {
            "student" => "student",
            "parent" => "parent",
            _ => continue,
        };
        if classes.iter().any(|k| k.id == c) && !audience.classes.contains(&(c, role)) {
            audience.classes.push((c, role));
        }
    }
    if audience.is_empty() {
        errors.add(
            "audience",
            "Выберите, кого приглашаете: классы, Учительскую или всю школу.",
        );
    }
    if let Some(k) = kind
        && !audience.is_empty()
        && let Err(e) = model::may_plan(
            &Planner {
                roles: scope.roles(),
                led: scope.led_classes(),
                taught: scope.taught_classes(),
            },
            k,
            &audience,
        )
    {
        errors.add("audience", e);
    }
    match (kind, starts_at, duration, host, errors.is_empty()) {
        (Some(kind), Some(starts_at), Some(duration), Some(host), true) => Some(Plan {
            kind,
            title,
            starts_at,
            duration,
            join_url,
            weekly_until,
            audience,
            host,
        }),
        _ => None,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "broadcasts/new.html")]
struct NewPage {
    layout: Layout,
    base: String,
    kinds: Vec<(&'static str, &'static str)>,
    classes: Vec<ClassChoice>,
    hosts: Vec<HostChoice>,
    form: PlanForm,
    errors: FormErrors,
}

async fn new_page(
    state: &AppState,
    scope: &SchoolScope,
    form: PlanForm,
    errors: FormErrors,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let classes = queries::classes(&mut conn, scope.tenant()).await?;
    let hosts = host_choices(&mut conn, scope).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        NewPage {
            layout: Layout::for_scope(scope),
            base: format!("/s/{}", scope.school_id()),
            kinds: Kind::ALL.iter().map(|k| (k.as_str(), k.title())).collect(),
            classes,
            hosts,
            form,
            errors,
        },
    )
        .into_response())
}

pub async fn new(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::PlanBroadcasts)?;
    let form = PlanForm {
        duration: "45".into(),
        host: scope.actor().id().to_string(),
        ..PlanForm::default()
    };
    new_page(&state, &scope, form, FormErrors::default()).await
}

/// Writes the audience rows of a broadcast (replacing what was there).
pub async fn write_audience(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
    id: BroadcastId,
    audience: &Audience,
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from broadcast_audience where school_id = $1 and broadcast_id = $2",
        scope.school_id() as SchoolId,
        id as BroadcastId
    )
    .execute(&mut *conn)
    .await?;
    for (class, role) in &audience.classes {
        sqlx::query!(
            "insert into broadcast_audience (school_id, broadcast_id, class_id, role) values ($1, $2, $3, $4)",
            scope.school_id() as SchoolId,
            id as BroadcastId,
            *class as ClassId,
            *role
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    scope.require(Action::PlanBroadcasts)?;
    let form = PlanForm::from_pairs(&pairs);
    let mut conn = state.db.acquire().await?;
    let classes = queries::classes(&mut conn, scope.tenant()).await?;
    let hosts = host_choices(&mut conn, &scope).await?;
    drop(conn);
    let mut errors = FormErrors::default();
    let Some(plan) = check(&scope, &form, &classes, &hosts, &mut errors) else {
        return new_page(&state, &scope, form, errors).await;
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = BroadcastId::new();
    sqlx::query!(
        "insert into broadcasts (school_id, id, kind, title, starts_at, duration_minutes, whole_school,
                                 staffroom, join_url, host_id, weekly_until, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        scope.school_id() as SchoolId,
        id as BroadcastId,
        plan.kind.as_str(),
        plan.title,
        plan.starts_at,
        plan.duration,
        plan.audience.whole_school,
        plan.audience.staffroom,
        plan.join_url,
        plan.host as AccountId,
        plan.weekly_until,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    write_audience(&mut tx, &scope, id, &plan.audience).await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "broadcast.planned",
        Some(format!("broadcast:{id}")),
        Some(plan.title),
    )
    .await?;
    let url = format!("/s/{}/broadcasts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "broadcasts/show.html")]
struct ShowPage {
    layout: Layout,
    base: String,
    b: Broadcast,
    kind: &'static str,
    state: &'static str,
    audience: String,
    items: Vec<Item>,
    can_change: bool,
    kinds: Vec<(&'static str, &'static str)>,
    classes: Vec<ClassChoice>,
    hosts: Vec<HostChoice>,
    form: PlanForm,
    errors: FormErrors,
    message: Option<&'static str>,
    keys: [FormKey; 4],
    exception_date: String,
}

/// Whether the actor may change the broadcast: its host, whoever planned it, or the
/// administrator (and only someone who may plan broadcasts at all).
pub fn may_change(scope: &SchoolScope, b: &Broadcast) -> bool {
    scope.can_on(Action::PlanBroadcasts, &Target::Authored { author: b.host })
        || scope.can_on(
            Action::PlanBroadcasts,
            &Target::Authored {
                author: b.created_by,
            },
        )
}

/// The people to choose from as the host: the school's staff, and the planner
/// themselves (listed first when they are not staff, e.g. an administrator only).
async fn host_choices(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
) -> sqlx::Result<Vec<HostChoice>> {
    let mut hosts = queries::hosts(conn, scope.tenant()).await?;
    let me = scope.actor().id();
    if !hosts.iter().any(|h| h.id == me) {
        hosts.insert(
            0,
            HostChoice {
                id: me,
                name: scope.actor().full_name(),
            },
        );
    }
    Ok(hosts)
}

/// Whether the actor sees this broadcast: staff see the school's calendar; everyone what
/// they are invited to or run.
pub async fn visible(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
    id: BroadcastId,
) -> AppResult<Broadcast> {
    let which = if scope.can(Action::ViewSchoolCalendar) {
        Which::One(id)
    } else {
        Which::For(scope.actor().id())
    };
    queries::load(conn, scope.tenant(), which)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or(AppError::NotFound)
}

pub async fn show_page(
    state: &AppState,
    scope: &SchoolScope,
    id: BroadcastId,
    form: Option<PlanForm>,
    errors: FormErrors,
    message: Option<&'static str>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let b = visible(&mut conn, scope, id).await?;
    let classes = queries::classes(&mut conn, scope.tenant()).await?;
    let mut hosts = host_choices(&mut conn, scope).await?;
    if !hosts.iter().any(|h| h.id == b.host) {
        hosts.push(HostChoice {
            id: b.host,
            name: b.host_name.clone(),
        });
    }
    let tz = scope.timezone();
    let today = recurrence::local_date(OffsetDateTime::now_utc(), tz);
    let status = if errors.is_empty() && message.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ShowPage {
        layout: Layout::for_scope(scope),
        base: format!("/s/{}", scope.school_id()),
        kind: b.kind.title(),
        state: b.state.title(),
        audience: b.audience_text(),
        items: items(
            std::slice::from_ref(&b),
            tz,
            today - Duration::days(7),
            today + Duration::days(90),
        ),
        can_change: may_change(scope, &b),
        kinds: Kind::ALL.iter().map(|k| (k.as_str(), k.title())).collect(),
        classes,
        hosts,
        form: form.unwrap_or_else(|| PlanForm::of(&b, tz)),
        errors,
        message,
        keys: [
            FormKey::default(),
            FormKey::default(),
            FormKey::default(),
            FormKey::default(),
        ],
        exception_date: String::new(),
        b,
    };
    Ok((status, page).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewBroadcasts)?;
    show_page(&state, &scope, id, None, FormErrors::default(), None).await
}
