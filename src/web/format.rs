//! How the pages write names, numbers and dates (UI.md).

use time::OffsetDateTime;

use super::clock::SchoolClock;

/// «Фамилия Имя Отчество».
pub fn full_name(surname: &str, given: &str, patronymic: Option<&str>) -> String {
    match patronymic {
        Some(p) if !p.is_empty() => format!("{surname} {given} {p}"),
        _ => format!("{surname} {given}"),
    }
}

/// The Russian plural form for `n`: `plural(5, "ученик", "ученика", "учеников")`.
pub fn plural<'a>(n: i64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    let n = n.abs();
    let (d10, d100) = (n % 10, n % 100);
    if d10 == 1 && d100 != 11 {
        one
    } else if (2..=4).contains(&d10) && !(12..=14).contains(&d100) {
        few
    } else {
        many
    }
}

/// A number with thin-space thousand groups: 12 345.
pub fn number(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// «12 учеников».
pub fn count(n: i64, one: &str, few: &str, many: &str) -> String {
    format!("{} {}", number(n), plural(n, one, few, many))
}

pub use super::clock::TIMEZONES;

/// «25.11.2026 14:05» in the school's zone.
pub fn datetime(at: OffsetDateTime, tz: &str) -> String {
    let local = SchoolClock::in_zone(tz).local(at);
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        local.day(),
        u8::from(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// «25.11.2026».
pub fn date(d: time::Date) -> String {
    format!("{:02}.{:02}.{}", d.day(), u8::from(d.month()), d.year())
}

const MONTHS_GENITIVE: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

/// «25 ноября 2026 г.», for prose.
pub fn date_prose(d: time::Date) -> String {
    format!(
        "{} {} {} г.",
        d.day(),
        MONTHS_GENITIVE[usize::from(u8::from(d.month())) - 1],
        d.year()
    )
}

/// «приказ № 12-о от 01.09.2025».
pub fn order(number: &str, date_: time::Date) -> String {
    format!("приказ № {number} от {}", date(date_))
}

/// «+7 (912) 345-67-89».
pub fn phone(normalized: &str) -> String {
    let d: Vec<char> = normalized.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() != 11 {
        return normalized.to_owned();
    }
    let s = |a: usize, b: usize| d[a..b].iter().collect::<String>();
    format!("+7 ({}) {}-{}-{}", s(1, 4), s(4, 7), s(7, 9), s(9, 11))
}

/// The academic year a date falls in: 1 September .. 31 August, «2025/2026».
pub fn academic_year_of(d: time::Date) -> (time::Date, time::Date, String) {
    let start_year = if u8::from(d.month()) >= 9 {
        d.year()
    } else {
        d.year() - 1
    };
    let starts = time::Date::from_calendar_date(start_year, time::Month::September, 1).unwrap_or(d);
    let ends = time::Date::from_calendar_date(start_year + 1, time::Month::August, 31).unwrap_or(d);
    (starts, ends, format!("{}/{}", start_year, start_year + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::form::{normalize_email, normalize_phone};
    use time::macros::{date, datetime};

    #[test]
    fn russian_plurals() {
        let f = |n| plural(n, "ученик", "ученика", "учеников");
        assert_eq!(f(1), "ученик");
        assert_eq!(f(2), "ученика");
        assert_eq!(f(5), "учеников");
        assert_eq!(f(11), "учеников");
        assert_eq!(f(12), "учеников");
        assert_eq!(f(21), "ученик");
        assert_eq!(f(22), "ученика");
        assert_eq!(f(111), "учеников");
        assert_eq!(f(0), "учеников");
    }

    #[test]
    fn thousands_are_grouped_with_thin_spaces() {
        assert_eq!(number(12345), "12\u{202f}345");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000000), "1\u{202f}000\u{202f}000");
    }

    #[test]
    fn dates_in_the_school_zone() {
        let at = datetime!(2026-11-25 21:30 UTC);
        assert_eq!(datetime(at, "Europe/Moscow"), "26.11.2026 00:30");
        assert_eq!(datetime(at, "Europe/Kaliningrad"), "25.11.2026 23:30");
        assert_eq!(date_prose(date!(2026 - 11 - 25)), "25 ноября 2026 г.");
        assert_eq!(
            order("12-о", date!(2025 - 09 - 01)),
            "приказ № 12-о от 01.09.2025"
        );
    }

    #[test]
    fn phones_and_emails() {
        assert_eq!(
            normalize_phone("8 (912) 345-67-89").as_deref(),
            Some("+79123456789")
        );
        assert_eq!(
            normalize_phone("+7 912 345 67 89").as_deref(),
            Some("+79123456789")
        );
        assert_eq!(normalize_phone("12345"), None);
        // One digit short of «8 912 345 67 89»: refused, not stored as +7 891 234-56-78.
        assert_eq!(normalize_phone("8 912 345 67 8"), None);
        assert_eq!(normalize_phone("+7 912 345 67 8"), None);
        assert_eq!(
            normalize_phone("912 345 67 89").as_deref(),
            Some("+79123456789")
        );
        assert_eq!(phone("+79123456789"), "+7 (912) 345-67-89");
        assert_eq!(
            normalize_email(" Admin@School.RU ").as_deref(),
            Some("admin@school.ru")
        );
        assert_eq!(normalize_email("nope"), None);
    }

    #[test]
    fn academic_year_runs_september_to_august() {
        assert_eq!(academic_year_of(date!(2026 - 11 - 25)).2, "2026/2027");
        assert_eq!(academic_year_of(date!(2026 - 05 - 25)).2, "2025/2026");
        assert_eq!(
            academic_year_of(date!(2026 - 09 - 01)).0,
            date!(2026 - 09 - 01)
        );
    }
}
