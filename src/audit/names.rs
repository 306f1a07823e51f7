//! Targets as people read them: the log stores `kind:id` (`class:…`, `account:…`); the
//! page's one query finds the object's name ([`super::page`]), and this module puts the
//! kind's Russian word in front of it.

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
