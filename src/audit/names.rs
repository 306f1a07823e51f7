//! Targets as people read them: the log stores `kind:id` (`class:…`, `account:…`);
//! [`resolve`] finds the names of a page's objects in one query once the page is chosen,
//! and [`target`] puts the kind's Russian word in front of the name.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::tenant::Tenant;
use crate::ids::SchoolId;

/// The object id of a `kind:id` target (`None` for a target that names no object).
pub fn target_id(raw: &str) -> Option<Uuid> {
    let (kind, id) = raw.split_once(':')?;
    kind_word(kind)?;
    Uuid::parse_str(id).ok()
}

/// The names of the objects `ids` names (ids are unique across tables): people by their
/// full name, classes, chats, channels, posts and broadcasts by their title, a subject by
/// its name, an import by its file, an invite by its class, a school by its short name.
/// Objects of another school are not found (a person is: an account has no school).
pub async fn resolve(
    conn: &mut PgConnection,
    tenant: Tenant,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"select n.id as "id!", n.name as "name!" from (
             select a.id, a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as name
             from accounts a where a.id = any($2)
             union all
             select m.id, a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')
             from memberships m join accounts a on a.id = m.account_id
             where m.school_id = $1 and m.id = any($2)
             union all select c.id, c.title from classes c where c.school_id = $1 and c.id = any($2)
             union all select c.id, c.title from chats c where c.school_id = $1 and c.id = any($2)
             union all select c.id, c.title from channels c where c.school_id = $1 and c.id = any($2)
             union all select s.id, s.name from subjects s where s.school_id = $1 and s.id = any($2)
             union all select p.id, p.title from posts p where p.school_id = $1 and p.id = any($2)
             union all select b.id, b.title from broadcasts b where b.school_id = $1 and b.id = any($2)
             union all select i.id, i.filename from imports i where i.school_id = $1 and i.id = any($2)
             union all
             select i.id, 'в класс ' || c.title
             from invites i join classes c on c.school_id = i.school_id and c.id = i.class_id
             where i.school_id = $1 and i.id = any($2)
             union all
             select s.id, coalesce(s.short_name, s.name) from schools s where s.id = any($2)
           ) n where n.name is not null"#,
        tenant.id() as SchoolId,
        ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

/// The Russian word for a target's kind (`None` for a kind the log does not know).
pub fn kind_word(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "account" => "учётная запись",
        "membership" => "участник школы",
        "school" => "школа",
        "class" => "класс",
        "chat" => "чат",
        "channel" => "канал",
        "subject" => "предмет",
        "teaching" => "назначение учителя",
        "post" => "публикация",
        "broadcast" => "трансляция",
        "import" => "импорт",
        "invite" => "приглашение",
        "offer" => "предложение",
        "removal" => "исключение из чата",
        "rollover" => "переход на новый год",
        "regulation" => "редакция Положения",
        "support" => "обращение",
        "region" => "регион",
        "connector" => "подключение к мессенджеру",
        _ => return None,
    })
}

/// How a target reads: `name` is what the log's query found for it (a person's full
/// name, a class's title, …). A person is their name alone; another object its kind's
/// word and name («класс 5А», «чат «Родители 5А»»); an object that is gone its word; a
/// target that is no `kind:id` (a denied request's `GET /path`) as it was written.
pub fn target(raw: Option<&str>, name: Option<&str>) -> String {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return String::new();
    };
    let kind = raw.split_once(':').map(|(k, _)| k).unwrap_or(raw);
    let Some(word) = kind_word(kind) else {
        return raw.to_owned();
    };
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if matches!(kind, "account" | "membership") => n.to_owned(),
        Some(n) if matches!(kind, "class" | "school") => format!("{word} {n}"),
        Some(n) => format!("{word} «{n}»"),
        None => word.to_owned(),
    }
}

/// How a row's details read. Rows written before the log was made readable hold English
/// details («23 slips; 30 days»); the known patterns read in today's Russian wording, and
/// anything else as it was written.
pub fn details(raw: &str) -> String {
    use crate::web::format::count;
    let num = |s: &str| s.trim().parse::<i64>().ok();
    if let Some((slips, days)) = raw.split_once(" slips; ") {
        if let (Some(n), Some(d)) = (num(slips), days.strip_suffix(" days").and_then(num)) {
            return format!("листков: {n}; дней: {d}");
        }
    }
    if let Some((days, done)) = raw
        .strip_prefix("unused for ")
        .and_then(|r| r.split_once(" days: "))
    {
        if let (Some(d), Some(n)) = (num(days), done.strip_suffix(" revoked").and_then(num)) {
            return format!(
                "не использовались {}: отозвано {n}",
                count(d, "день", "дня", "дней")
            );
        }
    }
    if let Some(n) = raw.strip_suffix(" revoked").and_then(num) {
        return format!("отозвано: {n}");
    }
    if let Some(chat) = raw
        .strip_prefix("platform chat ")
        .and_then(|r| r.strip_suffix(" by its link"))
    {
        return format!("чат платформы {chat} по его ссылке");
    }
    if let Some(user) = raw.strip_prefix("platform user ") {
        return format!("пользователь платформы {user}");
    }
    if let Some(rest) = raw.strip_prefix("request:") {
        if let Some((_, tail)) = rest.split_once("; ") {
            return format!("по заявке; {}", details(tail));
        }
    }
    if let Some(grant) = raw.strip_prefix("grant ") {
        return format!("право {grant}");
    }
    if let Some(to) = raw.strip_prefix("to ") {
        return format!("кому: {to}");
    }
    raw.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_kind_with_an_id_names_an_object() {
        let id = Uuid::now_v7();
        assert_eq!(target_id(&format!("class:{id}")), Some(id));
        assert_eq!(target_id(&format!("nonsense:{id}")), None);
        assert_eq!(target_id("class:5А"), None);
        assert_eq!(target_id("region"), None);
        assert_eq!(target_id("GET /s/1/audit"), None);
    }

    #[test]
    fn targets_read_as_words_and_names() {
        assert_eq!(
            target(Some("account:1"), Some("Иванов Иван")),
            "Иванов Иван"
        );
        assert_eq!(target(Some("class:1"), Some("5А")), "класс 5А");
        assert_eq!(target(Some("chat:1"), Some("Родители")), "чат «Родители»");
        assert_eq!(target(Some("offer:1"), None), "предложение");
        assert_eq!(target(Some("region"), None), "регион");
        assert_eq!(target(Some("GET /s/1/audit"), None), "GET /s/1/audit");
        assert_eq!(target(None, None), "");
    }

    #[test]
    fn old_english_details_read_in_russian() {
        assert_eq!(details("23 slips; 30 days"), "листков: 23; дней: 30");
        assert_eq!(
            details("unused for 21 days: 4 revoked"),
            "не использовались 21 день: отозвано 4"
        );
        assert_eq!(details("12 revoked"), "отозвано: 12");
        assert_eq!(details("platform user 77"), "пользователь платформы 77");
        assert_eq!(
            details("platform chat 5 by its link"),
            "чат платформы 5 по его ссылке"
        );
        assert_eq!(details("request:9; 3 revoked"), "по заявке; отозвано: 3");
        assert_eq!(details("отозвано: 3"), "отозвано: 3");
        assert_eq!(details(""), "");
    }
}
