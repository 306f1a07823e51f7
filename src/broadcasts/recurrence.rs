//! School time and weekly recurrence. Russian zones keep no daylight saving time, so a
//! school's zone is a fixed offset (`web::format::TIMEZONES`) and a weekly lesson is the
//! same UTC time every seven days.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::web::format::TIMEZONES;

/// The school zone's offset (Moscow when the zone is unknown).
pub fn offset(tz: &str) -> UtcOffset {
    let hours = TIMEZONES
        .iter()
        .find(|(name, _, _)| *name == tz)
        .map(|(_, h, _)| *h)
        .unwrap_or(3);
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// A `datetime-local` field («2026-12-05T10:00») read in the school's zone.
pub fn parse_local(input: &str, tz: &str) -> Option<OffsetDateTime> {
    let input = input.trim();
    let (d, t) = input.split_once('T').or_else(|| input.split_once(' '))?;
    let date = crate::web::form::parse_date(d)?;
    let mut hm = t.split(':');
    let h: u8 = hm.next()?.parse().ok()?;
    let m: u8 = hm.next()?.parse().ok()?;
    let time = Time::from_hms(h, m, 0).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset(tz)))
}

/// The value of a `datetime-local` field for `at` in the school's zone.
pub fn local_input(at: OffsetDateTime, tz: &str) -> String {
    let l = at.to_offset(offset(tz));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        l.year(),
        u8::from(l.month()),
        l.day(),
        l.hour(),
        l.minute()
    )
}

/// The local date of `at` in the school's zone.
pub fn local_date(at: OffsetDateTime, tz: &str) -> Date {
    at.to_offset(offset(tz)).date()
}

/// Whether `at` falls in the quiet hours, 22:00–08:00 school time: every post on the
/// platform notifies its subscribers.
pub fn quiet_hours(at: OffsetDateTime, tz: &str) -> bool {
    let h = at.to_offset(offset(tz)).hour();
    !(8..22).contains(&h)
}

/// One occurrence of a broadcast: its start (UTC) and local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub starts_at: OffsetDateTime,
    pub date: Date,
}

/// The occurrences of a broadcast starting at `first`, weekly up to `until` (local date,
/// inclusive) when given, that fall within `[from, to]` (local dates, inclusive). At most
/// 400 (eight years of weeks), so a mistyped year cannot make a page endless.
pub fn occurrences(
    first: OffsetDateTime,
    until: Option<Date>,
    tz: &str,
    from: Date,
    to: Date,
) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let mut at = first;
    for _ in 0..400 {
        let date = local_date(at, tz);
        if until.is_some_and(|u| date > u) || date > to {
            break;
        }
        if date >= from {
            out.push(Occurrence {
                starts_at: at,
                date,
            });
        }
        if until.is_none() {
            break;
        }
        at += Duration::weeks(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn school_time_reads_and_writes_in_the_schools_zone() {
        let at = parse_local("2026-12-05T10:30", "Asia/Yekaterinburg").unwrap();
        assert_eq!(at, datetime!(2026-12-05 05:30 UTC));
        assert_eq!(local_input(at, "Asia/Yekaterinburg"), "2026-12-05T10:30");
        assert!(parse_local("2026-13-05T10:30", "Europe/Moscow").is_none());
        assert!(parse_local("garbage", "Europe/Moscow").is_none());
    }

    #[test]
    fn quiet_hours_are_ten_at_night_to_eight_in_the_morning_school_time() {
        assert!(quiet_hours(
            datetime!(2026-12-05 19:00 UTC),
            "Europe/Moscow"
        ));
        assert!(!quiet_hours(
            datetime!(2026-12-05 18:59 UTC),
            "Europe/Moscow"
        ));
        assert!(quiet_hours(
            datetime!(2026-12-05 04:59 UTC),
            "Europe/Moscow"
        ));
        assert!(!quiet_hours(
            datetime!(2026-12-05 05:00 UTC),
            "Europe/Moscow"
        ));
    }

    #[test]
    fn weekly_occurrences_stop_at_the_end_and_stay_in_the_window() {
        let first = datetime!(2026-09-01 06:00 UTC);
        let all = occurrences(
            first,
            Some(date!(2026 - 09 - 29)),
            "Europe/Moscow",
            date!(2026 - 09 - 08),
            date!(2026 - 12 - 31),
        );
        let dates: Vec<Date> = all.iter().map(|o| o.date).collect();
        assert_eq!(
            dates,
            vec![
                date!(2026 - 09 - 08),
                date!(2026 - 09 - 15),
                date!(2026 - 09 - 22),
                date!(2026 - 09 - 29)
            ]
        );
        let once = occurrences(
            first,
            None,
            "Europe/Moscow",
            date!(2026 - 01 - 01),
            date!(2027 - 01 - 01),
        );
        assert_eq!(once.len(), 1);
    }
}
