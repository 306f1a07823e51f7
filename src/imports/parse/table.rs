//! The columns, recognised by their names (every accepted name is in the alias tables
//! here, and nowhere else), and the table a file becomes: the header found, the rows'
//! values by column.

use std::collections::HashMap;

use super::grid::{RawRow, read_grid};
use super::{FileError, Kind};

/// How far down the header may be (below a title or a date).
const HEADER_SEARCH_ROWS: usize = 10;

/// A person's field, the same for a student, a parent and a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Surname,
    Given,
    Patronymic,
    FullName,
    Phone,
    Email,
}

impl Field {
    fn title(self) -> &'static str {
        match self {
            Field::Surname => "Фамилия",
            Field::Given => "Имя",
            Field::Patronymic => "Отчество",
            Field::FullName => "ФИО",
            Field::Phone => "Телефон",
            Field::Email => "E-mail",
        }
    }
}

/// A column the import knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Col {
    Person(Field),
    Class,
    BirthDate,
    Role,
    Position,
    /// Parent 1 or 2 of a student.
    Parent(u8, Field),
}

impl Col {
    /// The column's name in our templates and exports.
    pub fn title(self) -> String {
        match self {
            Col::Person(f) => f.title().into(),
            Col::Class => "Класс".into(),
            Col::BirthDate => "Дата рождения".into(),
            Col::Role => "Роль".into(),
            Col::Position => "Должность".into(),
            Col::Parent(n, f) => format!("Родитель {n}: {}", f.title()),
        }
    }
}

/// The accepted names of a person's fields, as [`header_key`] leaves them.
const FIELD_ALIASES: &[(Field, &[&str])] = &[
    (Field::Surname, &["фамилия"]),
    (Field::Given, &["имя"]),
    (Field::Patronymic, &["отчество"]),
    (
        Field::FullName,
        &["фио", "ф и о", "фамилия имя отчество", "полное имя"],
    ),
    (
        Field::Phone,
        &[
            "телефон",
            "тел",
            "номер телефона",
            "мобильный телефон",
            "контактный телефон",
            "phone",
        ],
    ),
    (
        Field::Email,
        &[
            "e mail",
            "email",
            "е mail",
            "емейл",
            "эл почта",
            "электронная почта",
            "адрес электронной почты",
            "почта",
        ],
    ),
];

/// The other columns, by list.
const STUDENT_ALIASES: &[(Col, &[&str])] = &[
    (Col::Class, &["класс", "класс ученика"]),
    (
        Col::BirthDate,
        &["дата рождения", "дата рожд", "д р", "др", "день рождения"],
    ),
];
const STAFF_ALIASES: &[(Col, &[&str])] = &[
    (Col::Role, &["роль", "роль в школе"]),
    (Col::Position, &["должность"]),
];

/// How a parent's column starts: «Родитель 1: Фамилия», «Законный представитель 2 Телефон».
const PARENT_PREFIXES: &[&str] = &[
    "родитель законный представитель",
    "законный представитель",
    "представитель",
    "родитель",
];

/// A header as compared: lower case, ё as е, punctuation as spaces, spaces collapsed.
pub fn header_key(header: &str) -> String {
    let lowered: String = header
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'ё' => 'е',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field_for(key: &str) -> Option<Field> {
    FIELD_ALIASES
        .iter()
        .find(|(_, names)| names.contains(&key))
        .map(|(f, _)| *f)
}

/// The column a header names in a list of this kind, if any.
pub fn column_for(kind: Kind, header: &str) -> Option<Col> {
    let key = header_key(header);
    if key.is_empty() {
        return None;
    }
    let own = match kind {
        Kind::Students => STUDENT_ALIASES,
        Kind::Staff => STAFF_ALIASES,
    };
    if let Some((col, _)) = own.iter().find(|(_, names)| names.contains(&key.as_str())) {
        return Some(*col);
    }
    if kind == Kind::Students {
        for prefix in PARENT_PREFIXES {
            if let Some(rest) = key.strip_prefix(prefix) {
                let rest = rest.trim_start();
                let n = match rest.chars().next() {
                    Some('1') => 1,
                    Some('2') => 2,
                    _ => continue,
                };
                return field_for(rest[1..].trim()).map(|f| Col::Parent(n, f));
            }
        }
    }
    match field_for(&key) {
        // A student list has no contacts of the student's own: a «Телефон» there is
        // ambiguous and is left out (the page says so).
        Some(Field::Phone | Field::Email) if kind == Kind::Students => None,
        Some(f) => Some(Col::Person(f)),
        None => None,
    }
}

/// A row of a table: its number and its values by column.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: usize,
    values: HashMap<Col, String>,
}

impl Row {
    /// The cell's value, trimmed; "" when the column is absent or the cell empty.
    pub fn get(&self, col: Col) -> &str {
        self.values.get(&col).map(String::as_str).unwrap_or("")
    }
}

/// A problem with one cell: «Строка 17, столбец «Класс»: класса «5Г» нет в школе.»
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    /// The column as the file names it (or its letter when it has no header).
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Строка {}, столбец «{}»: {}",
            self.row, self.column, self.message
        )
    }
}

/// A file read and its columns recognised.
#[derive(Debug)]
pub struct Table {
    pub kind: Kind,
    pub format: String,
    /// The header's names as the file writes them.
    titles: HashMap<Col, String>,
    /// The header row, cell by cell.
    headers: Vec<String>,
    /// Headers that name no known column; their values are left out.
    pub ignored: Vec<String>,
    pub rows: Vec<Row>,
    /// Rows that cannot be read as the header says (a value beyond the last column).
    pub errors: Vec<RowError>,
}

impl Table {
    /// A column's name as the file writes it, or ours when the file has no such column.
    pub fn title(&self, col: Col) -> String {
        self.titles
            .get(&col)
            .cloned()
            .unwrap_or_else(|| col.title())
    }
    pub fn has(&self, col: Col) -> bool {
        self.titles.contains_key(&col)
    }
    /// Where an error's column is in the file, to list a row's errors left to right.
    pub fn position(&self, column: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == column)
            .unwrap_or(usize::MAX)
    }
}

/// «A», «B», … «AA»: a column's letter as a spreadsheet shows it.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

/// Reads a file of a kind into a table. Errors here concern the whole file; problems of
/// single rows are in [`Table::errors`] and, later, the import's validation.
pub fn read(kind: Kind, bytes: &[u8]) -> Result<Table, FileError> {
    let grid = read_grid(bytes)?;
    // The header is the first row naming two known columns: a title or a date above the
    // table («Список 5А класса на 01.09.2025») is passed over.
    let known = |r: &RawRow| {
        r.cells
            .iter()
            .filter(|c| column_for(kind, c).is_some())
            .count()
    };
    let at = grid
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| known(r) >= 2)
        .unwrap_or(0);
    let mut rows = grid.rows.into_iter().skip(at);
    let header = rows.next().ok_or(FileError::NoHeader)?;
    let mut columns: Vec<Option<Col>> = Vec::new();
    let mut titles: HashMap<Col, String> = HashMap::new();
    let mut ignored = Vec::new();
    for cell in &header.cells {
        let col = column_for(kind, cell);
        if let Some(col) = col {
            if titles.insert(col, cell.clone()).is_some() {
                return Err(FileError::DuplicateColumn(cell.clone()));
            }
        } else if !cell.is_empty() {
            ignored.push(cell.clone());
        }
        columns.push(col);
    }
    if titles.is_empty() {
        return Err(FileError::NoHeader);
    }
    let has = |c: Col| titles.contains_key(&c);
    let mut missing = Vec::new();
    let named = has(Col::Person(Field::FullName))
        || (has(Col::Person(Field::Surname)) && has(Col::Person(Field::Given)));
    if !named {
        missing.push(Col::Person(Field::Surname).title());
        missing.push(Col::Person(Field::Given).title());
    }
    match kind {
        Kind::Students if !has(Col::Class) => missing.push(Col::Class.title()),
        Kind::Staff if !has(Col::Role) => missing.push(Col::Role.title()),
        _ => {}
    }
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }

    let mut table = Table {
        kind,
        format: grid.format,
        titles,
        headers: header.cells.clone(),
        ignored,
        rows: Vec::new(),
        errors: Vec::new(),
    };
    for raw in rows {
        let mut values = HashMap::new();
        for (i, cell) in raw.cells.into_iter().enumerate() {
            match columns.get(i) {
                Some(Some(col)) => {
                    values.insert(*col, cell);
                }
                Some(None) => {}
                None if !cell.is_empty() => {
                    table.errors.push(RowError {
                        row: raw.number,
                        column: column_letter(i),
                        message: format!(
                            "значение «{cell}» стоит правее последнего столбца заголовка. \
                             Возможно, в одном из значений строки лишний разделитель."
                        ),
                    });
                    break;
                }
                None => {}
            }
        }
        table.rows.push(Row {
            number: raw.number,
            values,
        });
    }
    if table.rows.is_empty() {
        return Err(FileError::NoRows);
    }
    Ok(table)
}
