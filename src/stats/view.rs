//! How the numbers are said (STATISTICS.md «Rules for every number», «Presentation»): a
//! share as «N из M (P %)», the colour band with its words, the change since last week, the
//! period chosen, the 12-week sparkline as a small server-built SVG.

use serde::Deserialize;
use time::Date;

use crate::web::format;

/// A numerator and a denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    pub part: i64,
    pub whole: i64,
}

impl Share {
    pub fn new(part: i64, whole: i64) -> Self {
        Self { part, whole }
    }
    /// The percentage, rounded half up; `None` when there is nobody to count.
    pub fn percent(self) -> Option<i64> {
        (self.whole > 0).then(|| (self.part * 200 + self.whole) / (self.whole * 2))
    }
    /// The exact fraction (for the XLSX's percentage cells).
    pub fn fraction(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 / self.whole as f64)
    }
    /// «412 из 560 (74 %)»; «нет данных: некого считать» when the denominator is 0.
    pub fn text(self) -> String {
        match self.percent() {
            Some(p) => format!(
                "{} из {} ({p} %)",
                format::number(self.part),
                format::number(self.whole)
            ),
            None => "— (некого считать)".to_owned(),
        }
    }
    pub fn band(self) -> Band {
        Band::of(self.percent())
    }
}

/// The colour band of a share: never colour alone, the words go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Red,
    Yellow,
    Green,
    None,
}

impl Band {
    pub fn of(percent: Option<i64>) -> Band {
        match percent {
            None => Band::None,
            Some(p) if p >= 75 => Band::Green,
            Some(p) if p >= 50 => Band::Yellow,
            Some(_) => Band::Red,
        }
    }
    /// The CSS class of the existing lights.
    pub fn code(self) -> &'static str {
        match self {
            Band::Green => "green",
            Band::Yellow => "yellow",
            Band::Red => "red",
            Band::None => "none",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Band::Green => "75 % и выше",
            Band::Yellow => "50–75 %",
            Band::Red => "ниже 50 %",
            Band::None => "нет данных",
        }
    }
}

/// The region's bands (A7): < 20 %, 20–50 %, 50–75 %, ≥ 75 %.
pub fn region_band(percent: Option<i64>) -> usize {
    match percent {
        Some(p) if p >= 75 => 3,
        Some(p) if p >= 50 => 2,
        Some(p) if p >= 20 => 1,
        _ => 0,
    }
}
pub const REGION_BANDS: [&str; 4] = ["ниже 20 %", "20–50 %", "50–75 %", "75 % и выше"];

/// The change since a week ago: «+12 за неделю», or why there is none.
pub fn change(now: Share, week_ago: Option<Share>) -> String {
    match week_ago {
        None => "за прошлую неделю снимка нет".to_owned(),
        Some(before) => {
            let d = now.part - before.part;
            let pp = match (now.percent(), before.percent()) {
                (Some(a), Some(b)) => format!(", {:+} п. п.", a - b),
                _ => String::new(),
            };
            if d == 0 {
                format!("без изменений за неделю{pp}")
            } else {
                format!("{d:+} за неделю{pp}")
            }
        }
    }
}

/// A 12-week sparkline: the shares (per cent) oldest first, a gap where no snapshot is.
pub fn sparkline(points: &[Option<i64>]) -> String {
    let (w, h) = (96.0_f64, 24.0_f64);
    let step = if points.len() > 1 {
        w / (points.len() - 1) as f64
    } else {
        w
    };
    let mut coords = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if let Some(p) = p {
            let y = h - 2.0 - (*p as f64).clamp(0.0, 100.0) / 100.0 * (h - 4.0);
            coords.push(format!("{:.1},{:.1}", i as f64 * step, y));
        }
    }
    let known: Vec<i64> = points.iter().flatten().copied().collect();
    let title = match (known.first(), known.last()) {
        (Some(a), Some(b)) => format!("за 12 недель: {a} % → {b} %"),
        _ => "за 12 недель снимков нет".to_owned(),
    };
    format!(
        r#"<svg class="sparkline" width="96" height="24" viewBox="0 0 96 24" role="img" aria-label="{title}"><title>{title}</title><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>"#,
        coords.join(" ")
    )
}

/// The query of the statistics pages: the period and the sort.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatsQuery {
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub municipality: String,
    #[serde(default)]
    pub download: String,
    #[serde(default)]
    pub page: crate::web::query::Page,
}

/// The period chosen, as local dates [from, to] inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub code: &'static str,
    pub from: Date,
    pub to: Date,
    /// A message next to the custom dates when they could not be used.
    pub error: Option<&'static str>,
}

impl Period {
    /// «эта неделя / этот месяц / этот учебный год / свой период», relative to `today`.
    pub fn parse(q: &StatsQuery, today: Date) -> Period {
        let week_start =
            today - time::Duration::days(i64::from(today.weekday().number_days_from_monday()));
        let week = Period {
            code: "week",
            from: week_start,
            to: today,
            error: None,
        };
        match q.period.as_str() {
            "month" => Period {
                code: "month",
                from: today.replace_day(1).unwrap_or(today),
                to: today,
                error: None,
            },
            "year" => Period {
                code: "year",
                from: format::academic_year_of(today).0,
                to: today,
                error: None,
            },
            "custom" => match (
                crate::web::form::parse_date(&q.from),
                crate::web::form::parse_date(&q.to),
            ) {
                (Some(from), Some(to)) if from <= to => Period {
                    code: "custom",
                    from,
                    to,
                    error: None,
                },
                (Some(_), Some(_)) => Period {
                    error: Some("Начало периода позже его конца."),
                    ..week
                },
                _ => Period {
                    error: Some("Укажите обе даты в виде 01.09.2025."),
                    ..week
                },
            },
            _ => week,
        }
    }

    pub fn title(&self) -> String {
        let name = match self.code {
            "month" => "этот месяц",
            "year" => "этот учебный год",
            "custom" => "свой период",
            _ => "эта неделя",
        };
        format!(
            "{name}: {} — {}",
            format::date(self.from),
            format::date(self.to)
        )
    }

    /// The query string that keeps this period (for the sort links and the exports).
    pub fn query(&self) -> String {
        if self.code == "custom" {
            format!("period=custom&from={}&to={}", self.from, self.to)
        } else {
            format!("period={}", self.code)
        }
    }
}
