//! What lists and searches take from the query string, made safe once: a page number that
//! is never a 500 however it is typed (huge, negative, junk), and `LIKE` patterns in which
//! a typed `%` or `_` means itself (issue 8).

use serde::{Deserialize, Deserializer};

/// The highest page any list shows; a larger number shows that page (an empty one).
pub const MAX_PAGE: i64 = 10_000;

/// A page number from `?page=`: 1 when missing or not a number, clamped to
/// `1..=MAX_PAGE`. Use it as `page: Page` in a list's query struct (a missing field is
/// page 1 with or without `#[serde(default)]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page(i64);

impl Page {
    pub fn parse(raw: &str) -> Page {
        let raw = raw.trim();
        let n = match raw.parse::<i64>() {
            Ok(n) => n,
            // Digits too many for i64: as far as it goes.
            Err(_) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => MAX_PAGE,
            Err(_) => 1,
        };
        Page(n.clamp(1, MAX_PAGE))
    }
    /// The page number, 1-based.
    pub fn number(self) -> i64 {
        self.0
    }
    /// The SQL `offset` of this page.
    pub fn offset(self, per_page: i64) -> i64 {
        page_offset(self.0, per_page)
    }
}

impl Default for Page {
    fn default() -> Self {
        Page(1)
    }
}

impl<'de> Deserialize<'de> for Page {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        Ok(raw.as_deref().map(Page::parse).unwrap_or_default())
    }
}

/// A list's query when it takes nothing but the page.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub page: Page,
}

/// The SQL `offset` of a 1-based page, for any page number (clamped, never overflows).
pub fn page_offset(page: i64, per_page: i64) -> i64 {
    (page.clamp(1, MAX_PAGE) - 1).saturating_mul(per_page.max(0))
}

/// `text` with `\`, `%` and `_` escaped for `LIKE`/`ILIKE` (the default escape `\`).
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A pattern that finds `text` anywhere, literally: `like_contains("5%") == "%5\\%%"`.
pub fn like_contains(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// A pattern that finds values starting with `text`, literally.
pub fn like_prefix(text: &str) -> String {
    format!("{}%", like_escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_typed_page_is_a_page() {
        assert_eq!(Page::parse("999999999999999999999999").number(), MAX_PAGE);
        assert_eq!(Page::parse("999999999999999999").number(), MAX_PAGE);
        assert_eq!(Page::parse("-5").number(), 1);
        assert_eq!(Page::parse("abc").number(), 1);
        assert_eq!(Page::parse("3").number(), 3);
        assert_eq!(page_offset(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(Page::parse("3").offset(50), 100);
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_contains("5%_\\"), "%5\\%\\_\\\\%");
        assert_eq!(like_prefix("login."), "login.%");
    }
}
