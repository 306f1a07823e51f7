//! The one way an invite comes into being (R2.1.f; SECURITY.md 18, 20, 24, 25): class and
//! staff-room links, parent slips and chat links all pass through [`issue`], which checks
//! the permission and the object rule (a class teacher only for a class they lead, nobody
//! above their own role), the link policy (how long, how many uses, approval), the
//! per-person creation limit, then inserts the links, writes the audit row and commits, in
//! that order. A form sent twice makes its links once: the first link's id (or the batch)
//! is the form's.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{InviteId, STAFF_DIRECT_MAX_DAYS, is_staff_role, may_create, policy};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::{session, throttle};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChatId, ClassId, MembershipId, SchoolId};

/// What to issue: one link, or one single-use parent link per child (`children`).
#[derive(Debug, Clone)]
pub struct Request {
    /// The form's id: the id of the (first) link, so a second submit finds it.
    pub id: InviteId,
    pub role: String,
    pub class: ClassId,
    /// A chat the link also puts its users into (chat links).
    pub chat: Option<ChatId>,
    /// Parent slips: one link per child, each bound to its child.
    pub children: Option<Vec<MembershipId>>,
    pub purpose: String,
    pub max_uses: i32,
    pub needs_approval: bool,
    pub days: i64,
}

/// A link just made: the raw token exists only here and in the page that shows it.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: InviteId,
    pub token: String,
    pub child: Option<MembershipId>,
}

#[derive(Debug)]
pub enum Outcome {
    Issued {
        links: Vec<Link>,
        expires_at: OffsetDateTime,
    },
    /// This form was sent before: its links exist and are not shown again.
    AlreadyIssued,
}

/// Whether the policy allows this request (the forms say the same next to their fields;
/// this is the rule every path obeys).
pub fn within_policy(req: &Request) -> Result<(), crate::error::Russian> {
    let p = policy(&req.role);
    let staff_direct = is_staff_role(&req.role) && !req.needs_approval;
    let max_days = if staff_direct {
        STAFF_DIRECT_MAX_DAYS
    } else {
        p.max_days
    };
    if !(1..=max_days).contains(&req.days) {
        return Err(crate::ru!("Срок действия ссылки вне допустимого."));
    }
    if !(1..=1000).contains(&req.max_uses) || (staff_direct && req.max_uses != 1) {
        return Err(crate::ru!("Число использований вне допустимого."));
    }
    if req.role == "parent" && !req.needs_approval && req.children.is_none() {
        return Err(crate::ru!(
            "Родители по ссылке класса вступают только через заявку."
        ));
    }
    if req.children.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(crate::ru!("В классе нет учеников для приглашений."));
    }
    Ok(())
}

/// Link creation is rate-limited per person (SECURITY.md 25), on its own connection so
/// that a refused attempt still counts.
pub(crate) async fn creation_limit(
    conn: &mut PgConnection,
    state: &AppState,
    who: AccountId,
) -> AppResult<()> {
    let key = format!("invite-create:{who}");
    throttle::limit(conn, &key, state.config.invites_per_minute).await
}

/// Issues the links of `req` as the scope's actor; `action` names the audit row.
pub async fn issue(
    state: &AppState,
    scope: &SchoolScope,
    meta: &RequestMeta,
    req: Request,
    action: &str,
) -> AppResult<Outcome> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    // Who may invite whom into which class: nobody above their own role, a class teacher
    // only into a class they lead (the scope loaded the classes with the roles).
    if !may_create(scope.roles(), scope.leads(req.class), &req.role) {
        return Err(AppError::Forbidden);
    }
    within_policy(&req).map_err(AppError::BadRequest)?;
    creation_limit(&mut conn, state, scope.actor().id()).await?;
    drop(conn);

    let mut tx = state.db.begin().await?;
    // Serialises two submits of one form: the second finds the first's links.
    sqlx::query!(
        r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtext($1::text))"#,
        req.id.to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from invites
                         where school_id = $1 and (id = $2 or batch_id = $2)) as "e!""#,
        scope.school_id() as SchoolId,
        req.id as InviteId
    )
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Ok(Outcome::AlreadyIssued);
    }
    let children: Vec<Option<MembershipId>> = match &req.children {
        Some(c) => c.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let batch = req.children.as_ref().map(|_| req.id);
    let mut links = Vec::with_capacity(children.len());
    for (i, child) in children.into_iter().enumerate() {
        let id = if batch.is_some() || i > 0 {
            InviteId::new()
        } else {
            req.id
        };
        links.push(Link {
            id,
            token: session::new_token(),
            child,
        });
    }
    let ids: Vec<Uuid> = links.iter().map(|l| l.id.0).collect();
    let hashes: Vec<Vec<u8>> = links
        .iter()
        .map(|l| session::token_hash(&l.token))
        .collect();
    let kids: Vec<Option<Uuid>> = links.iter().map(|l| l.child.map(|c| c.0)).collect();
    let expires_at = sqlx::query_scalar!(
        r#"insert into invites (school_id, id, token_hash, role, class_id, child_id, chat_id,
                                purpose, max_uses, needs_approval, expires_at, batch_id, created_by)
           select $1, x.id, x.h, $5, $6, x.child, $7, $8, $9, $10,
                  now() + make_interval(days => $11), $12, $13
           from unnest($2::uuid[], $3::bytea[], $4::uuid[]) as x(id, h, child)
           returning expires_at"#,
        scope.school_id() as SchoolId,
        &ids,
        &hashes,
        &kids as &[Option<Uuid>],
        req.role,
        req.class as ClassId,
        req.chat as Option<ChatId>,
        req.purpose,
        req.max_uses,
        req.needs_approval,
        i32::try_from(req.days).unwrap_or(1),
        batch as Option<InviteId>,
        scope.actor().id() as AccountId
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .next()
    .ok_or(AppError::BadRequest(crate::ru!("Приглашения не созданы.")))?;
    let target = match (req.chat, batch) {
        (Some(chat), _) => format!("chat:{chat}"),
        (None, Some(_)) => format!("class:{}", req.class),
        (None, None) => format!("invite:{}", req.id),
    };
    audit::record(
        &mut tx,
        meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action,
            target: Some(target),
            details: Some(format!(
                "ссылок: {}; {}; использований: {}; дней: {}; по заявке: {}",
                links.len(),
                crate::auth::permissions::Role::membership_title(&req.role),
                req.max_uses,
                req.days,
                if req.needs_approval { "да" } else { "нет" }
            )),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Issued { links, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(role: &str, days: i64, uses: i32, approval: bool) -> Request {
        Request {
            id: InviteId::new(),
            role: role.to_owned(),
            class: ClassId(Uuid::nil()),
            chat: None,
            children: None,
            purpose: String::new(),
            max_uses: uses,
            needs_approval: approval,
            days,
        }
    }

    #[test]
    fn every_path_obeys_the_link_policy_r2_1_f() {
        assert!(within_policy(&req("student", 14, 40, false)).is_ok());
        assert!(within_policy(&req("student", 91, 40, false)).is_err());
        assert!(within_policy(&req("parent", 14, 60, true)).is_ok());
        // A parent link without a request only as a slip bound to a child.
        assert!(within_policy(&req("parent", 14, 60, false)).is_err());
        // Staff without a request: single use, three days at most.
        assert!(within_policy(&req("teacher", 3, 1, false)).is_ok());
        assert!(within_policy(&req("teacher", 4, 1, false)).is_err());
        assert!(within_policy(&req("teacher", 3, 2, false)).is_err());
        assert!(within_policy(&req("teacher", 30, 5, true)).is_ok());
    }
}
