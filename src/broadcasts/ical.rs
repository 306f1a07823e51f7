//! A small iCalendar (RFC 5545) writer for the broadcasts' feed and `.ics` files. Written
//! here rather than taken from a crate: the output must be byte-identical between fetches
//! (UID and DTSTAMP always ours, no generated values), times are always UTC (`…Z`) with the
//! school's zone named in `X-WR-TIMEZONE` (no `TZID` without a `VTIMEZONE`), and the
//! escaping and 75-octet folding with Cyrillic are tested below.

use time::OffsetDateTime;

/// One event: one occurrence of a broadcast.
#[derive(Debug, Clone)]
pub struct Event {
    pub uid: String,
    /// The row's last change.
    pub dtstamp: OffsetDateTime,
    pub sequence: i32,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub summary: String,
    pub description: String,
    pub url: Option<String>,
    pub cancelled: bool,
}

/// `20261205T073000Z`.
pub fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// TEXT escaping: backslash, semicolon, comma and line breaks.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A URI value: no TEXT escaping, but never a line break or control character.
fn uri(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Folds a content line at 75 octets (never inside a UTF-8 character); each continuation
/// line starts with one space. Ends with CRLF.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut used = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out.push_str("\r\n");
    out
}

/// The whole calendar.
pub fn calendar(name: &str, timezone: &str, events: &[Event]) -> String {
    let mut out = String::new();
    let mut line = |l: String| out.push_str(&fold(&l));
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//school-portal//broadcasts//RU".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("X-WR-CALNAME:{}", escape(name)));
    line(format!("X-WR-TIMEZONE:{}", uri(timezone)));
    for e in events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", uri(&e.uid)));
        line(format!("DTSTAMP:{}", utc(e.dtstamp)));
        line(format!("SEQUENCE:{}", e.sequence));
        line(format!("DTSTART:{}", utc(e.start)));
        line(format!("DTEND:{}", utc(e.end)));
        line(format!("SUMMARY:{}", escape(&e.summary)));
        if !e.description.is_empty() {
            line(format!("DESCRIPTION:{}", escape(&e.description)));
        }
        if let Some(u) = e.url.as_deref().filter(|u| !u.is_empty()) {
            line(format!("URL:{}", uri(u)));
            line(format!(
                "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Подключиться:{}",
                uri(u)
            ));
        }
        line(format!(
            "STATUS:{}",
            if e.cancelled {
                "CANCELLED"
            } else {
                "CONFIRMED"
            }
        ));
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn escaping_covers_backslash_semicolon_comma_and_newlines() {
        assert_eq!(escape("a\\b;c,d\r\ne"), "a\\\\b\\;c\\,d\\ne");
    }

    #[test]
    fn folding_is_at_75_octets_and_never_splits_a_cyrillic_letter() {
        let line = format!("SUMMARY:{}", "Родительское собрание 5А класса ".repeat(5));
        let folded = fold(&line);
        for l in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded.strip_suffix("\r\n"), Some(line.as_str()));
        assert!(folded.lines().count() > 3);
    }

    #[test]
    fn the_calendar_is_utc_and_names_the_zone() {
        let e = Event {
            uid: "broadcast-1-20261205@portal".into(),
            dtstamp: datetime!(2026-11-30 10:00 UTC),
            sequence: 2,
            start: datetime!(2026-12-05 07:30 UTC),
            end: datetime!(2026-12-05 08:15 UTC),
            summary: "Урок, математика".into(),
            description: String::new(),
            url: Some("https://max.ru/call/x".into()),
            cancelled: true,
        };
        let cal = calendar("Мои трансляции", "Europe/Moscow", &[e]);
        assert!(cal.contains("DTSTART:20261205T073000Z\r\n"));
        assert!(cal.contains("X-WR-TIMEZONE:Europe/Moscow\r\n"));
        assert!(cal.contains("SUMMARY:Урок\\, математика\r\n"));
        assert!(cal.contains("STATUS:CANCELLED\r\n"));
        assert!(!cal.contains("TZID"));
    }
}
