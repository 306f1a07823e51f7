//! Reading the file into a grid of text cells: CSV (the encoding and the delimiter
//! detected) or XLSX (its first sheet), with the limits on rows, columns and unpacked size.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

use super::{FileError, MAX_COLUMNS, MAX_ROWS};
use crate::web::form::parse_date;

/// An XLSX is a zip archive: its parts, unpacked, may not exceed this (a "zip bomb" would).
const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// The shared-strings count the XLSX declares (calamine reserves memory for it up front).
const MAX_SHARED_STRINGS: u64 = 1_000_000;

/// A row of cells as a spreadsheet shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub number: usize,
    pub cells: Vec<String>,
}

/// The file's cells and how it was read («CSV, Windows-1251, разделитель «;»»).
#[derive(Debug)]
pub struct Grid {
    pub format: String,
    pub rows: Vec<RawRow>,
}

/// Reads a file, whatever it is called: the bytes decide.
pub fn read_grid(bytes: &[u8]) -> Result<Grid, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Ok(Grid {
            format: "XLSX".into(),
            rows: read_xlsx(bytes)?,
        });
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Err(FileError::OldExcel);
    }
    if bytes.starts_with(b"%PDF") || bytes.starts_with(b"{\\rtf") {
        return Err(FileError::Unknown);
    }
    let (text, encoding) = decode(bytes);
    if text.contains('\0') {
        return Err(FileError::Unknown);
    }
    let delimiter = detect_delimiter(&text);
    let rows = read_csv(&text, delimiter)?;
    let shown = match delimiter {
        b';' => "«;»",
        b',' => "«,»",
        _ => "табуляция",
    };
    Ok(Grid {
        format: format!("CSV, {encoding}, разделитель {shown}"),
        rows,
    })
}

/// Text in UTF-8 (with or without a BOM), UTF-16 (Excel's «Текст Юникод»), or else
/// Windows-1251: any byte sequence that is not valid UTF-8 is taken for it.
fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (String::from_utf8_lossy(rest).into_owned(), "UTF-8");
    }
    if bytes.starts_with(&[0xFF, 0xFE]) {
        let (text, _, _) = encoding_rs::UTF_16LE.decode(bytes);
        return (text.into_owned(), "UTF-16");
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        let (text, _, _) = encoding_rs::UTF_16BE.decode(bytes);
        return (text.into_owned(), "UTF-16");
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "UTF-8"),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes);
            (text.into_owned(), "Windows-1251")
        }
    }
}

/// The separator the header line uses most: `;` (Excel in Russia), `,` or a tab.
fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| header.matches(c).count();
    let (semi, comma, tab) = (count(';'), count(','), count('\t'));
    if tab > semi && tab > comma {
        b'\t'
    } else if comma > semi {
        b','
    } else {
        b';'
    }
}

fn read_csv(text: &str, delimiter: u8) -> Result<Vec<RawRow>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    // Blank lines are skipped by the reader but are rows in a spreadsheet; a value with
    // line breaks inside quotes is one row. Count as a spreadsheet does: a record's
    // position is where the reader started, before the blank lines it skipped.
    let mut number = 0usize;
    for record in reader.records() {
        let record = record.map_err(|_| FileError::Unknown)?;
        let start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(0);
        let bytes = text.as_bytes();
        let mut rest = bytes.get(start..).unwrap_or(&[]);
        // The reader may stop between the «\r» and «\n» of the previous line's end.
        if start > 0 && bytes.get(start - 1) == Some(&b'\r') && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        let blank_lines = rest
            .iter()
            .take_while(|b| **b == b'\n' || **b == b'\r')
            .filter(|b| **b == b'\n')
            .count();
        number += 1 + blank_lines;
        let cells: Vec<String> = record.iter().map(clean_cell).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if rows.len() > MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        if cells.len() > MAX_COLUMNS && cells[MAX_COLUMNS..].iter().any(|c| !c.is_empty()) {
            return Err(FileError::TooManyColumns);
        }
        rows.push(RawRow { number, cells });
    }
    Ok(rows)
}

/// Trims, turns non-breaking spaces into spaces, and drops the apostrophe an export puts
/// before a value a spreadsheet would take for a formula.
fn clean_cell(s: &str) -> String {
    let s = s.replace('\u{a0}', " ");
    let s = s.trim();
    let s = match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => s,
    };
    s.to_owned()
}

/// Refuses archives that unpack to far more than they weigh, before calamine sees them.
fn check_zip(bytes: &[u8]) -> Result<(), FileError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| FileError::BrokenXlsx)?;
    if zip.index_for_name("[Content_Types].xml").is_none() || zip.len() > 10_000 {
        return Err(FileError::OtherArchive);
    }
    if zip.index_for_name("xl/workbook.xml").is_none() {
        return Err(FileError::OtherArchive);
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|_| FileError::BrokenXlsx)?;
        let name = part.name().to_owned();
        // Count what actually comes out, not what the archive claims.
        let budget = MAX_UNPACKED_BYTES - total;
        let mut head = Vec::new();
        let unpacked = if name == "xl/sharedStrings.xml" {
            let n = (&mut part)
                .take(4096)
                .read_to_end(&mut head)
                .map_err(|_| FileError::BrokenXlsx)? as u64;
            n + std::io::copy(&mut (&mut part).take(budget + 1), &mut std::io::sink())
                .map_err(|_| FileError::BrokenXlsx)?
        } else {
            std::io::copy(&mut (&mut part).take(budget + 1), &mut std::io::sink())
                .map_err(|_| FileError::BrokenXlsx)?
        };
        total += unpacked;
        if total > MAX_UNPACKED_BYTES {
            return Err(FileError::TooComplex);
        }
        if !head.is_empty() && shared_string_count(&head) > MAX_SHARED_STRINGS {
            return Err(FileError::TooComplex);
        }
    }
    Ok(())
}

/// The largest `count`/`uniqueCount` declared at the start of `sharedStrings.xml`.
pub(super) fn shared_string_count(head: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(head);
    let mut max = 0;
    for attr in ["uniqueCount=\"", "count=\""] {
        let mut rest = text.as_ref();
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let n = if digits.len() > 12 {
                u64::MAX
            } else {
                digits.parse().unwrap_or(0)
            };
            max = max.max(n);
        }
    }
    max
}

/// The first sheet, cell by cell (never as one rectangle: a stray cell at XFD1048576 must
/// not make us allocate the whole sheet).
fn read_xlsx(bytes: &[u8]) -> Result<Vec<RawRow>, FileError> {
    check_zip(bytes)?;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| match e {
            calamine::XlsxError::Password => FileError::OldExcel,
            _ => FileError::BrokenXlsx,
        })?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(FileError::BrokenXlsx)?;
    let mut cells = book
        .worksheet_cells_reader(&first)
        .map_err(|_| FileError::BrokenXlsx)?;
    let mut grid: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    while let Some(cell) = cells.next_cell().map_err(|_| FileError::BrokenXlsx)? {
        let value = clean_cell(&cell_text(cell.get_value()));
        if value.is_empty() {
            continue;
        }
        let (row, col) = cell.get_position();
        let col = col as usize;
        if col >= MAX_COLUMNS {
            return Err(FileError::TooManyColumns);
        }
        if !grid.contains_key(&row) && grid.len() > MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let cells = grid.entry(row).or_default();
        if cells.len() <= col {
            cells.resize(col + 1, String::new());
        }
        cells[col] = value;
    }
    Ok(grid
        .into_iter()
        .map(|(row, cells)| RawRow {
            number: row as usize + 1,
            cells,
        })
        .collect())
}

/// A cell as text: whole numbers without «.0» (phones are often numbers), dates as
/// ДД.ММ.ГГГГ.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "да" } else { "нет" }.to_owned(),
        DataRef::DateTime(d) => {
            let (y, m, day, ..) = d.to_ymd_hms_milli();
            format!("{day:02}.{m:02}.{y}")
        }
        DataRef::DateTimeIso(s) => match s.get(..10).and_then(parse_date) {
            Some(d) => crate::web::format::date(d),
            None => s.clone(),
        },
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}
