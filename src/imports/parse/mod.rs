//! Reading the lists a school actually has (R2.1.k): CSV in UTF-8 or Windows-1251 with `;`,
//! `,` or a tab between values, and XLSX (its first sheet). A file becomes a grid of text
//! cells numbered as a spreadsheet shows them (the header is row 1), then a [`Table`] whose
//! columns are recognised by name. Every accepted column name is in the alias tables below,
//! and nowhere else.
//!
//! One file a step: [`grid`] reads the file's bytes into cells (CSV or XLSX, with the
//! limits that keep a hostile file harmless); [`table`] recognises the columns by their
//! names and makes the [`Table`]; [`values`] parses single values (classes, dates, names,
//! roles). The kinds of list and the errors of a whole file are here.

mod grid;
mod table;
#[cfg(test)]
mod tests;
mod values;

pub use grid::{Grid, RawRow, read_grid};
pub use table::{Col, Field, Row, RowError, Table, column_for, column_letter, header_key, read};
pub use values::{class_name, clean_name, name_key, split_full_name, staff_role, staff_role_title};

/// The largest file accepted (a school's full list is a few hundred kilobytes).
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// Rows after the header. A large Russian school has about 3 000 students.
pub const MAX_ROWS: usize = 5_000;
const MAX_COLUMNS: usize = 60;

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
