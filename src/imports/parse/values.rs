//! Single values as people write them: a class («5 а», «5A»), a date, a full name, a
//! staff role.

use super::table::header_key;
use crate::auth::permissions::Role;

/// Latin letters that look like Cyrillic ones, as people type class letters by mistake.
fn cyrillic_lookalike(c: char) -> char {
    match c {
        'A' => 'А',
        'B' => 'В',
        'C' => 'С',
        'E' => 'Е',
        'H' => 'Н',
        'K' => 'К',
        'M' => 'М',
        'O' => 'О',
        'P' => 'Р',
        'T' => 'Т',
        'X' => 'Х',
        c => c,
    }
}

/// «5А», «5 а», «5-А», «5 «А»», «5A» (Latin) → (5, "А"). `None` unless a grade 1–11 and a
/// letter.
pub fn class_name(s: &str) -> Option<(i16, String)> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !"-–—«»\"'.".contains(*c))
        .collect();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let grade: i16 = digits.parse().ok()?;
    if !(1..=11).contains(&grade) {
        return None;
    }
    let letter: String = s[digits.len()..]
        .to_uppercase()
        .chars()
        .map(cyrillic_lookalike)
        .map(|c| if c == 'Ё' { 'Е' } else { c })
        .collect();
    let ok = !letter.is_empty()
        && letter.chars().count() <= 3
        && letter.chars().all(|c| ('А'..='Я').contains(&c));
    ok.then_some((grade, letter))
}

/// «Иванов Иван Иванович» → ("Иванов", "Иван", Some("Иванович")); «Алиев Рустам Эльдар
/// оглы» keeps «Эльдар оглы» as the patronymic. `None` with fewer than two words.
pub fn split_full_name(s: &str) -> Option<(String, String, Option<String>)> {
    let mut words = s.split_whitespace();
    let surname = words.next()?.to_owned();
    let given = words.next()?.to_owned();
    let rest: Vec<&str> = words.collect();
    let patronymic = (!rest.is_empty()).then(|| rest.join(" "));
    Some((surname, given, patronymic))
}

pub use crate::web::form::name_key;

/// A name as stored: single spaces, trimmed.
pub fn clean_name(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The membership role a staff list's «Роль» names.
pub fn staff_role(s: &str) -> Option<&'static str> {
    let key = header_key(s);
    let role = match key.as_str() {
        "учитель" | "педагог" | "педагогический работник" | "преподаватель" => {
            "teacher"
        }
        "сотрудник" | "работник" => "staff",
        "заместитель директора" | "заместитель" | "зам директора" | "завуч" => {
            "deputy"
        }
        "директор" | "руководитель" => "director",
        _ => return None,
    };
    Some(role)
}

/// The word for a staff role on the page and in exports (UI.md).
pub fn staff_role_title(role: &str) -> &'static str {
    match role {
        "teacher" | "staff" | "deputy" | "director" => Role::membership_title(role),
        _ => "",
    }
}
