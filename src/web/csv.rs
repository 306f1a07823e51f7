//! The one CSV writer for every export: the `csv` crate with the settings Russian Excel
//! opens without asking (a UTF-8 byte-order mark, `;` between cells, CRLF line ends,
//! quoting where needed) and the one formula guard (SECURITY.md): a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with an apostrophe, so a
//! spreadsheet never takes a typed value for a formula.

use std::borrow::Cow;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, AppResult};

pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// A cell as a spreadsheet must read it: never a formula.
pub fn guard(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// A CSV file being written; rows may differ in length (a title line above a table).
pub struct Csv {
    writer: csv::Writer<Vec<u8>>,
}

impl Default for Csv {
    fn default() -> Self {
        Self::new()
    }
}

impl Csv {
    pub fn new() -> Self {
        Csv {
            writer: csv::WriterBuilder::new()
                .delimiter(b';')
                .flexible(true)
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::from("\u{feff}".as_bytes())),
        }
    }

    /// One row; every cell passes the formula guard.
    pub fn row<I, S>(&mut self, cells: I) -> AppResult<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|c| guard(c.as_ref()).into_owned())
            .collect();
        self.writer.write_record(&cells).map_err(other)
    }

    /// The file's bytes.
    pub fn finish(self) -> AppResult<Vec<u8>> {
        self.writer
            .into_inner()
            .map_err(|e| AppError::Other(e.into_error().into()))
    }
}

fn other(e: csv::Error) -> AppError {
    AppError::Other(e.into())
}

/// The file as a download named `name`.
pub fn attachment(name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rows: &[&[&str]]) -> String {
        let mut c = Csv::new();
        for r in rows {
            c.row(r.iter()).unwrap();
        }
        String::from_utf8(c.finish().unwrap()).unwrap()
    }

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        let out = text(&[
            &["5А", "a;b", "say \"hi\""],
            &["=HYPERLINK(1)", "+7", "-1", "@x", "\tx", "\rx", "a=b"],
        ]);
        assert_eq!(
            out,
            "\u{feff}5А;\"a;b\";\"say \"\"hi\"\"\"\r\n'=HYPERLINK(1);'+7;'-1;'@x;'\tx;\"'\rx\";a=b\r\n"
        );
    }

    #[test]
    fn rows_may_differ_in_length() {
        assert_eq!(
            text(&[&["Заголовок"], &["a", "b"]]),
            "\u{feff}Заголовок\r\na;b\r\n"
        );
    }
}
