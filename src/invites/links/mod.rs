//! Invite links (R2.1.f) and their hygiene (R2.1.l): the creation form, the page that shows
//! a new link once (with its QR code, a printable poster and sending by e-mail), the
//! registry, revoking one link, all of a class's, or every link unused for N days.
//!
//! One file a concern: [`registry`] lists the school's links; [`create`] is the form and
//! the page that shows a new link once; [`share`] makes the poster, the QR file and the
//! e-mail; [`revoke`] revokes one link, a class's, or the unused ones. What several of them
//! show (a live link's [`View`], the [`MessagePage`]) is here.

mod create;
mod registry;
mod revoke;
mod share;

use askama::Template;
use askama_web::WebTemplate;
use sqlx::PgConnection;

use super::{InviteId, target_title};
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::auth::session;
use crate::ids::{ClassId, SchoolId};
use crate::web::Routes;
use crate::web::format;
use crate::web::layout::Layout;

use create::{create, new_page};
use registry::registry;
use revoke::{deactivate_unused, revoke, revoke_class};
use share::{email, poster, qr_file};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/invites",
        Access::School(Action::ViewInvites),
        registry,
    )
    .get(
        "/s/{school_id}/invites/new",
        Access::School(Action::CreateInvites),
        new_page,
    )
    .post(
        "/s/{school_id}/invites",
        Access::School(Action::CreateInvites),
        create,
    )
    .post(
        "/s/{school_id}/invites/share/poster",
        Access::School(Action::CreateInvites),
        poster,
    )
    .post(
        "/s/{school_id}/invites/share/qr",
        Access::School(Action::CreateInvites),
        qr_file,
    )
    .post(
        "/s/{school_id}/invites/share/email",
        Access::School(Action::CreateInvites),
        email,
    )
    .post(
        "/s/{school_id}/invites/{invite_id}/revoke",
        Access::School(Action::RevokeInvites),
        revoke,
    )
    .post(
        "/s/{school_id}/invites/revoke-class",
        Access::School(Action::CleanupInvites),
        revoke_class,
    )
    .post(
        "/s/{school_id}/invites/deactivate-unused",
        Access::School(Action::CleanupInvites),
        deactivate_unused,
    )
}

/// The current year's classes the actor may invite into (all for the administrator,
/// their own for a class teacher).
pub(crate) async fn class_choices(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    limit: &Option<Vec<ClassId>>,
) -> sqlx::Result<Vec<(ClassId, String)>> {
    Ok(sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
             and y.is_current
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null
             and ($2::uuid[] is null or c.id = any($2))
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId,
        limit.as_deref() as Option<&[ClassId]>
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.title))
    .collect())
}

/// A live link as the creator's pages show it.
pub(crate) struct View {
    pub id: InviteId,
    pub role: String,
    pub role_title: &'static str,
    pub class: ClassId,
    pub target: String,
    pub child: Option<String>,
    pub purpose: String,
    pub uses_left: i32,
    pub approval: bool,
    pub expires: String,
}

/// The live link of this school behind a raw token.
pub(crate) async fn view_by_token(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    token: &str,
) -> sqlx::Result<Option<View>> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let r = sqlx::query!(
        r#"select i.id as "id: InviteId", i.role, i.class_id as "class: ClassId", c.kind, c.title,
                  i.purpose, i.max_uses, i.uses, i.needs_approval, i.expires_at,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = i.school_id and k.id = i.child_id) as child
           from invites i join classes c on c.school_id = i.school_id and c.id = i.class_id
           where i.school_id = $1 and i.token_hash = $2 and i.revoked_at is null
             and i.expires_at > now() and i.uses < i.max_uses"#,
        scope.school_id() as SchoolId,
        session::token_hash(token)
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| View {
        id: r.id,
        role_title: Role::membership_title(&r.role),
        role: r.role,
        class: r.class,
        target: target_title(&r.kind, &r.title),
        child: r.child,
        purpose: r.purpose,
        uses_left: r.max_uses - r.uses,
        approval: r.needs_approval,
        expires: format::datetime(r.expires_at, scope.timezone()),
    }))
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/message.html")]
pub(crate) struct MessagePage {
    pub layout: Layout,
    pub title: &'static str,
    pub message: &'static str,
    pub back: String,
    pub back_label: &'static str,
}
