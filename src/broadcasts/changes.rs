//! Changing a broadcast: edit (a new start time makes it «перенесена»), cancel, mark held,
//! cancel one occurrence of a weekly one. Each bumps the iCalendar SEQUENCE, writes the
//! audit row, and a change or cancellation is announced by e-mail through the outbox to the
//! audience that has e-mail (the actor is never told).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::model::BState;
use super::pages::{PlanForm, check, may_change, show_page, visible, write_audience};
use super::queries::{self, Broadcast};
use super::recurrence;
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, BroadcastId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::once::{self, FormKey};

/// Loads the broadcast and checks that the actor runs it (or is the administrator).
async fn mine(state: &AppState, scope: &SchoolScope, id: BroadcastId) -> AppResult<Broadcast> {
    scope.require(Action::PlanBroadcasts)?;
    let mut conn = state.db.acquire().await?;
    let b = visible(&mut conn, scope, id).await?;
    if !may_change(scope, &b) {
        return Err(AppError::Forbidden);
    }
    Ok(b)
}

/// Announces a change to the audience.
async fn announce(
    conn: &mut PgConnection,
    state: &AppState,
    scope: &SchoolScope,
    b: &Broadcast,
    subject: &str,
    what: &str,
) -> sqlx::Result<()> {
    let tz = scope.timezone();
    let body = format!(
        "Здравствуйте!\n\n{what}\n\n{} «{}»\nНачало: {}, {} мин.\nКто ведёт: {}\n{}\
         \nПодробнее: {}/s/{}/broadcasts/{}\n",
        b.kind.title(),
        b.title,
        format::datetime(b.starts_at, tz),
        b.duration_minutes,
        b.host_name,
        if b.join_url.is_empty() {
            String::new()
        } else {
            format!("Подключиться: {}\n", b.join_url)
        },
        state.public_url,
        scope.school_id(),
        b.id
    );
    for to in queries::audience_emails(conn, scope.tenant(), b.id, scope.actor().id()).await? {
        crate::mail::enqueue(conn, Some(scope.tenant()), &to, subject, &body).await?;
    }
    Ok(())
}

/// Reloads the broadcast inside the transaction (after the change).
async fn reload(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    id: BroadcastId,
) -> AppResult<Broadcast> {
    visible(conn, scope, id).await
}

pub async fn edit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let before = mine(&state, &scope, id).await?;
    let mut form = PlanForm::from_pairs(&pairs);
    if form.host.trim().is_empty() {
        form.host = before.host.to_string();
    }
    let mut conn = state.db.acquire().await?;
    let classes = queries::classes(&mut conn, scope.tenant()).await?;
    let mut hosts = queries::hosts(&mut conn, scope.tenant()).await?;
    // The host it has may stay, even when no longer on the staff list.
    hosts.push(queries::HostChoice {
        id: before.host,
        name: before.host_name.clone(),
    });
    drop(conn);
    let mut errors = FormErrors::default();
    let Some(plan) = check(&scope, &form, &classes, &hosts, &mut errors) else {
        return show_page(&state, &scope, id, Some(form), errors, None).await;
    };
    if before.state == BState::Cancelled {
        return show_page(
            &state,
            &scope,
            id,
            Some(form),
            FormErrors::default(),
            Some("Отменённую трансляцию изменить нельзя: запланируйте новую."),
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let moved = plan.starts_at != before.starts_at;
    sqlx::query!(
        "update broadcasts set kind = $3, title = $4, starts_at = $5, duration_minutes = $6,
                whole_school = $7, staffroom = $8, join_url = $9, weekly_until = $10,
                state = case when $11 then 'moved' else state end, host_id = $12,
                sequence = sequence + 1, updated_at = now()
         where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        id as BroadcastId,
        plan.kind.as_str(),
        plan.title,
        plan.starts_at,
        plan.duration,
        plan.audience.whole_school,
        plan.audience.staffroom,
        plan.join_url,
        plan.weekly_until,
        moved,
        plan.host as AccountId
    )
    .execute(&mut *tx)
    .await?;
    write_audience(&mut tx, &scope, id, &plan.audience).await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        if moved {
            "broadcast.moved"
        } else {
            "broadcast.changed"
        },
        Some(format!("broadcast:{id}")),
        None,
    )
    .await?;
    let after = reload(&mut tx, &scope, id).await?;
    let what = if moved {
        format!(
            "Трансляция перенесена: была {}, теперь {}.",
            format::datetime(before.starts_at, scope.timezone()),
            format::datetime(after.starts_at, scope.timezone())
        )
    } else {
        "В трансляции изменения.".to_owned()
    };
    announce(
        &mut tx,
        &state,
        &scope,
        &after,
        "Трансляция изменена",
        &what,
    )
    .await?;
    let url = format!("/s/{}/broadcasts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize, Default)]
pub struct StateForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    on_date: String,
}

async fn set_state(
    state: AppState,
    scope: SchoolScope,
    meta: RequestMeta,
    id: BroadcastId,
    form: StateForm,
    to: BState,
) -> AppResult<Response> {
    let b = mine(&state, &scope, id).await?;
    let url = format!("/s/{}/broadcasts/{id}", scope.school_id());
    // Sent again: where the first led, not «already cancelled».
    if let Some(url) = form
        .form_key
        .seen_before(&state.db, scope.actor().id())
        .await?
    {
        return Ok(once::again(&url));
    }
    if b.state == BState::Cancelled || b.state == to {
        let msg = if b.state == BState::Cancelled {
            "Трансляция уже отменена."
        } else {
            "Трансляция уже отмечена проведённой."
        };
        return show_page(&state, &scope, id, None, FormErrors::default(), Some(msg)).await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    sqlx::query!(
        "update broadcasts set state = $3, sequence = sequence + 1, updated_at = now()
         where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        id as BroadcastId,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        &format!("broadcast.{}", to.as_str()),
        Some(format!("broadcast:{id}")),
        None,
    )
    .await?;
    if to == BState::Cancelled {
        announce(
            &mut tx,
            &state,
            &scope,
            &b,
            "Трансляция отменена",
            "Трансляция отменена.",
        )
        .await?;
    }
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
    Form(form): Form<StateForm>,
) -> AppResult<Response> {
    set_state(state, scope, meta, id, form, BState::Cancelled).await
}

pub async fn held(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
    Form(form): Form<StateForm>,
) -> AppResult<Response> {
    set_state(state, scope, meta, id, form, BState::Held).await
}

/// Cancels one occurrence of a weekly broadcast (an exception to the recurrence).
pub async fn exception(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, BroadcastId)>,
    Form(form): Form<StateForm>,
) -> AppResult<Response> {
    let b = mine(&state, &scope, id).await?;
    let tz = scope.timezone().to_owned();
    let date = crate::web::form::parse_date(&form.on_date);
    let is_occurrence = date.is_some_and(|d| {
        recurrence::occurrences(b.starts_at, b.weekly_until, &tz, d, d)
            .iter()
            .any(|o| o.date == d)
    });
    let Some(date) = date.filter(|_| is_occurrence) else {
        let mut errors = FormErrors::default();
        errors.add(
            "on_date",
            "Выберите дату одного из занятий этой трансляции.",
        );
        return show_page(&state, &scope, id, None, errors, None).await;
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let added = sqlx::query!(
        "insert into broadcast_exceptions (school_id, broadcast_id, on_date) values ($1, $2, $3)
         on conflict do nothing",
        scope.school_id() as SchoolId,
        id as BroadcastId,
        date
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added > 0 {
        sqlx::query!(
            "update broadcasts set sequence = sequence + 1, updated_at = now() where school_id = $1 and id = $2",
            scope.school_id() as SchoolId,
            id as BroadcastId
        )
        .execute(&mut *tx)
        .await?;
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "broadcast.occurrence_cancelled",
            Some(format!("broadcast:{id}")),
            Some(format::date(date)),
        )
        .await?;
        let what = format!("Занятие {} отменено.", format::date(date));
        announce(&mut tx, &state, &scope, &b, "Занятие отменено", &what).await?;
    }
    let url = format!("/s/{}/broadcasts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
