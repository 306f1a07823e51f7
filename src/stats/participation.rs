//! Voluntary participation, recorded (issue 11, item 5): joining the platform is voluntary
//! for families and pupils. The administrator, or the class teacher for their own class,
//! records for a student («ученик не участвует») or their family («семья не участвует») the
//! reason and the channel the school uses instead; the figures then say both ways, and the
//! class teacher sees whom to reach by the other channel. A record is withdrawn, never
//! deleted, and both are audited. This is the one statistics page with names: the class's
//! own list, for those who act on it (STATISTICS.md «No per-person rankings»).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub const KINDS: [(&str, &str); 2] = [
    ("student", "ученик не участвует"),
    ("family", "семья не участвует"),
];
pub const REASONS: [(&str, &str); 3] = [
    ("refusal", "отказ"),
    ("no_device", "нет устройства"),
    ("no_account", "нет учётной записи на платформе"),
];
pub const CHANNELS: [(&str, &str); 3] = [
    ("journal", "электронный журнал"),
    ("phone", "телефон"),
    ("paper", "бумажное объявление"),
];

fn title_of(list: &[(&'static str, &'static str)], code: &str) -> &'static str {
    list.iter()
        .find(|(c, _)| *c == code)
        .map(|(_, t)| *t)
        .unwrap_or("")
}

/// A record in force.
pub struct Record {
    pub kind: &'static str,
    pub reason: &'static str,
    pub channel: &'static str,
    pub kind_code: String,
}

/// A student of the class as the class teacher's list shows them.
pub struct Pupil {
    pub membership: MembershipId,
    pub name: String,
    pub connected: bool,
    pub with_parent: bool,
    pub records: Vec<Record>,
    /// Each row's forms carry their own key (a submit of one is no repeat of another).
    pub form_key: FormKey,
}

/// The class's students with what the list needs, sorted by surname.
pub async fn pupils(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Vec<Pupil>> {
    let rows = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic,
             (a.first_login_at is not null or exists(
                select 1 from chat_members cm join chats k on k.school_id = cm.school_id and k.id = cm.chat_id
                where cm.school_id = m.school_id and cm.member_id = m.id and k.archived_at is null)) as "connected!",
             exists(select 1 from parent_links l
                    join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                    join accounts pa on pa.id = p.account_id
                    where l.school_id = m.school_id and l.child_id = m.id
                      and p.status = 'active' and pa.deactivated_at is null) as "with_parent!",
             coalesce((select array_agg(r.kind || ':' || r.reason || ':' || r.channel order by r.kind)
                       from participation_records r
                       where r.school_id = m.school_id and r.membership_id = m.id and r.withdrawn_at is null),
                      '{}') as "records!: Vec<String>"
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student' and m.status = 'active'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        tenant.id() as SchoolId,
        class as ClassId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Pupil {
            membership: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            connected: r.connected,
            with_parent: r.with_parent,
            records: r
                .records
                .iter()
                .filter_map(|s| {
                    let mut it = s.split(':');
                    let (k, re, ch) = (it.next()?, it.next()?, it.next()?);
                    Some(Record {
                        kind: title_of(&KINDS, k),
                        reason: title_of(&REASONS, re),
                        channel: title_of(&CHANNELS, ch),
                        kind_code: k.to_owned(),
                    })
                })
                .collect(),
            form_key: FormKey::default(),
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RecordForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    membership_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    channel: String,
    /// «record» or «withdraw».
    #[serde(default)]
    action: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/class.html")]
struct ClassPage {
    layout: Layout,
    base: String,
    class_id: ClassId,
    title: String,
    pupils: Vec<Pupil>,
    kinds: [(&'static str, &'static str); 2],
    reasons: [(&'static str, &'static str); 3],
    channels: [(&'static str, &'static str); 3],
    /// «Сохранено» after a change.
    done: bool,
    /// The message next to the form, and what was chosen.
    error: Option<String>,
    kept: RecordFormKept,
}

#[derive(Default)]
struct RecordFormKept {
    kind: String,
    reason: String,
    channel: String,
}

/// The class (404 when not this school's), and the object rule: the administrator or its
/// class teacher.
async fn class_title(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    class: ClassId,
) -> AppResult<String> {
    let title = sqlx::query_scalar!(
        "select title from classes where school_id = $1 and id = $2 and kind = 'class'",
        scope.school_id() as SchoolId,
        class as ClassId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    scope.require_on(Action::RecordParticipation, &Target::Class(class))?;
    Ok(title)
}

async fn render_page(
    state: &AppState,
    scope: &SchoolScope,
    class: ClassId,
    error: Option<String>,
    kept: RecordFormKept,
    done: bool,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let title = class_title(&mut conn, scope, class).await?;
    let pupils = pupils(&mut conn, scope.tenant(), class).await?;
    Ok(ClassPage {
        layout: Layout::for_scope(scope),
        base: format!("/s/{}/stats", scope.school_id()),
        class_id: class,
        title,
        pupils,
        kinds: KINDS,
        reasons: REASONS,
        channels: CHANNELS,
        done,
        error,
        kept,
    }
    .into_response())
}

pub async fn class_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, class)): Path<(SchoolId, ClassId)>,
    Query(q): Query<Done>,
) -> AppResult<Response> {
    scope.require(Action::RecordParticipation)?;
    render_page(
        &state,
        &scope,
        class,
        None,
        RecordFormKept::default(),
        !q.done.is_empty(),
    )
    .await
}

pub async fn record(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, class)): Path<(SchoolId, ClassId)>,
    Form(form): Form<RecordForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordParticipation)?;
    let kept = RecordFormKept {
        kind: form.kind.clone(),
        reason: form.reason.clone(),
        channel: form.channel.clone(),
    };
    let membership: Option<MembershipId> = form.membership_id.trim().parse().ok();
    let withdraw = form.action == "withdraw";
    let fail = |msg: &str| Some(msg.to_owned());
    let error = if membership.is_none() {
        fail("Выберите ученика.")
    } else if !KINDS.iter().any(|(c, _)| *c == form.kind) {
        fail("Выберите, кто не участвует: ученик или семья.")
    } else if !withdraw && !REASONS.iter().any(|(c, _)| *c == form.reason) {
        fail("Выберите причину.")
    } else if !withdraw && !CHANNELS.iter().any(|(c, _)| *c == form.channel) {
        fail("Выберите, как школа связывается вместо платформы.")
    } else {
        None
    };
    let Some(membership) = membership.filter(|_| error.is_none()) else {
        // The rule first: a stranger to the class learns nothing from the message.
        return render_page(&state, &scope, class, error, kept, false).await;
    };
    let mut tx = state.db.begin().await?;
    class_title(&mut tx, &scope, class).await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    // An active student of this class.
    let pupil = sqlx::query_scalar!(
        r#"select account_id as "a: AccountId" from memberships
           where school_id = $1 and id = $2 and class_id = $3 and role = 'student' and status = 'active'"#,
        scope.school_id() as SchoolId,
        membership as MembershipId,
        class as ClassId
    )
    .fetch_optional(&mut *tx)
    .await?;
    if pupil.is_none() {
        drop(tx);
        return render_page(
            &state,
            &scope,
            class,
            Some("Этого ученика нет в классе.".to_owned()),
            kept,
            false,
        )
        .await;
    }
    let changed = if withdraw {
        sqlx::query!(
            r#"update participation_records set withdrawn_at = now(), withdrawn_by = $4
               where school_id = $1 and membership_id = $2 and kind = $3 and withdrawn_at is null"#,
            scope.school_id() as SchoolId,
            membership as MembershipId,
            form.kind,
            scope.actor().id() as AccountId
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query!(
            r#"insert into participation_records (school_id, id, membership_id, kind, reason, channel, recorded_by)
               values ($1, $2, $3, $4, $5, $6, $7)
               on conflict (school_id, membership_id, kind) where withdrawn_at is null do nothing"#,
            scope.school_id() as SchoolId,
            uuid::Uuid::now_v7(),
            membership as MembershipId,
            form.kind,
            form.reason,
            form.channel,
            scope.actor().id() as AccountId
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    if changed == 0 {
        drop(tx);
        let msg = if withdraw {
            "Такой записи нет: отменять нечего."
        } else {
            "Это уже записано. Чтобы изменить причину, сначала отмените запись."
        };
        return render_page(&state, &scope, class, Some(msg.to_owned()), kept, false).await;
    }
    let details = if withdraw {
        format!("{}: запись отменена", title_of(&KINDS, &form.kind))
    } else {
        format!(
            "{}; причина: {}; канал: {}",
            title_of(&KINDS, &form.kind),
            title_of(&REASONS, &form.reason),
            title_of(&CHANNELS, &form.channel)
        )
    };
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        if withdraw {
            "participation.withdrawn"
        } else {
            "participation.recorded"
        },
        Some(format!("membership:{membership}")),
        Some(details),
    )
    .await?;
    let url = format!("/s/{}/stats/classes/{class}?done=1", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
