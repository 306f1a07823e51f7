//! Revoking (R2.1.l): one link, every link of a class, or every link unused for N days,
//! each after a confirmation page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, SchoolId};
use crate::invites::{InviteId, target_title};
use crate::web::format::count;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

#[derive(Template, WebTemplate)]
#[template(path = "invites/confirm.html")]
pub(crate) struct ConfirmPage {
    pub layout: Layout,
    pub title: String,
    pub question: String,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub back: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, invite)): Path<(SchoolId, InviteId)>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    scope.require(Action::RevokeInvites)?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let found = sqlx::query!(
        r#"select i.role, c.kind, c.title, i.purpose, i.class_id as "class: ClassId",
                  i.created_by as "creator: AccountId" from invites i
           join classes c on c.school_id = i.school_id and c.id = i.class_id
           where i.school_id = $1 and i.id = $2 and i.revoked_at is null"#,
        scope.school_id() as SchoolId,
        invite as InviteId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    // The object rule LeadsClass: another class's link is refused, 403.
    scope.require_on(
        Action::RevokeInvites,
        &crate::auth::objects::Target::Invite {
            class: found.class,
            creator: found.creator,
            pupil: matches!(found.role.as_str(), "student" | "parent"),
        },
    )?;
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let purpose = if found.purpose.is_empty() {
            String::new()
        } else {
            format!(" («{}»)", found.purpose)
        };
        return Ok(ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отозвать приглашение?".to_owned(),
            question: format!(
                "Отозвать приглашение: {}, {}{purpose}? По ссылке больше нельзя будет присоединиться; те, кто уже присоединился, останутся.",
                Role::membership_title(&found.role),
                target_title(&found.kind, &found.title)
            ),
            action: format!("/s/{}/invites/{invite}/revoke", scope.school_id()),
            fields: vec![("form_key", FormKey::default().to_string())],
            button: "Отозвать",
            back,
        }
        .into_response());
    }
    sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and id = $2 and revoked_at is null"#,
        scope.school_id() as SchoolId,
        invite as InviteId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.revoked",
            target: Some(format!("invite:{invite}")),
            details: None,
        },
    )
    .await?;
    let url = format!("{back}?done=revoked");
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct ClassForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn revoke_class(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ClassForm>,
) -> AppResult<Response> {
    scope.require(Action::CleanupInvites)?;
    let class = form
        .class_id
        .parse::<ClassId>()
        .map_err(|_| AppError::BadRequest(crate::ru!("Выберите класс.")))?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let title = sqlx::query_scalar!(
        "select title from classes where school_id = $1 and id = $2 and kind = 'class'",
        scope.school_id() as SchoolId,
        class as ClassId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from invites where school_id = $1 and class_id = $2
               and revoked_at is null and expires_at > now() and uses < max_uses"#,
            scope.school_id() as SchoolId,
            class as ClassId
        )
        .fetch_one(&mut *tx)
        .await?;
        return Ok(ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отозвать приглашения класса?".to_owned(),
            question: format!(
                "Отозвать {} класса {title}? Приглашения для родителей, ссылки для учеников — все действующие ссылки класса перестанут работать.",
                count(n, "приглашение", "приглашения", "приглашений")
            ),
            action: format!("/s/{}/invites/revoke-class", scope.school_id()),
            fields: vec![
                ("class_id", class.to_string()),
                ("form_key", FormKey::default().to_string()),
            ],
            button: "Отозвать все",
            back,
        }
        .into_response());
    }
    let done = sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and class_id = $2 and revoked_at is null
             and expires_at > now() and uses < max_uses"#,
        scope.school_id() as SchoolId,
        class as ClassId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.revoked_class",
            target: Some(format!("class:{class}")),
            details: Some(format!("отозвано: {done}")),
        },
    )
    .await?;
    let url = format!("{back}?done=bulk-{done}");
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct UnusedForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    days: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn deactivate_unused(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<UnusedForm>,
) -> AppResult<Response> {
    scope.require(Action::CleanupInvites)?;
    let days = form
        .days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=3650).contains(d))
        .ok_or(AppError::BadRequest(crate::ru!(
            "Число дней — от 1 до 3650."
        )))?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from invites where school_id = $1 and revoked_at is null
               and expires_at > now() and uses < max_uses
               and coalesce(last_used_at, created_at) < now() - make_interval(days => $2)"#,
            scope.school_id() as SchoolId,
            days
        )
        .fetch_one(&mut *tx)
        .await?;
        return Ok(ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отключить неиспользуемые приглашения?".to_owned(),
            question: format!(
                "Отозвать {}, по которым никто не присоединялся больше {}?",
                count(n, "приглашение", "приглашения", "приглашений"),
                count(i64::from(days), "дня", "дней", "дней")
            ),
            action: format!("/s/{}/invites/deactivate-unused", scope.school_id()),
            fields: vec![
                ("days", days.to_string()),
                ("form_key", FormKey::default().to_string()),
            ],
            button: "Отозвать",
            back,
        }
        .into_response());
    }
    let done = sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and revoked_at is null and expires_at > now()
             and uses < max_uses
             and coalesce(last_used_at, created_at) < now() - make_interval(days => $2)"#,
        scope.school_id() as SchoolId,
        days,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.deactivated_unused",
            target: None,
            details: Some(format!(
                "не использовались {}: отозвано {done}",
                crate::web::format::count(i64::from(days), "день", "дня", "дней")
            )),
        },
    )
    .await?;
    let url = format!("{back}?done=bulk-{done}");
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
