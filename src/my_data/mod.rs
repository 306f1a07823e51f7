//! «Мои данные» (R4.3, 152-FZ art. 14; issue 13, item 6): a person downloads, as a readable
//! text file, everything the portal holds about them — the account, the consents given,
//! the schools with roles and classes, their children (for a parent: name, birth date,
//! school and class, nothing of other children), the chats they are in, their join
//! requests and the audit log's entries about them. Only the person's own account is read,
//! across the schools they belong to; no other person's data is written.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use crate::AppState;
use crate::auth::extract::Actor;
use crate::auth::permissions::Access;
use crate::auth::permissions::Role;
use crate::error::AppResult;
use crate::ids::AccountId;
use crate::web::Routes;
use crate::web::format::{self, full_name};

pub fn routes(r: Routes) -> Routes {
    r.get("/my-data", Access::LoggedIn, download)
}

fn yes_no(b: bool) -> &'static str {
    if b { "да" } else { "нет" }
}

/// The file's text for `account`.
pub async fn export(conn: &mut PgConnection, account: AccountId) -> anyhow::Result<String> {
    let tz = "Europe/Moscow";
    let mut out = String::new();
    let a = sqlx::query!(
        r#"select surname, given_name, patronymic, email, phone, birth_date, created_at,
                  password_hash is not null as "has_password!",
                  (select count(*) from sessions s where s.account_id = a.id
                     and s.expires_at > now() and s.security_stamp = a.security_stamp) as "sessions!"
           from accounts a where id = $1"#,
        account as AccountId
    )
    .fetch_one(&mut *conn)
    .await?;
    writeln!(out, "Мои данные на Школьном портале")?;
    writeln!(
        out,
        "Выгружено: {} (время московское)\n",
        format::datetime(time::OffsetDateTime::now_utc(), tz)
    )?;
    writeln!(out, "УЧЁТНАЯ ЗАПИСЬ")?;
    writeln!(
        out,
        "  ФИО: {}",
        full_name(&a.surname, &a.given_name, a.patronymic.as_deref())
    )?;
    writeln!(
        out,
        "  Электронная почта: {}",
        a.email.as_deref().unwrap_or("—")
    )?;
    writeln!(
        out,
        "  Телефон: {}",
        a.phone
            .as_deref()
            .map(format::phone)
            .unwrap_or_else(|| "—".into())
    )?;
    writeln!(
        out,
        "  Дата рождения: {}",
        a.birth_date.map(format::date).unwrap_or_else(|| "—".into())
    )?;
    writeln!(out, "  Создана: {}", format::datetime(a.created_at, tz))?;
    writeln!(out, "  Пароль задан: {}", yes_no(a.has_password))?;
    writeln!(out, "  Открытых сеансов входа: {}\n", a.sessions)?;

    writeln!(out, "СОГЛАСИЯ НА ОБРАБОТКУ ПЕРСОНАЛЬНЫХ ДАННЫХ")?;
    let consents = sqlx::query!(
        r#"select c.notice_version, c.given_at, c.occasion, s.name as "school?"
           from consents c left join schools s on s.id = c.school_id
           where c.account_id = $1 order by c.given_at"#,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    if consents.is_empty() {
        writeln!(out, "  нет записей")?;
    }
    for c in consents {
        writeln!(
            out,
            "  - редакция {}, {}, {}{}",
            c.notice_version,
            format::datetime(c.given_at, tz),
            if c.occasion == "join" {
                "при вступлении по ссылке"
            } else {
                "при принятии приглашения школы"
            },
            c.school.map(|s| format!(", {s}")).unwrap_or_default()
        )?;
    }

    writeln!(out, "\nШКОЛЫ И РОЛИ")?;
    let memberships = sqlx::query!(
        r#"select s.name as school, m.role, m.status, m.position, m.joined_at, m.left_at,
                  c.title as "class?"
           from memberships m join schools s on s.id = m.school_id
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.account_id = $1 order by s.name, m.joined_at"#,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    for m in memberships {
        writeln!(
            out,
            "  - {}: {}{}{}, {}, с {}{}",
            m.school,
            Role::membership_title(&m.role),
            m.position.map(|p| format!(" ({p})")).unwrap_or_default(),
            m.class.map(|c| format!(", класс {c}")).unwrap_or_default(),
            match m.status.as_str() {
                "active" => "участник",
                "left" => "выбыл",
                _ => "приглашён",
            },
            format::datetime(m.joined_at, tz),
            m.left_at
                .map(|t| format!(" по {}", format::datetime(t, tz)))
                .unwrap_or_default()
        )?;
    }

    let children = sqlx::query!(
        r#"select ka.surname, ka.given_name, ka.patronymic, ka.birth_date, s.name as school,
                  c.title as "class?"
           from memberships p
           join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
           join memberships k on k.school_id = l.school_id and k.id = l.child_id
           join accounts ka on ka.id = k.account_id
           join schools s on s.id = k.school_id
           left join classes c on c.school_id = k.school_id and c.id = k.class_id
           where p.account_id = $1 and p.role = 'parent'
           order by ka.surname, ka.given_name"#,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    if !children.is_empty() {
        writeln!(out, "\nДЕТИ")?;
    }
    for k in children {
        writeln!(
            out,
            "  - {}, дата рождения {}, {}{}",
            full_name(&k.surname, &k.given_name, k.patronymic.as_deref()),
            k.birth_date.map(format::date).unwrap_or_else(|| "—".into()),
            k.school,
            k.class.map(|c| format!(", класс {c}")).unwrap_or_default()
        )?;
    }

    writeln!(out, "\nЧАТЫ")?;
    let chats = sqlx::query!(
        r#"select s.name as school, c.title, cm.role, cm.added_at
           from chat_members cm
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           join chats c on c.school_id = cm.school_id and c.id = cm.chat_id
           join schools s on s.id = cm.school_id
           where m.account_id = $1 order by s.name, c.title"#,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    if chats.is_empty() {
        writeln!(out, "  нет")?;
    }
    for c in chats {
        writeln!(
            out,
            "  - {}: «{}», {}, с {}",
            c.school,
            c.title,
            match c.role.as_str() {
                "owner" => "владелец",
                "admin" => "администратор чата",
                _ => "участник",
            },
            format::datetime(c.added_at, tz)
        )?;
    }

    writeln!(out, "\nЗАЯВКИ НА ВСТУПЛЕНИЕ")?;
    let requests = sqlx::query!(
        r#"select s.name as school, r.role, r.status, r.note, r.reason, r.created_at
           from join_requests r join schools s on s.id = r.school_id
           where r.account_id = $1 order by r.created_at"#,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    if requests.is_empty() {
        writeln!(out, "  нет")?;
    }
    for r in requests {
        writeln!(
            out,
            "  - {}: {}, {}, {}{}{}",
            r.school,
            Role::membership_title(&r.role),
            format::datetime(r.created_at, tz),
            match r.status.as_str() {
                "approved" => "одобрена",
                "rejected" => "отклонена",
                _ => "ждёт решения",
            },
            r.note
                .map(|n| format!(", ваша заметка: {n}"))
                .unwrap_or_default(),
            r.reason
                .map(|n| format!(", причина: {n}"))
                .unwrap_or_default()
        )?;
    }

    writeln!(out, "\nЖУРНАЛ ДЕЙСТВИЙ: ЗАПИСИ О ВАС (последние 200)")?;
    let target = format!("account:{account}");
    let log = sqlx::query!(
        r#"select l.at, l.action, l.ip, s.name as "school?"
           from audit_log l left join schools s on s.id = l.school_id
           where l.actor_id = $1 or l.target = $2
           order by l.id desc limit 200"#,
        account as AccountId,
        target
    )
    .fetch_all(&mut *conn)
    .await?;
    for l in log {
        writeln!(
            out,
            "  - {}: {}{}{}",
            format::datetime(l.at, tz),
            crate::audit_page::action_title(&l.action),
            l.school.map(|s| format!(", {s}")).unwrap_or_default(),
            l.ip.map(|ip| format!(", с адреса {ip}"))
                .unwrap_or_default()
        )?;
    }
    Ok(out)
}

async fn download(State(state): State<AppState>, actor: Actor) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let text = export(&mut conn, actor.id()).await?;
    let mut res = text.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"moi-dannye.txt\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
