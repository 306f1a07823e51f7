//! Invite links and join requests: the way every person enters a school (R2.1.f, R2.1.i,
//! R2.1.l; R2.3.a, R2.4.a, R2.5.a, R2.6.a, R2.7.a, R2.8.a; SECURITY.md 20–25).
//!
//! A link is for one role into one target: the «Учительская» for teachers, deputies and
//! staff, a class for students and parents (chats come with a later issue). Only the
//! SHA-256 of its 256-bit token is stored; the raw link is shown once, to its creator, and
//! on what they print or send. Opening a link never consumes it; joining is one POST and
//! one transaction: a conditional `UPDATE ... WHERE uses < max_uses ... RETURNING`, the
//! creator's authority checked again, then the membership or a join request.
//!
//! - [`links`]: create, the registry, sharing (QR, poster, e-mail), revoking, hygiene;
//! - [`slips`]: a class's sheet of single-use parent slips;
//! - [`join`]: the public landing page and joining;
//! - [`requests`]: the join-request queue.

pub mod demo;
pub mod issue;
pub mod join;
pub mod links;
pub mod requests;
pub mod slips;

use sqlx::PgConnection;

use crate::auth::extract::{SchoolScope, roles_of};
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::format::{self, count};

pub fn routes(r: Routes) -> Routes {
    requests::routes(slips::routes(links::routes(join::routes(r))))
}

pub use crate::ids::{InviteId, JoinRequestId};

/// The roles a link can be for, in the order the form offers them.
pub const ROLES: [&str; 5] = ["student", "parent", "teacher", "deputy", "staff"];

/// Teachers, deputies and staff join the «Учительская» and pass status confirmation.
pub fn is_staff_role(role: &str) -> bool {
    matches!(role, "teacher" | "deputy" | "staff")
}

/// How long a link lives and how many may use it, per role (never "forever").
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub default_days: i64,
    pub max_days: i64,
    pub default_uses: i32,
    pub default_approval: bool,
}

/// A link for a staff role that does not go through approval is single-use and lives at
/// most this many days (SECURITY.md 24).
pub const STAFF_DIRECT_MAX_DAYS: i64 = 3;

pub fn policy(role: &str) -> Policy {
    match role {
        "student" => Policy {
            default_days: 14,
            max_days: 90,
            default_uses: 40,
            default_approval: false,
        },
        // Parents by a class link always go through a request: the approver links them
        // to their child. Parent slips (one per child) need none.
        "parent" => Policy {
            default_days: 14,
            max_days: 90,
            default_uses: 80,
            default_approval: true,
        },
        _ => Policy {
            default_days: STAFF_DIRECT_MAX_DAYS,
            max_days: 30,
            default_uses: 1,
            default_approval: true,
        },
    }
}

/// Whether someone with `roles` may create a link for `role` (into a class they lead, when
/// `leads_class`). The administrator invites every role; a class teacher only students and
/// parents of their own class; nobody else, so nobody invites above their own role.
pub fn may_create(roles: &[Role], leads_class: bool, role: &str) -> bool {
    if roles.contains(&Role::Admin) {
        return ROLES.contains(&role);
    }
    roles.contains(&Role::ClassTeacher) && leads_class && matches!(role, "student" | "parent")
}

/// The classes an account leads now in a school.
pub(crate) async fn led_classes(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<Vec<ClassId>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select a.class_id as "id: ClassId" from class_teacher_assignments a
           join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
           where a.school_id = $1 and a.ended_at is null and m.account_id = $2
             and m.status = 'active'"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_all(conn)
    .await
}

/// For a scope: `None` when the actor sees every class (the administrator), otherwise the
/// classes they lead.
pub(crate) fn class_limit(scope: &SchoolScope) -> Option<Vec<ClassId>> {
    if scope.has(Role::Admin) {
        None
    } else {
        Some(scope.led_classes().to_vec())
    }
}

/// The creator's authority, checked again when a link is used (SECURITY.md 24): a demoted
/// administrator's or a former class teacher's links stop working.
pub(crate) async fn creator_still_may(
    conn: &mut PgConnection,
    tenant: Tenant,
    creator: AccountId,
    role: &str,
    class: ClassId,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    let roles = roles_of(&mut *conn, creator, school).await?;
    let leads = roles.contains(&Role::ClassTeacher)
        && led_classes(&mut *conn, tenant, creator)
            .await?
            .contains(&class);
    Ok(may_create(&roles, leads, role))
}

/// The address a link opens.
pub fn join_url(public_url: &str, token: &str) -> String {
    format!("{public_url}/join/{token}")
}

/// A link as printed for typing: `host/j/TOKEN` without the scheme (the `/j/` route leads
/// on to `/join/`), the token in groups of four that the sheet sets apart with space that
/// is no character (a copied or typed link stays one word).
pub struct ShortLink {
    pub prefix: String,
    pub groups: Vec<String>,
}

pub fn short_link(public_url: &str, token: &str) -> ShortLink {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .trim_end_matches('/');
    let chars: Vec<char> = token.chars().collect();
    ShortLink {
        prefix: format!("{host}/j/"),
        groups: chars.chunks(4).map(|c| c.iter().collect()).collect(),
    }
}

/// A QR code of `text` as inline SVG markup, built here by the server (the only markup a
/// template shows unescaped).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build();
            let start = svg.find("<svg").unwrap_or(0);
            svg[start..].replacen(
                "<svg ",
                "<svg role=\"img\" aria-label=\"QR-код ссылки-приглашения\" ",
                1,
            )
        }
        Err(_) => String::new(),
    }
}

/// A standalone SVG file of the QR code (for download).
pub fn qr_svg_file(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(600, 600)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// Where a link leads, as the pages say it: «класс 5А» or «Учительская».
pub fn target_title(kind: &str, title: &str) -> String {
    if kind == "staffroom" {
        title.to_owned()
    } else {
        format!("класс {title}")
    }
}

/// A join request as its author sees it on their start page (R2.1.i).
pub struct RequestOutcome {
    pub school: String,
    pub what: String,
    pub status: &'static str,
    pub css: &'static str,
    pub reason: Option<String>,
    pub when: String,
}

/// The account's recent join requests (pending ones, and those decided in the last 30
/// days), in one school or in all.
pub async fn my_requests(
    conn: &mut PgConnection,
    account: AccountId,
    school: Option<Tenant>,
) -> sqlx::Result<Vec<RequestOutcome>> {
    let school = school.map(Tenant::id);
    let rows = sqlx::query!(
        r#"select s.name as school, s.timezone, r.role, c.kind, c.title, r.status, r.reason,
                  r.created_at, r.decided_at
           from join_requests r
           join schools s on s.id = r.school_id
           join classes c on c.school_id = r.school_id and c.id = r.class_id
           where r.account_id = $1 and ($2::uuid is null or r.school_id = $2)
             and (r.status = 'pending' or r.decided_at > now() - interval '30 days')
           order by r.created_at desc limit 10"#,
        account as AccountId,
        school.map(|s| s.0)
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (status, css) = match r.status.as_str() {
                "approved" => ("одобрена", "notice"),
                "rejected" => ("отклонена", "error-box"),
                _ => ("ждёт решения", "warning"),
            };
            RequestOutcome {
                school: r.school,
                what: format!(
                    "{}, {}",
                    Role::membership_title(&r.role),
                    target_title(&r.kind, &r.title)
                ),
                status,
                css,
                reason: r.reason,
                when: format::datetime(r.decided_at.unwrap_or(r.created_at), &r.timezone),
            }
        })
        .collect())
}

/// What the start page shows of this area: the administrator's stale-link warning and
/// the pending requests to decide; everyone's own requests.
#[derive(Default)]
pub struct HomeNotes {
    pub stale: Option<String>,
    pub stale_days: i32,
    pub pending: Option<String>,
    pub mine: Vec<RequestOutcome>,
}

pub async fn home_notes(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    stale_days: i32,
) -> sqlx::Result<HomeNotes> {
    let school = scope.school_id();
    let mut notes = HomeNotes {
        stale_days,
        ..HomeNotes::default()
    };
    if scope.can(Action::CleanupInvites) {
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from invites
               where school_id = $1 and revoked_at is null and expires_at > now()
                 and uses < max_uses
                 and coalesce(last_used_at, created_at) < now() - make_interval(days => $2)"#,
            school as SchoolId,
            stale_days
        )
        .fetch_one(&mut *conn)
        .await?;
        if n > 0 {
            notes.stale = Some(format!(
                "{} больше {}",
                count(
                    n,
                    "приглашение не использовалось",
                    "приглашения не использовались",
                    "приглашений не использовались",
                ),
                count(i64::from(stale_days), "дня", "дней", "дней")
            ));
        }
    }
    if scope.can(Action::ReviewJoinRequests) {
        let limit = class_limit(scope);
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from join_requests
               where school_id = $1 and status = 'pending'
                 and ($2::uuid[] is null or (role in ('student', 'parent') and class_id = any($2)))"#,
            school as SchoolId,
            limit.as_deref() as Option<&[ClassId]>
        )
        .fetch_one(&mut *conn)
        .await?;
        if n > 0 {
            notes.pending = Some(count(
                n,
                "заявка на вступление ждёт",
                "заявки на вступление ждут",
                "заявок на вступление ждут",
            ));
        }
    }
    notes.mine = my_requests(conn, scope.actor().id(), Some(scope.tenant())).await?;
    Ok(notes)
}

/// A student of a class, for choosing a parent's child.
#[derive(Clone)]
pub(crate) struct Child {
    pub id: MembershipId,
    pub name: String,
}

pub(crate) async fn class_students(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Vec<Child>> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student' and m.status = 'active'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| Child {
        id: r.id,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
    })
    .collect())
}

/// The students of several classes at once (the join-request queue: one query for the
/// page, not one per request), by class, in [`class_students`]'s order.
pub(crate) async fn students_of_classes(
    conn: &mut PgConnection,
    tenant: Tenant,
    classes: &[ClassId],
) -> sqlx::Result<std::collections::HashMap<ClassId, Vec<Child>>> {
    let school = tenant.id();
    let mut by_class: std::collections::HashMap<ClassId, Vec<Child>> =
        std::collections::HashMap::new();
    if classes.is_empty() {
        return Ok(by_class);
    }
    let ids: Vec<uuid::Uuid> = classes.iter().map(|c| c.0).collect();
    let rows = sqlx::query!(
        r#"select m.class_id as "class_id!: ClassId", m.id as "id: MembershipId", a.surname,
                  a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = any($2) and m.role = 'student'
             and m.status = 'active'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        school as SchoolId,
        &ids
    )
    .fetch_all(conn)
    .await?;
    for r in rows {
        by_class.entry(r.class_id).or_default().push(Child {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        });
    }
    Ok(by_class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_invites_above_their_own_role_r2_1_f() {
        assert!(may_create(&[Role::Admin], false, "deputy"));
        assert!(!may_create(&[Role::Admin], false, "director"));
        assert!(may_create(&[Role::ClassTeacher], true, "parent"));
        assert!(!may_create(&[Role::ClassTeacher], false, "parent"));
        assert!(!may_create(&[Role::ClassTeacher], true, "teacher"));
        assert!(!may_create(
            &[Role::Director, Role::Teacher],
            true,
            "student"
        ));
    }

    #[test]
    fn no_link_lives_forever_by_default_r2_1_f() {
        for role in ROLES {
            let p = policy(role);
            assert!(p.default_days <= p.max_days && p.max_days <= 90);
        }
        let staff = policy("teacher");
        assert_eq!(staff.default_uses, 1);
        assert!(staff.default_days <= STAFF_DIRECT_MAX_DAYS);
    }

    #[test]
    fn qr_code_is_svg() {
        let svg = qr_svg("http://127.0.0.1/join/abc");
        assert!(svg.starts_with("<svg role=\"img\""));
        assert!(!svg.contains("<script"));
    }
}
