//! Reading the lists a school actually has (R2.1.k): CSV in UTF-8 or Windows-1251 with `;`,
//! `,` or a tab between values, and XLSX (its first sheet). A file becomes a grid of text
//! cells numbered as a spreadsheet shows them (the header is row 1), then a [`Table`] whose
//! columns are recognised by name. Every accepted column name is in the alias tables below,
//! and nowhere else.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

/// The largest file accepted (a school's full list is a few hundred kilobytes).
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// Rows after the header. A large Russian school has about 3 000 students.
pub const MAX_ROWS: usize = 5_000;
const MAX_COLUMNS: usize = 60;
/// How far down the header may be (below a title or a date).
const HEADER_SEARCH_ROWS: usize = 10;
/// An XLSX is a zip archive: its parts, unpacked, may not exceed this (a "zip bomb" would).
const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// The shared-strings count the XLSX declares (calamine reserves memory for it up front).
const MAX_SHARED_STRINGS: u64 = 1_000_000;

/// What a file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Students,
    Staff,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "students" => Some(Kind::Students),
            "staff" => Some(Kind::Staff),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Students => "students",
            Kind::Staff => "staff",
        }
    }
    /// The list's name on the page.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Students => "ученики и родители",
            Kind::Staff => "сотрудники",
        }
    }
}

/// A file that cannot be read at all. Nothing is stored; the upload form says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    Empty,
    Unknown,
    OldExcel,
    OtherArchive,
    BrokenXlsx,
    TooComplex,
    TooManyRows,
    TooManyColumns,
    NoHeader,
    NoRows,
    DuplicateColumn(String),
    MissingColumns(Vec<String>),
}

impl FileError {
    /// The Russian explanation, with what to do.
    pub fn message(&self) -> String {
        match self {
            FileError::Empty => "Файл пустой.".into(),
            FileError::Unknown => "Формат файла не распознан. Загрузите таблицу в формате CSV \
                 (кодировка UTF-8 или Windows-1251) или XLSX."
                .into(),
            FileError::OldExcel => "Это файл Excel 97–2003 (XLS) или файл, защищённый паролем. \
                 Откройте его в Excel и сохраните как «Книга Excel (*.xlsx)» без пароля \
                 или как «CSV (разделители — точки с запятой)»."
                .into(),
            FileError::OtherArchive => "Файл похож на архив, но это не таблица XLSX. \
                 Сохраните таблицу как «Книга Excel (*.xlsx)» или как CSV."
                .into(),
            FileError::BrokenXlsx => "Файл XLSX не удалось прочитать: он повреждён или \
                 сохранён не в Excel. Сохраните таблицу заново как XLSX или как CSV."
                .into(),
            FileError::TooComplex => "Файл XLSX слишком сложный: после распаковки он больше \
                 64 МБ. Сохраните только нужный лист как CSV."
                .into(),
            FileError::TooManyRows => format!(
                "В файле больше {} строк. Разделите список на несколько файлов.",
                crate::web::format::number(MAX_ROWS as i64)
            ),
            FileError::TooManyColumns => format!(
                "В файле больше {MAX_COLUMNS} столбцов. Оставьте только столбцы из описания ниже."
            ),
            FileError::NoHeader => "В файле нет строки заголовка. Первая строка таблицы — \
                 названия столбцов, например «Класс», «Фамилия», «Имя»."
                .into(),
            FileError::NoRows => {
                "В файле только заголовок: добавьте под ним строки со списком.".into()
            }
            FileError::DuplicateColumn(name) => {
                format!("Столбец «{name}» встречается в заголовке дважды. Оставьте один.")
            }
            FileError::MissingColumns(names) => format!(
                "В заголовке нет обязательных столбцов: {}. Проверьте первую строку файла \
                 и список столбцов ниже.",
                names
                    .iter()
                    .map(|n| format!("«{n}»"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

// ---- the grid ---------------------------------------------------------------------------

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
fn shared_string_count(head: &[u8]) -> u64 {
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

// ---- columns ------------------------------------------------------------------------------

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

// ---- values -------------------------------------------------------------------------------

/// Latin letters that look like Cyrillic ones, as people type class letters by mistake.
fn cyrillic_lookalike(c: char) -> char {
    match c {
        'A' => 'А',
        'B' => 'В',
        'C' => 'С',
        'E' => 'Е',
        'H' => 'Н',
        'K' => 'К',
        'M' => 'М',
        'O' => 'О',
        'P' => 'Р',
        'T' => 'Т',
        'X' => 'Х',
        c => c,
    }
}

/// «5А», «5 а», «5-А», «5 «А»», «5A» (Latin) → (5, "А"). `None` unless a grade 1–11 and a
/// letter.
pub fn class_name(s: &str) -> Option<(i16, String)> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !"-–—«»\"'.".contains(*c))
        .collect();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let grade: i16 = digits.parse().ok()?;
    if !(1..=11).contains(&grade) {
        return None;
    }
    let letter: String = s[digits.len()..]
        .to_uppercase()
        .chars()
        .map(cyrillic_lookalike)
        .map(|c| if c == 'Ё' { 'Е' } else { c })
        .collect();
    let ok = !letter.is_empty()
        && letter.chars().count() <= 3
        && letter.chars().all(|c| ('А'..='Я').contains(&c));
    ok.then_some((grade, letter))
}

/// «01.09.2015», «1.9.2015», «2015-09-01», «01/09/2015».
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

/// «Иванов Иван Иванович» → ("Иванов", "Иван", Some("Иванович")); «Алиев Рустам Эльдар
/// оглы» keeps «Эльдар оглы» as the patronymic. `None` with fewer than two words.
pub fn split_full_name(s: &str) -> Option<(String, String, Option<String>)> {
    let mut words = s.split_whitespace();
    let surname = words.next()?.to_owned();
    let given = words.next()?.to_owned();
    let rest: Vec<&str> = words.collect();
    let patronymic = (!rest.is_empty()).then(|| rest.join(" "));
    Some((surname, given, patronymic))
}

/// A name as compared: lower case, ё as е, single spaces.
pub fn name_key(s: &str) -> String {
    s.to_lowercase()
        .replace('ё', "е")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name as stored: single spaces, trimmed.
pub fn clean_name(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The membership role a staff list's «Роль» names.
pub fn staff_role(s: &str) -> Option<&'static str> {
    let key = header_key(s);
    let role = match key.as_str() {
        "учитель" | "педагог" | "педагогический работник" | "преподаватель" => {
            "teacher"
        }
        "сотрудник" | "работник" => "staff",
        "заместитель директора" | "заместитель" | "зам директора" | "завуч" => {
            "deputy"
        }
        "директор" | "руководитель" => "director",
        _ => return None,
    };
    Some(role)
}

/// The word for a staff role on the page and in exports (UI.md).
pub fn staff_role_title(role: &str) -> &'static str {
    match role {
        "teacher" => "учитель",
        "staff" => "сотрудник",
        "deputy" => "заместитель директора",
        "director" => "директор",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp1251(s: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(s);
        assert!(!unmappable);
        bytes.into_owned()
    }

    #[test]
    fn windows_1251_with_semicolons() {
        let text = "Класс;Фамилия;Имя;Отчество;Дата рождения;Родитель 1: ФИО;Родитель 1: Телефон\r\n\
                    5А;Ёлкина;Алёна;Петровна;01.09.2014;Ёлкина Мария Ивановна;8 (912) 345-67-89\r\n";
        let bytes = cp1251(text);
        assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
        let table = read(Kind::Students, &bytes).unwrap();
        assert_eq!(table.format, "CSV, Windows-1251, разделитель «;»");
        assert_eq!(table.rows.len(), 1);
        let row = &table.rows[0];
        assert_eq!(row.number, 2);
        assert_eq!(row.get(Col::Person(Field::Surname)), "Ёлкина");
        assert_eq!(row.get(Col::BirthDate), "01.09.2014");
        assert_eq!(
            row.get(Col::Parent(1, Field::FullName)),
            "Ёлкина Мария Ивановна"
        );
        assert_eq!(row.get(Col::Parent(1, Field::Phone)), "8 (912) 345-67-89");
        assert!(table.errors.is_empty());
    }

    #[test]
    fn utf8_with_bom_and_commas() {
        let text = "\u{feff}Фамилия,Имя,Отчество,Роль,Должность,E-mail,Телефон\n\
                    Иванова,Анна,Сергеевна,учитель,\"учитель математики, 5–9 классы\",anna@school.ru,+79120000001\n";
        let table = read(Kind::Staff, text.as_bytes()).unwrap();
        assert_eq!(table.format, "CSV, UTF-8, разделитель «,»");
        let row = &table.rows[0];
        assert_eq!(
            row.get(Col::Person(Field::Surname)),
            "Иванова",
            "the BOM is not part of the first header"
        );
        assert_eq!(row.get(Col::Position), "учитель математики, 5–9 классы");
        assert_eq!(row.get(Col::Person(Field::Email)), "anna@school.ru");
    }

    #[test]
    fn class_names_are_normalised() {
        for s in ["5А", "5 А", "5-а", "5а", " 5 «А» ", "5A", "5 - a"] {
            assert_eq!(class_name(s), Some((5, "А".into())), "{s}");
        }
        assert_eq!(class_name("11б"), Some((11, "Б".into())));
        assert_eq!(class_name("10 ё"), Some((10, "Е".into())));
        for s in ["5", "12А", "0А", "А5", "пятый", "", "5Q"] {
            assert_eq!(class_name(s), None, "{s}");
        }
    }

    #[test]
    fn header_aliases_are_recognised() {
        let s = Kind::Students;
        assert_eq!(column_for(s, " КЛАСС "), Some(Col::Class));
        assert_eq!(column_for(s, "Дата рождения"), Some(Col::BirthDate));
        assert_eq!(column_for(s, "дата рожд."), Some(Col::BirthDate));
        assert_eq!(
            column_for(s, "Родитель 1: Фамилия"),
            Some(Col::Parent(1, Field::Surname))
        );
        assert_eq!(
            column_for(s, "родитель2 e-mail"),
            Some(Col::Parent(2, Field::Email))
        );
        assert_eq!(
            column_for(s, "Законный представитель 1 (ФИО)"),
            Some(Col::Parent(1, Field::FullName))
        );
        assert_eq!(
            column_for(s, "Родитель 1: Телефон"),
            Some(Col::Parent(1, Field::Phone))
        );
        assert_eq!(column_for(s, "Родитель 3: Фамилия"), None);
        assert_eq!(column_for(s, "Телефон"), None, "whose phone? left out");
        assert_eq!(column_for(s, "Ф.И.О."), Some(Col::Person(Field::FullName)));
        assert_eq!(
            column_for(s, "Отчество"),
            Some(Col::Person(Field::Patronymic))
        );
        assert_eq!(column_for(s, "Примечание"), None);
        let st = Kind::Staff;
        assert_eq!(column_for(st, "Эл. почта"), Some(Col::Person(Field::Email)));
        assert_eq!(column_for(st, "E-mail"), Some(Col::Person(Field::Email)));
        assert_eq!(column_for(st, "Роль"), Some(Col::Role));
        assert_eq!(column_for(st, "Класс"), None);
        assert_eq!(staff_role("Заместитель директора"), Some("deputy"));
        assert_eq!(staff_role("УЧИТЕЛЬ"), Some("teacher"));
        assert_eq!(staff_role("вахтёр"), None);
    }

    #[test]
    fn a_row_with_a_value_beyond_the_header_is_named() {
        // «Иванов; Иван» typed into one cell shifts the rest of the row.
        let text = "Класс;Фамилия;Имя\r\n5А;Петров;Пётр\r\n\r\n5Б;Иванов; Иван;Иванович\r\n6А;Сидоров;Олег;\r\n";
        let table = read(Kind::Students, text.as_bytes()).unwrap();
        assert_eq!(
            table.rows.iter().map(|r| r.number).collect::<Vec<_>>(),
            vec![2, 4, 5],
            "a blank line is a row in a spreadsheet too"
        );
        assert_eq!(
            table.errors,
            vec![RowError {
                row: 4,
                column: "D".into(),
                message: "значение «Иванович» стоит правее последнего столбца заголовка. \
                          Возможно, в одном из значений строки лишний разделитель."
                    .into(),
            }],
            "a trailing empty value is fine"
        );
        assert_eq!(
            table.errors[0].to_string(),
            "Строка 4, столбец «D»: значение «Иванович» стоит правее последнего столбца \
             заголовка. Возможно, в одном из значений строки лишний разделитель."
        );
    }

    #[test]
    fn a_value_with_a_line_break_is_one_row() {
        let text =
            "Класс;Фамилия;Имя\n5А;\"Петров\nПётр\";Пётр\n5Б;Иванов;Иван\n\n\n6В;Сидоров;Олег\n";
        let table = read(Kind::Students, text.as_bytes()).unwrap();
        assert_eq!(
            table.rows.iter().map(|r| r.number).collect::<Vec<_>>(),
            vec![2, 3, 6]
        );
    }

    #[test]
    fn files_that_are_not_lists_are_refused() {
        assert_eq!(read(Kind::Students, b"").unwrap_err(), FileError::Empty);
        assert_eq!(
            read(Kind::Students, b"%PDF-1.7 ...").unwrap_err(),
            FileError::Unknown
        );
        assert_eq!(
            read(Kind::Students, b"\x00\x01\x02binary").unwrap_err(),
            FileError::Unknown
        );
        assert_eq!(
            read(
                Kind::Students,
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]
            )
            .unwrap_err(),
            FileError::OldExcel
        );
        assert_eq!(
            read(Kind::Students, "Фамилия;Имя\nИванов;Иван\n".as_bytes()).unwrap_err(),
            FileError::MissingColumns(vec!["Класс".into()])
        );
        assert_eq!(
            read(Kind::Staff, "Фамилия;Имя;Роль\r\n\r\n".as_bytes()).unwrap_err(),
            FileError::NoRows
        );
        assert_eq!(
            read(Kind::Staff, "Фамилия;Имя;Фамилия;Роль\n".as_bytes()).unwrap_err(),
            FileError::DuplicateColumn("Фамилия".into())
        );
        assert!(
            FileError::MissingColumns(vec!["Класс".into()])
                .message()
                .contains("«Класс»")
        );
    }

    #[test]
    fn xlsx_first_sheet_with_numbers_and_dates() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date_format = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
        // The table starts at B3, as tables with a title above them do.
        sheet.write_string(0, 0, "Список класса").unwrap();
        for (i, h) in [
            "Класс",
            "Фамилия",
            "Имя",
            "Дата рождения",
            "Родитель 1: Телефон",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(2, 1 + i as u16, *h).unwrap();
        }
        sheet.write_string(3, 1, "5А").unwrap();
        sheet.write_string(3, 2, "Петров").unwrap();
        sheet.write_string(3, 3, "Пётр").unwrap();
        let born = rust_xlsxwriter::ExcelDateTime::from_ymd(2014, 9, 1).unwrap();
        sheet
            .write_datetime_with_format(3, 4, &born, &date_format)
            .unwrap();
        sheet.write_number(3, 5, 79123456789.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();

        // The title above the table is passed over.
        let table = read(Kind::Students, &bytes).unwrap();
        assert_eq!(table.rows.len(), 1);
        assert_eq!(table.rows[0].number, 4);
        assert_eq!(table.rows[0].get(Col::BirthDate), "01.09.2014");
        assert_eq!(table.title(Col::Class), "Класс");
        let grid = read_grid(&bytes).unwrap();
        assert_eq!(grid.format, "XLSX");
        assert_eq!(grid.rows[1].number, 3, "row numbers as Excel shows them");
        assert_eq!(
            grid.rows[2].cells,
            vec!["", "5А", "Петров", "Пётр", "01.09.2014", "79123456789"]
        );
    }

    #[test]
    fn dates_and_names() {
        let d = time::macros::date!(2014 - 09 - 01);
        for s in ["01.09.2014", "1.9.2014", "2014-09-01", "01/09/2014"] {
            assert_eq!(parse_date(s), Some(d), "{s}");
        }
        for s in ["31.02.2014", "2014", "01.09.14", "завтра"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(
            split_full_name(" Алиев  Рустам Эльдар оглы "),
            Some(("Алиев".into(), "Рустам".into(), Some("Эльдар оглы".into())))
        );
        assert_eq!(split_full_name("Иванов"), None);
        assert_eq!(name_key(" Ёлкина  Алёна "), "елкина алена");
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(26), "AA");
    }

    #[test]
    fn an_xlsx_claiming_a_billion_strings_is_refused_before_reading() {
        assert_eq!(
            shared_string_count(br#"<?xml?><sst xmlns="x" count="12" uniqueCount="999999999999">"#),
            999_999_999_999
        );
        assert_eq!(
            shared_string_count(br#"<sst count="5" uniqueCount="3">"#),
            5
        );
    }
}
