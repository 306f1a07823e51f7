//! Parent slips (R2.1.f, R2.7.a): for a class, one single-use parent link per student,
//! printed as a sheet of slips (the child's name, the QR code and the link, cut lines) to
//! hand out at a parent meeting. A parent who joins by a slip is linked to that child at
//! once. The tokens exist only in the response that prints the sheet.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::links::{MessagePage, class_choices, creation_limit};
use super::{InviteId, class_limit, join_url, qr_svg};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::FormErrors;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::auth::session;
use crate::error::AppResult;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::format::{self, count};
use crate::web::layout::Layout;
use crate::web::{Routes, render};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/invites/slips/new",
        Access::School(Action::CreateInvites),
        new_page,
    )
    .post(
        "/s/{school_id}/invites/slips",
        Access::School(Action::CreateInvites),
        create,
    )
}

/// How long slips live by default, and at most.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 90;

#[derive(Deserialize, Default, Debug)]
struct SlipsForm {
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    days: String,
    /// "on": only students with no parent on the portal yet.
    #[serde(default)]
    only_unlinked: String,
}

#[derive(Template)]
#[template(path = "invites/slips_new.html")]
struct NewPage {
    layout: Layout,
    school_id: SchoolId,
    form: SlipsForm,
    errors: FormErrors,
    classes: Vec<(ClassId, String)>,
}

async fn new_page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&mut conn, &scope).await?;
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    Ok(render(&NewPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: SlipsForm {
            form_id: Uuid::now_v7().to_string(),
            days: DEFAULT_DAYS.to_string(),
            only_unlinked: "on".to_owned(),
            ..SlipsForm::default()
        },
        errors: FormErrors::default(),
        classes,
    })?
    .into_response())
}

struct Slip {
    child: String,
    link: String,
    /// Server-built SVG markup.
    qr: String,
}

#[derive(Template)]
#[template(path = "invites/slips.html")]
struct SheetPage {
    school_id: SchoolId,
    school_name: String,
    class_title: String,
    expires: String,
    slips: Vec<Slip>,
    count: String,
}

async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<SlipsForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    creation_limit(&mut conn, &state, scope.actor().id()).await?;
    let limit = class_limit(&mut conn, &scope).await?;
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    let mut errors = FormErrors::default();
    let class = form
        .class_id
        .parse::<Uuid>()
        .ok()
        .map(ClassId)
        .and_then(|c| classes.iter().find(|(id, _)| *id == c).cloned());
    if class.is_none() {
        errors.add("class_id", "Выберите класс из списка.");
    }
    let days = form
        .days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d));
    if days.is_none() {
        errors.add("days", "Срок — от 1 до 90 дней.");
    }
    let (Some((class, class_title)), Some(days)) = (class, days) else {
        return Ok(render(&NewPage {
            layout: Layout::for_scope(&scope),
            school_id: scope.school_id(),
            form,
            errors,
            classes,
        })?
        .into_response());
    };
    let batch = form
        .form_id
        .parse::<Uuid>()
        .unwrap_or_else(|_| Uuid::now_v7());
    drop(conn);
    let mut tx = state.db.begin().await?;
    // Serialises double submissions of one form: the second finds the first's batch.
    sqlx::query!(
        r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtext($1::text))"#,
        batch.to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from invites where school_id = $1 and batch_id = $2) as "e!""#,
        scope.school_id() as SchoolId,
        batch
    )
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Ok(render(&MessagePage {
            layout: Layout::for_scope(&scope),
            title: "Приглашения уже созданы",
            message: "Эта форма уже была отправлена, и приглашения по ней созданы. Листок показывают только один раз: если он потерялся, отзовите приглашения класса в реестре и создайте новые.",
            back: format!("/s/{}/invites", scope.school_id()),
            back_label: "К реестру приглашений",
        })?
        .into_response());
    }
    let only_unlinked = form.only_unlinked == "on";
    let students = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student' and m.status = 'active'
             and (not $3 or not exists(
                   select 1 from parent_links l
                   join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                   join accounts pa on pa.id = p.account_id
                   where l.school_id = m.school_id and l.child_id = m.id and p.status = 'active'
                     and pa.password_hash is not null))
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        scope.school_id() as SchoolId,
        class as ClassId,
        only_unlinked
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut slips = Vec::with_capacity(students.len());
    let (mut ids, mut hashes, mut children) = (Vec::new(), Vec::new(), Vec::new());
    for s in &students {
        let token = session::new_token();
        ids.push(InviteId::new().0);
        hashes.push(session::token_hash(&token));
        children.push(s.id.0);
        let link = join_url(&state.public_url, &token);
        slips.push(Slip {
            child: format::full_name(&s.surname, &s.given_name, s.patronymic.as_deref()),
            qr: qr_svg(&link),
            link,
        });
    }
    let expires_at = sqlx::query_scalar!(
        r#"insert into invites (school_id, id, token_hash, role, class_id, child_id, purpose,
                                max_uses, needs_approval, expires_at, batch_id, created_by)
           select $1, id, h, 'parent', $5, child, 'приглашение для родителя', 1, false,
                  now() + make_interval(days => $6), $7, $8
           from unnest($2::uuid[], $3::bytea[], $4::uuid[]) as x(id, h, child)
           returning expires_at"#,
        scope.school_id() as SchoolId,
        &ids,
        &hashes,
        &children,
        class as ClassId,
        i32::try_from(days).unwrap_or(1),
        batch,
        scope.actor().id() as AccountId
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .next();
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.slips_created",
            target: Some(format!("class:{class}")),
            details: Some(format!("{} slips; {days} days", slips.len())),
        },
    )
    .await?;
    tx.commit().await?;
    let expires = expires_at
        .map(|t| format::datetime(t, scope.timezone()))
        .unwrap_or_default();
    Ok(render(&SheetPage {
        school_id: scope.school_id(),
        school_name: scope.school_name().to_owned(),
        class_title,
        expires,
        count: count(
            slips.len() as i64,
            "приглашение",
            "приглашения",
            "приглашений",
        ),
        slips,
    })?
    .into_response())
}
