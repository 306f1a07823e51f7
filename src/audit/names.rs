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
}
