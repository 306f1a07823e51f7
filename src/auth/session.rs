//! Server-side sessions in PostgreSQL (SECURITY.md 1–5). The cookie holds 32 random bytes;
//! the table holds their SHA-256. A session dies on logout, after the idle or absolute
//! timeout, or when the account's security stamp changes.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::config::WebConfig;

use crate::ids::{AccountId, ClassId, SchoolId, SessionId};

/// A fresh random token (256 bits), base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The logged-in person behind a request.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session_id: SessionId,
    pub account_id: AccountId,
    pub is_operator: bool,
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
}

/// What a request to a school's page needs besides the session: the school, and the
/// actor's roles and classes there (the `school_roles`, `led_classes` and
/// `taught_classes` views), read in the same round trip as the session.
#[derive(Debug, Clone)]
pub struct ScopeRow {
    pub school_id: SchoolId,
    pub school_name: String,
    /// The school's short name, when it has one.
    pub school_short: Option<String>,
    pub timezone: String,
    pub roles: Vec<String>,
    /// The school's administrators' contacts for every page's footer (R3.2), as
    /// [`crate::web::layout::admin_contacts`] reads them.
    pub admins: Vec<String>,
    pub led: Vec<ClassId>,
    pub taught: Vec<ClassId>,
    /// Posts waiting for the administrator's review (0 for anyone who is not the school's
    /// administrator): the navigation's badge (issue 12).
    pub review_queue: i64,
}

/// Finds the live session for a cookie value and marks it seen; when the request is for
/// a school's page (`school`), also the actor's scope there (`None` when the school does
/// not exist). One round trip either way.
pub async fn lookup(
    conn: &mut PgConnection,
    config: &WebConfig,
    token: &str,
    school: Option<SchoolId>,
) -> sqlx::Result<Option<(CurrentSession, Option<ScopeRow>)>> {
    let idle_secs = config.session_idle().as_secs_f64();
    // Read the session, and mark it seen only when the mark is over a minute old, so an
    // active person does not write a row on every request. The mark is best effort: a
    // request that finds the row being marked by another one skips it instead of waiting
    // for that one's commit (at a region's load, 64 requests of one session queued
    // behind one commit for up to 4.6 s).
    let row = sqlx::query!(
        r#"with found as (
             select s.id, a.id as account_id, a.is_operator, a.surname, a.given_name, a.patronymic,
                    s.last_seen_at
             from sessions s join accounts a on a.id = s.account_id
             where s.token_hash = $1
               and s.expires_at > now()
               and s.last_seen_at > now() - make_interval(secs => $2)
               and s.security_stamp = a.security_stamp
               and a.deactivated_at is null
           ), touched as (
             update sessions set last_seen_at = now()
             where id = (select t.id from sessions t
                         where t.id = (select id from found)
                           and t.last_seen_at < now() - interval '1 minute'
                         for update skip locked)
           )
           select f.id as "session_id!: SessionId", f.account_id as "account_id!: AccountId",
                  f.is_operator as "is_operator!", f.surname as "surname!",
                  f.given_name as "given_name!", f.patronymic,
                  sc.id as "school_id?: SchoolId", sc.name as "school_name?",
                  sc.short_name as "school_short?",
                  sc.timezone as "timezone?",
                  array(select r.role from school_roles r
                        where r.school_id = sc.id and r.account_id = f.account_id) as "roles!: Vec<String>",
                  array(select distinct a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')
                               || E'\t' || coalesce(a.phone, '') || E'\t' || coalesce(a.email, '')
                        from active_admin_grants g join accounts a on a.id = g.account_id
                        where g.school_id = sc.id and a.deactivated_at is null
                        order by 1) as "admins!: Vec<String>",
                  array(select l.class_id from led_classes l
                        where l.school_id = sc.id and l.account_id = f.account_id
                        order by l.class_id) as "led!: Vec<ClassId>",
                  array(select t.class_id from taught_classes t
                        where t.school_id = sc.id and t.account_id = f.account_id
                        order by t.class_id) as "taught!: Vec<ClassId>",
                  case when exists(select 1 from school_roles r
                                   where r.school_id = sc.id and r.account_id = f.account_id
                                     and r.role = 'admin')
                       then (select count(*) from posts p
                             where p.school_id = sc.id and p.state = 'submitted')
                       else 0 end as "review_queue!: i64"
           from found f
           left join schools sc on sc.id = $3"#,
        token_hash(token),
        idle_secs,
        school as Option<SchoolId>,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        let scope = match (r.school_id, r.school_name, r.timezone) {
            (Some(school_id), Some(school_name), Some(timezone)) => Some(ScopeRow {
                school_id,
                school_name,
                school_short: r.school_short,
                timezone,
                roles: r.roles,
                admins: r.admins,
                led: r.led,
                taught: r.taught,
                review_queue: r.review_queue,
            }),
            _ => None,
        };
        (
            CurrentSession {
                session_id: r.session_id,
                account_id: r.account_id,
                is_operator: r.is_operator,
                surname: r.surname,
                given_name: r.given_name,
                patronymic: r.patronymic,
            },
            scope,
        )
    }))
}

/// How long a replaced session id still answers a POST with a redirect to where the
/// request that replaced it led ([`replaced_leads_to`]).
pub const REPLACED_GRACE_SECS: f64 = 30.0;

/// A new session for `account` in place of the one the request carried (login, a new role):
/// the old id is dead and the new one is returned, to be set as the cookie (SECURITY.md 2).
/// `leads_to` is where this request's answer leads: a twin of it sent with the old id at
/// the same moment is answered with a redirect there ([`replaced_leads_to`]).
pub async fn renew(
    conn: &mut PgConnection,
    config: &WebConfig,
    headers: &HeaderMap,
    account: AccountId,
    meta: &super::extract::RequestMeta,
    leads_to: &str,
) -> sqlx::Result<String> {
    if let Some(old) = token_from_headers(headers, config) {
        let deleted = sqlx::query!(
            "delete from sessions where token_hash = $1",
            token_hash(&old)
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if deleted > 0 {
            sqlx::query!(
                r#"insert into replaced_sessions (token_hash, leads_to) values ($1, $2)
                   on conflict (token_hash) do nothing"#,
                token_hash(&old),
                leads_to,
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    create(
        conn,
        config,
        account,
        meta.ip.as_deref(),
        meta.user_agent.as_deref(),
    )
    .await
}

/// Where the request that replaced the session `token` named led, when that was less than
/// [`REPLACED_GRACE_SECS`] ago. It authenticates nothing: the twin of a form sent twice at
/// once is sent there instead of to the login form.
pub async fn replaced_leads_to(
    conn: &mut PgConnection,
    token: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        r#"select leads_to from replaced_sessions
           where token_hash = $1 and replaced_at > now() - make_interval(secs => $2)"#,
        token_hash(token),
        REPLACED_GRACE_SECS,
    )
    .fetch_optional(conn)
    .await
}

/// Starts a session for an account; returns the raw token for the cookie.
pub async fn create(
    conn: &mut PgConnection,
    config: &WebConfig,
    account: AccountId,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> sqlx::Result<String> {
    let token = new_token();
    let expires = OffsetDateTime::now_utc() + config.session_absolute();
    let user_agent = user_agent.map(|ua| ua.chars().take(300).collect::<String>());
    sqlx::query!(
        r#"insert into sessions (id, token_hash, account_id, security_stamp, expires_at, ip, user_agent)
           select $1, $2, a.id, a.security_stamp, $4, $5, $6 from accounts a where a.id = $3"#,
        SessionId::new() as SessionId,
        token_hash(&token),
        account as AccountId,
        expires,
        ip,
        user_agent,
    )
    .execute(conn)
    .await?;
    Ok(token)
}

/// Deletes the session a cookie names (logout, or the old session at a new login).
pub async fn delete_by_token(conn: &mut PgConnection, token: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sessions where token_hash = $1",
        token_hash(token)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends every session of an account by changing its security stamp, and removes the rows.
pub async fn end_all(conn: &mut PgConnection, account: AccountId) -> sqlx::Result<()> {
    sqlx::query!(
        "update accounts set security_stamp = gen_random_uuid() where id = $1",
        account as AccountId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from sessions where account_id = $1",
        account as AccountId
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The session cookie's value from request headers.
pub fn token_from_headers(headers: &HeaderMap, config: &WebConfig) -> Option<String> {
    let name = config.cookie_name();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, and Secure with the
/// `__Host-` prefix over https (SECURITY.md 1). A session cookie, no Max-Age: the server
/// decides when it ends.
pub fn set_cookie(config: &WebConfig, token: &str) -> HeaderValue {
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; HttpOnly; SameSite=Lax; Path=/{secure}",
        config.cookie_name()
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(config: &WebConfig) -> HeaderValue {
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}",
        config.cookie_name()
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}
