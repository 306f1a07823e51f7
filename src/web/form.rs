//! A form's input, one way: [`FormErrors`] (the Russian message next to each field) and
//! the parsers of what people type into forms and import files — dates, phone numbers,
//! e-mail addresses. `web::format` only writes values out.

use std::borrow::Cow;
use std::collections::HashMap;

/// Field errors of a form, in Russian, by field name.
///
/// A new one already holds «Поле содержит недопустимые символы» for each field of this
/// request's form from which the edge removed control characters (see `web::input`): the
/// handler's own validation then fails and shows the form again with that message next to
/// the field, whatever form it is.
#[derive(Debug)]
pub struct FormErrors(HashMap<Cow<'static, str>, Cow<'static, str>>);

impl Default for FormErrors {
    fn default() -> Self {
        let mut errors = Self(HashMap::new());
        for field in crate::web::input::refused_fields() {
            errors
                .0
                .entry(Cow::Owned(field))
                .or_insert(Cow::Borrowed(crate::web::input::REFUSED_MESSAGE));
        }
        errors
    }
}

impl FormErrors {
    /// No errors, whatever the request held (for a page that is not the form sent).
    pub fn none() -> Self {
        Self(HashMap::new())
    }
    /// The errors of this request (see [`Default`]) with `message` next to `field`.
    pub fn field(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
    /// `message` next to `field`, unless the field has one already. Most messages are
    /// fixed text; one built from what was sent (an import file's problem) is a `String`.
    pub fn add(&mut self, field: &'static str, message: impl Into<Cow<'static, str>>) {
        self.0
            .entry(Cow::Borrowed(field))
            .or_insert_with(|| message.into());
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(|m| m.as_ref())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The one date parser, for forms and imports: «2015-09-01» (the date input's format),
/// «01.09.2015», «1.9.2015», «01/09/2015».
pub fn parse_date(s: &str) -> Option<time::Date> {
    let s = s.trim();
    let parts: Vec<&str> = s.split(['.', '/', '-']).collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.len() > 4) {
        return None;
    }
    let num = |p: &str| p.parse::<u16>().ok();
    let (y, m, d) = if parts[0].len() == 4 {
        (num(parts[0])?, num(parts[1])?, num(parts[2])?)
    } else if parts[2].len() == 4 {
        (num(parts[2])?, num(parts[1])?, num(parts[0])?)
    } else {
        return None;
    };
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    time::Date::from_calendar_date(i32::from(y), month, u8::try_from(d).ok()?).ok()
}

/// A name as compared: lower case, ё as е, runs of white space as one space, trimmed. The
/// SQL function `name_key(text)` (migrations/0030_name_key.sql) is the same; tests/it/names.rs
/// proves they agree.
pub fn name_key(s: &str) -> String {
    s.to_lowercase()
        .replace('ё', "е")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Normalises a Russian phone number to +7XXXXXXXXXX; `None` if it is not one: eleven
/// digits starting with 7 or 8, or the ten of the national number. Ten digits starting
/// with 7 or 8 are an eleven-digit number with one digit missing («8 912 345 67 8»), not
/// another number.
pub fn normalize_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
    let national = match digits.len() {
        10 if !digits.starts_with('7') && !digits.starts_with('8') => digits,
        11 if digits.starts_with('7') || digits.starts_with('8') => digits[1..].to_owned(),
        _ => return None,
    };
    Some(format!("+7{national}"))
}

/// A plausible e-mail address, lower-cased; `None` if it is not one.
pub fn normalize_email(input: &str) -> Option<String> {
    let e = input.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(char::is_whitespace)
        && e.len() <= 254;
    ok.then_some(e)
}
