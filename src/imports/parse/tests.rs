//! Reading real-looking files: encodings, delimiters, headers, XLSX, refused files.

use super::grid::shared_string_count;
use super::*;
use crate::web::form::parse_date;

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
    let text = "Класс;Фамилия;Имя\n5А;\"Петров\nПётр\";Пётр\n5Б;Иванов;Иван\n\n\n6В;Сидоров;Олег\n";
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
