//! Time in the school's zone, one way: a [`SchoolClock`] made from the scope (or from a
//! school's zone name) answers «today», the start and the end of a day, and the date in an
//! export's file name. Russia keeps no daylight saving time since 2014, so each supported
//! zone is a fixed offset; `schools.timezone` is CHECKed against the same list
//! (migrations/0023).

use time::{Date, OffsetDateTime, UtcOffset};

use crate::auth::extract::SchoolScope;

/// The Russian time zones a school can be in: IANA name, offset hours, label.
pub const TIMEZONES: &[(&str, i8, &str)] = &[
    ("Europe/Kaliningrad", 2, "Калининград (МСК−1)"),
    ("Europe/Moscow", 3, "Москва (МСК)"),
    ("Europe/Samara", 4, "Самара (МСК+1)"),
    ("Asia/Yekaterinburg", 5, "Екатеринбург (МСК+2)"),
    ("Asia/Omsk", 6, "Омск (МСК+3)"),
    ("Asia/Krasnoyarsk", 7, "Красноярск (МСК+4)"),
    ("Asia/Irkutsk", 8, "Иркутск (МСК+5)"),
    ("Asia/Yakutsk", 9, "Якутск (МСК+6)"),
    ("Asia/Vladivostok", 10, "Владивосток (МСК+7)"),
    ("Asia/Magadan", 11, "Магадан (МСК+8)"),
    ("Asia/Kamchatka", 12, "Камчатка (МСК+9)"),
];

/// The school's wall clock.
#[derive(Debug, Clone, Copy)]
pub struct SchoolClock {
    offset: UtcOffset,
}

impl SchoolClock {
    /// The clock of the scope's school.
    pub fn of(scope: &SchoolScope) -> Self {
        Self::in_zone(scope.timezone())
    }

    /// The clock of a zone by its IANA name; an unknown name (the CHECK allows none) is
    /// Moscow time.
    pub fn in_zone(tz: &str) -> Self {
        let hours = TIMEZONES
            .iter()
            .find(|(name, _, _)| *name == tz)
            .map_or(3, |(_, h, _)| *h);
        SchoolClock {
            offset: UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC),
        }
    }

    /// Whether the zone is one a school can be in.
    pub fn supports(tz: &str) -> bool {
        TIMEZONES.iter().any(|(name, _, _)| *name == tz)
    }

    /// Now, on the school's wall clock.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().to_offset(self.offset)
    }

    /// Today's date at the school.
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// An instant shown on the school's wall clock.
    pub fn local(&self, at: OffsetDateTime) -> OffsetDateTime {
        at.to_offset(self.offset)
    }

    /// The first instant of `day` at the school.
    pub fn start_of(&self, day: Date) -> OffsetDateTime {
        day.midnight().assume_offset(self.offset)
    }

    /// The end of `day` at the school: the first instant of the next day (exclusive).
    pub fn end_of(&self, day: Date) -> OffsetDateTime {
        day.next_day()
            .map_or_else(|| self.start_of(day), |next| self.start_of(next))
    }

    /// Today's date for an export's file name: «2026-11-25».
    pub fn file_date(&self) -> String {
        self.today().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn a_day_starts_and_ends_at_the_schools_midnight() {
        let clock = SchoolClock::in_zone("Asia/Vladivostok");
        let day = date!(2026 - 11 - 25);
        assert_eq!(clock.start_of(day), datetime!(2026-11-24 14:00 UTC));
        assert_eq!(clock.end_of(day), datetime!(2026-11-25 14:00 UTC));
        let moscow = SchoolClock::in_zone("Europe/Moscow");
        assert_eq!(moscow.start_of(day), datetime!(2026-11-24 21:00 UTC));
        assert_eq!(
            moscow.local(datetime!(2026-11-24 21:30 UTC)).date(),
            day,
            "half past midnight in Moscow is already the 25th"
        );
    }

    #[test]
    fn an_unknown_zone_is_moscow_time() {
        let day = date!(2026 - 01 - 01);
        assert_eq!(
            SchoolClock::in_zone("Mars/Olympus").start_of(day),
            SchoolClock::in_zone("Europe/Moscow").start_of(day)
        );
        assert!(!SchoolClock::supports("Mars/Olympus"));
        assert!(SchoolClock::supports("Asia/Kamchatka"));
    }
}
