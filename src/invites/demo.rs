//! The demo school's links and requests: live, expired, revoked and stale links, parent
//! slips for 5А, and pending join requests (R2.1.f, R2.1.i, R2.1.l). The raw tokens are
//! thrown away at once, as always: the registry shows the links without them.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::session::{new_token, token_hash};
use crate::auth::tenant::Tenant;
use crate::ids::AccountId;

struct DemoLink {
    role: &'static str,
    class: &'static str,
    purpose: &'static str,
    max_uses: i32,
    uses: i32,
    approval: bool,
    /// Days from now: created (negative), expires.
    created: i32,
    expires: i32,
    revoked: bool,
}

const LINKS: &[DemoLink] = &[
    DemoLink {
        role: "student",
        class: "5А",
        purpose: "ученики 5А: классный час",
        max_uses: 40,
        uses: 3,
        approval: false,
        created: -2,
        expires: 12,
        revoked: false,
    },
    DemoLink {
        role: "parent",
        class: "5А",
        purpose: "родительское собрание 5А",
        max_uses: 80,
        uses: 4,
        approval: true,
        created: -1,
        expires: 13,
        revoked: false,
    },
    DemoLink {
        role: "teacher",
        class: "Учительская",
        purpose: "новые учителя: педсовет",
        max_uses: 5,
        uses: 1,
        approval: true,
        created: -3,
        expires: 27,
        revoked: false,
    },
    DemoLink {
        role: "student",
        class: "6Б",
        purpose: "ученики 6Б",
        max_uses: 30,
        uses: 21,
        approval: false,
        created: -20,
        expires: -6,
        revoked: false,
    },
    DemoLink {
        role: "parent",
        class: "7А",
        purpose: "родители 7А (ссылка попала в общий чат)",
        max_uses: 60,
        uses: 9,
        approval: true,
        created: -10,
        expires: 4,
        revoked: true,
    },
    DemoLink {
        role: "student",
        class: "8А",
        purpose: "ученики 8А: забытая ссылка",
        max_uses: 30,
        uses: 0,
        approval: false,
        created: -45,
        expires: 45,
        revoked: false,
    },
];

/// A pending request of the demo: who asks, for what, how long they have waited.
struct DemoRequest {
    surname: &'static str,
    given: &'static str,
    patronymic: &'static str,
    email: &'static str,
    role: &'static str,
    note: &'static str,
    days: i32,
}

const REQUESTS: &[DemoRequest] = &[
    DemoRequest {
        surname: "Кузнецова",
        given: "Марина",
        patronymic: "Олеговна",
        email: "kuznetsova.m",
        role: "parent",
        note: "",
        days: 3,
    },
    DemoRequest {
        surname: "Белов",
        given: "Сергей",
        patronymic: "Андреевич",
        email: "belov.s",
        role: "parent",
        note: "",
        days: 1,
    },
    DemoRequest {
        surname: "Гусева",
        given: "Наталья",
        patronymic: "Павловна",
        email: "guseva.n",
        role: "teacher",
        note: "учитель физики",
        days: 2,
    },
];

/// Fills the school's links and requests; `admin` creates them, and the requesters' e-mail
/// addresses end in `email_suffix` (`@demo.local` in the demo school).
pub async fn populate(
    conn: &mut PgConnection,
    tenant: Tenant,
    admin: AccountId,
    email_suffix: &str,
) -> anyhow::Result<()> {
    let school = tenant.id();
    let class_of = |title: &'static str| {
        sqlx::query_scalar::<_, Uuid>(
            "select id from classes where school_id = $1 and title = $2 order by created_at desc limit 1",
        )
        .bind(school)
        .bind(title)
    };
    let mut parent_link_5a = None;
    let mut staff_link = None;
    for l in LINKS {
        let class = class_of(l.class).fetch_one(&mut *conn).await?;
        let id = Uuid::now_v7();
        sqlx::query(
            r#"insert into invites (school_id, id, token_hash, role, class_id, purpose, max_uses, uses,
                                    needs_approval, expires_at, created_by, created_at, last_used_at,
                                    revoked_at, revoked_by)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(days => $10), $11,
                       now() + make_interval(days => $12),
                       case when $8 > 0 then now() - interval '5 hours' end,
                       case when $13 then now() - interval '1 day' end,
                       case when $13 then $11 end)"#,
        )
        .bind(school)
        .bind(id)
        .bind(token_hash(&new_token()))
        .bind(l.role)
        .bind(class)
        .bind(l.purpose)
        .bind(l.max_uses)
        .bind(l.uses)
        .bind(l.approval)
        .bind(l.expires)
        .bind(admin)
        .bind(l.created)
        .bind(l.revoked)
        .execute(&mut *conn)
        .await?;
        if l.role == "parent" && l.class == "5А" {
            parent_link_5a = Some((id, class));
        }
        if l.role == "teacher" {
            staff_link = Some((id, class));
        }
    }
    // Parent slips for 5А: one per student, the first one already used.
    let five_a = class_of("5А").fetch_one(&mut *conn).await?;
    let children: Vec<(Uuid, String)> = sqlx::query_as(
        r#"select m.id, a.surname || ' ' || a.given_name from memberships m
           join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
    )
    .bind(school)
    .bind(five_a)
    .fetch_all(&mut *conn)
    .await?;
    // One statement for the whole batch (the region generator makes thousands of schools).
    let batch = Uuid::now_v7();
    let ids: Vec<Uuid> = children.iter().map(|_| Uuid::now_v7()).collect();
    let hashes: Vec<Vec<u8>> = children.iter().map(|_| token_hash(&new_token())).collect();
    let child_ids: Vec<Uuid> = children.iter().map(|(c, _)| *c).collect();
    sqlx::query(
        r#"insert into invites (school_id, id, token_hash, role, class_id, child_id, purpose,
                                max_uses, uses, needs_approval, expires_at, batch_id, created_by,
                                last_used_at)
           select $1, x.id, x.h, 'parent', $2, x.c, 'приглашение для родителя', 1,
                  case when x.o = 1 then 1 else 0 end, false, now() + interval '28 days', $6, $7,
                  case when x.o = 1 then now() - interval '1 day' end
           from unnest($3::uuid[], $4::bytea[], $5::uuid[]) with ordinality as x(id, h, c, o)"#,
    )
    .bind(school)
    .bind(five_a)
    .bind(&ids)
    .bind(&hashes)
    .bind(&child_ids)
    .bind(batch)
    .bind(admin)
    .execute(&mut *conn)
    .await?;
    // Pending join requests, waiting a few days; a parent names their child.
    for (i, r) in REQUESTS.iter().enumerate() {
        let Some((invite, class)) = (if r.role == "parent" {
            parent_link_5a
        } else {
            staff_link
        }) else {
            continue;
        };
        let account = Uuid::now_v7();
        sqlx::query(
            r#"insert into accounts (id, surname, given_name, patronymic, email, security_stamp)
               values ($1, $2, $3, $4, $5, gen_random_uuid())"#,
        )
        .bind(account)
        .bind(r.surname)
        .bind(r.given)
        .bind(r.patronymic)
        .bind(format!("{}{email_suffix}", r.email))
        .execute(&mut *conn)
        .await?;
        let note = if r.role == "parent" {
            children
                .get(i + 1)
                .map(|(_, name)| name.clone())
                .unwrap_or_default()
        } else {
            r.note.to_owned()
        };
        sqlx::query(
            r#"insert into join_requests (school_id, id, invite_id, account_id, role, class_id, note,
                                          created_at)
               values ($1, $2, $3, $4, $5, $6, $7, now() - make_interval(days => $8))"#,
        )
        .bind(school)
        .bind(Uuid::now_v7())
        .bind(invite)
        .bind(account)
        .bind(r.role)
        .bind(class)
        .bind(note)
        .bind(r.days)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
