//! Import and export of people (R2.1.k; SECURITY.md 19 and 26): files a school actually has
//! (CSV in Windows-1251 or UTF-8, `;` or `,`; XLSX), a preview naming the row and column of
//! every error, all-or-nothing application, no duplicates on a second import, and CSV
//! exports that import back as "no changes".

use std::time::Instant;

use school_portal::ids::SchoolId;

use crate::helpers::*;

const SURNAMES: [&str; 20] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
];
const GIVEN: [&str; 20] = [
    "Артём",
    "Максим",
    "Иван",
    "Михаил",
    "Даниил",
    "Дмитрий",
    "Кирилл",
    "Андрей",
    "Егор",
    "Никита",
    "Илья",
    "Алексей",
    "Матвей",
    "Тимофей",
    "Роман",
    "Сергей",
    "Владимир",
    "Ярослав",
    "Фёдор",
    "Лев",
];
/// A father's given name and the patronymic it gives.
const FATHERS: [(&str, &str); 5] = [
    ("Пётр", "Петрович"),
    ("Илья", "Ильич"),
    ("Сергей", "Сергеевич"),
    ("Олег", "Олегович"),
    ("Андрей", "Андреевич"),
];
const LETTERS: [&str; 2] = ["А", "Б"];

/// A school with classes 1–11 А and Б of the current year, and its administrator (a
/// description: a test adds its own people and builds it).
fn school_with_classes(app: &TestApp) -> School<'_> {
    let mut school = School::new(app).named("МБОУ СОШ № 5");
    for grade in 1..=11i16 {
        for letter in LETTERS {
            school = school.class(&format!("{grade}{letter}"));
        }
    }
    school.admin("admin@test.local")
}

/// The i-th student's row: class, names, birth date, parent 1 as one «ФИО» cell with a
/// phone, and for even i a second parent in separate columns with a phone and an e-mail.
fn student_row(i: usize) -> String {
    let grade = 1 + i % 11;
    let letter = LETTERS[(i / 11) % 2];
    // Written the ways schools write them.
    let class = match i % 3 {
        0 => format!("{grade}{letter}"),
        1 => format!("{grade} {}", letter.to_lowercase()),
        _ => format!("{grade}-{letter}"),
    };
    let surname = SURNAMES[i % 20];
    let given = GIVEN[(i / 20) % 20];
    let (father, patronymic) = FATHERS[(i / 400) % 5];
    let born = time::macros::date!(2009 - 01 - 01) + time::Duration::days(i as i64);
    let born = format!(
        "{:02}.{:02}.{}",
        born.day(),
        u8::from(born.month()),
        born.year()
    );
    let mother = format!("{surname}а Мария Ивановна");
    let p1_phone = format!(
        "8 (900) {:03}-{:02}-{:02}",
        i / 10000,
        (i / 100) % 100,
        i % 100
    );
    let second = if i % 2 == 0 {
        format!(
            "{surname};{father};Иванович;+7 901 {:03} {:02} {:02};papa{i}@mail.ru",
            i / 10000,
            (i / 100) % 100,
            i % 100
        )
    } else {
        ";;;;".to_owned()
    };
    format!("{class};{surname};{given};{patronymic};{born};{mother};{p1_phone};{second}")
}

const STUDENT_HEADER: &str = "Класс;Фамилия;Имя;Отчество;Дата рождения;Родитель 1: ФИО;\
    Родитель 1: Телефон;Родитель 2: Фамилия;Родитель 2: Имя;Родитель 2: Отчество;\
    Родитель 2: Телефон;Родитель 2: E-mail";

/// `n` students, and optionally one more line at the end; Windows-1251 with `;`.
fn students_file(n: usize, extra: Option<&str>) -> Vec<u8> {
    let mut text = String::from(STUDENT_HEADER);
    text.push_str("\r\n");
    for i in 0..n {
        text.push_str(&student_row(i));
        text.push_str("\r\n");
    }
    if let Some(line) = extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

async fn upload(
    app: &TestApp,
    c: &reqwest::Client,
    school: SchoolId,
    kind: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", kind.to_owned())
        .part("file", part);
    c.post(app.url(&format!("/s/{school}/import")))
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

/// Uploads and returns the preview's path.
async fn uploaded(
    app: &TestApp,
    c: &reqwest::Client,
    school: SchoolId,
    kind: &str,
    bytes: Vec<u8>,
) -> String {
    let res = upload(app, c, school, kind, "список.csv", bytes).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let to = location(&res);
    assert!(to.starts_with(&format!("/s/{school}/import/")));
    to
}

/// The preview's counts: create, update, unchanged, refused.
fn counts(html: &str) -> [String; 4] {
    let n = |id: &str| select_texts(html, &format!("#{id} .stat-value")).join("");
    [
        n("count-create"),
        n("count-update"),
        n("count-unchanged"),
        n("count-refused"),
    ]
}

async fn count(app: &TestApp, sql: &str, school: SchoolId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(school)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn students_in(app: &TestApp, school: SchoolId) -> i64 {
    count(
        app,
        "select count(*) from memberships where school_id = $1 and role = 'student' and status = 'active'",
        school,
    )
    .await
}

#[tokio::test]
async fn a_2000_row_windows_1251_semicolon_file_with_parents_imports_r2_1_k() {
    let app = TestApp::spawn().await;
    let w = school_with_classes(&app).build().await;
    let school = w.id;
    let c = app.logged_in("admin@test.local").await;

    let started = Instant::now();
    let preview = uploaded(&app, &c, school, "students", students_file(2000, None)).await;
    println!("R2.1.k: uploading 2 000 rows took {:?}", started.elapsed());
    let started = Instant::now();
    let res = app.get(&c, &preview).await;
    println!("R2.1.k: previewing 2 000 rows took {:?}", started.elapsed());
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert_eq!(counts(&html), ["2 000", "0", "0", "0"].map(String::from));
    assert_eq!(select_texts(&html, "#parents-new"), vec!["3 000"]);
    assert!(html.contains("CSV, Windows-1251, разделитель «;»"));
    assert!(select_texts(&html, ".import-errors li").is_empty());
    // The table of rows is paginated: 100 of 2 000.
    assert_eq!(select_texts(&html, ".import-rows tbody tr").len(), 100);
    assert!(html.contains("Страница 1 из 20"));
    // Looking changes nothing.
    assert_eq!(students_in(&app, school).await, 0);

    let started = Instant::now();
    let res = app.post(&c, &format!("{preview}/apply"), &[]).await;
    let elapsed = started.elapsed();
    println!("R2.1.k: applying 2 000 students with 3 000 parents took {elapsed:?}");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{preview}?done=applied"));

    assert_eq!(students_in(&app, school).await, 2000);
    // The file held children's personal data: once applied, it is not kept.
    let kept: i32 = sqlx::query_scalar("select length(content) from imports")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kept, 0);
    // Parents with a contact are invited, not attached (SECURITY.md 35): an offer each,
    // a letter to those with an e-mail, no account made by the school.
    let parents = count(
        &app,
        "select count(*) from memberships where school_id = $1 and role = 'parent'",
        school,
    )
    .await;
    assert_eq!(parents, 0);
    let offers = count(
        &app,
        "select count(*) from offers where school_id = $1 and role = 'parent' and child_id is not null and status = 'pending'",
        school,
    )
    .await;
    assert_eq!(offers, 3000);
    let accounts: i64 = sqlx::query_scalar("select count(*) from accounts where phone is not null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 0);
    // Every student is in the class their row names, however it was written.
    for i in [0usize, 1, 2, 13, 1999] {
        let class: String = sqlx::query_scalar(
            "select c.title from memberships m join accounts a on a.id = m.account_id
             join classes c on c.id = m.class_id
             where m.school_id = $1 and a.surname = $2 and a.given_name = $3 and a.birth_date = $4",
        )
        .bind(school)
        .bind(SURNAMES[i % 20])
        .bind(GIVEN[(i / 20) % 20])
        .bind(time::macros::date!(2009 - 01 - 01) + time::Duration::days(i as i64))
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(
            class,
            format!("{}{}", 1 + i % 11, LETTERS[(i / 11) % 2]),
            "row {i}"
        );
        assert!(w.has_class(&class));
    }
    // The first student's two parents, invited for that child, with normalised contacts.
    let contacts: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "select o.surname || ' ' || o.given_name, o.phone, o.email
         from offers o
         join memberships cm on cm.school_id = o.school_id and cm.id = o.child_id
         join accounts ca on ca.id = cm.account_id
         where o.school_id = $1 and ca.surname = 'Иванов' and ca.birth_date = '2009-01-01'
         order by o.phone",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        contacts,
        vec![
            (
                "Иванова Мария".to_owned(),
                Some("+79000000000".to_owned()),
                None
            ),
            (
                "Иванов Пётр".to_owned(),
                Some("+79010000000".to_owned()),
                Some("papa0@mail.ru".to_owned())
            ),
        ]
    );
    // Recorded: the upload and the import, with its counts; the page says it is done.
    let details: String = sqlx::query_scalar(
        "select details from audit_log where action = 'import.applied' and school_id = $1",
    )
    .bind(school)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(details.contains("создано 2\u{202f}000"), "{details}");
    assert!(
        app.audit_actions()
            .await
            .contains(&"import.uploaded".to_owned())
    );
    let html = app
        .get(&c, &format!("{preview}?done=applied"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Импорт выполнен"));
    assert!(select_texts(&html, "#import-summary")[0].contains("Новых родителей 3 000"));
}

#[tokio::test]
async fn the_same_file_twice_creates_no_duplicates_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;
    // A family with two children: the same mother (same phone) in both rows.
    let siblings = "5А;Орлова;Вера;;;Орлова Анна Павловна;+7 (912) 000-00-01;;;;;\r\n\
                    7Б;Орлов;Павел;;;Орлова Анна Павловна;8 912 000 00 01;;;;;";
    let file = students_file(300, Some(siblings));

    let first = uploaded(&app, &c, school, "students", file.clone()).await;
    let html = app.get(&c, &first).await.text().await.unwrap();
    assert_eq!(counts(&html), ["302", "0", "0", "0"].map(String::from));
    assert_eq!(
        select_texts(&html, "#parents-new"),
        vec!["451"],
        "300 + 150 parents, and the mother of two once"
    );
    assert_eq!(
        app.post(&c, &format!("{first}/apply"), &[]).await.status(),
        303
    );
    let accounts_after_first: i64 = sqlx::query_scalar("select count(*) from accounts")
        .fetch_one(&app.db)
        .await
        .unwrap();

    // Applying the same import again changes nothing and shows the first answer.
    let again = app.post(&c, &format!("{first}/apply"), &[]).await;
    assert_eq!(location(&again), format!("{first}?done=applied"));
    let html = app.get(&c, &location(&again)).await.text().await.unwrap();
    assert!(html.contains("Импорт выполнен"));

    // Uploading the same file again: everyone is known.
    let second = uploaded(&app, &c, school, "students", file).await;
    assert_ne!(first, second);
    let html = app.get(&c, &second).await.text().await.unwrap();
    assert_eq!(counts(&html), ["0", "0", "302", "0"].map(String::from));
    assert_eq!(select_texts(&html, "#parents-new"), vec!["0"]);
    assert_eq!(select_texts(&html, "#links-new"), vec!["0"]);
    assert_eq!(
        app.post(&c, &format!("{second}/apply"), &[]).await.status(),
        303
    );
    let accounts_after_second: i64 = sqlx::query_scalar("select count(*) from accounts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts_after_first, accounts_after_second);
    assert_eq!(students_in(&app, school).await, 302);
    let offers: i64 = sqlx::query_scalar("select count(*) from offers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        offers, 452,
        "no second offer: 300 + 150 parents, the mother once per child"
    );
    let mother_children: i64 = sqlx::query_scalar(
        "select count(*) from offers where phone = '+79120000001' and child_id is not null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(mother_children, 2);

    // A changed class is a transfer, not a new student.
    let moved = "Класс;Фамилия;Имя\r\n6А;Орлова;Вера\r\n";
    let third = uploaded(&app, &c, school, "students", moved.as_bytes().to_vec()).await;
    let html = app.get(&c, &third).await.text().await.unwrap();
    assert_eq!(counts(&html), ["0", "1", "0", "0"].map(String::from));
    assert!(html.contains("перевод из класса 5А в класс 6А"));
    app.post(&c, &format!("{third}/apply"), &[]).await;
    let class: String = sqlx::query_scalar(
        "select c.title from memberships m join accounts a on a.id = m.account_id
         join classes c on c.id = m.class_id where a.surname = 'Орлова' and a.given_name = 'Вера'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(class, "6А");
    assert_eq!(students_in(&app, school).await, 302);
}

#[tokio::test]
async fn one_bad_row_at_the_end_creates_nothing_and_is_named_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;
    let bad = "5Г;Зайцев;Олег;Иванович;01.02.2014;Зайцева Ольга Ивановна;+79125550000;;;;;";
    let preview = uploaded(&app, &c, school, "students", students_file(2000, Some(bad))).await;

    let html = app.get(&c, &preview).await.text().await.unwrap();
    assert_eq!(counts(&html), ["2 000", "0", "0", "1"].map(String::from));
    assert_eq!(
        select_texts(&html, ".import-errors li"),
        vec![
            "Строка 2002, столбец «Класс»: класса «5Г» нет в школе. Создайте его или исправьте класс в файле."
        ]
    );
    assert!(html.contains("Импорт невозможен: 1 ошибка"));
    assert!(select_texts(&html, "form[action$='/apply']").is_empty());
    assert_eq!(
        select_attr(&html, "button[disabled]", "type"),
        vec!["button"]
    );

    // Applying anyway (a second tab, a crafted request) is refused and writes nothing.
    let res = app.post(&c, &format!("{preview}/apply"), &[]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Импорт не выполнен, ничего не записано"));
    assert!(html.contains("Строка 2002, столбец «Класс»"));
    assert_eq!(students_in(&app, school).await, 0);
    let people: i64 =
        sqlx::query_scalar("select count(*) from accounts where password_hash is null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(people, 0);
    let applied: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select applied_at from imports")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(applied.is_none());
    assert!(
        !app.audit_actions()
            .await
            .contains(&"import.applied".to_owned())
    );
}

#[tokio::test]
async fn every_refused_row_names_its_row_column_and_reason_r2_1_k() {
    let app = TestApp::spawn().await;
    // Someone else on the portal already has this e-mail.
    let school = school_with_classes(&app)
        .account("taken@test.local")
        .called("Чужой", "Человек")
        .build()
        .await
        .id;
    let c = app.logged_in("admin@test.local").await;
    let text = "\u{feff}Класс,Фамилия,Имя,Дата рождения,Родитель 1: ФИО,Родитель 1: E-mail,Родитель 1: Телефон\n\
                5А,Петров,Илья,02.11.2014,Петрова Ольга,olga@mail.ru,\n\
                5Б,Петров,Илья,02.11.2014,,,\n\
                5А,Сидоров,Олег,31.02.2014,Сидорова Анна,taken@test.local,\n\
                пятый,Козлов,,01.01.2014,Козлова Ирина,,12345\n\
                6А,Лебедев,Лев,,Лебедева Нина,olga@mail.ru,\n";
    let preview = uploaded(&app, &c, school, "students", text.as_bytes().to_vec()).await;
    let html = app.get(&c, &preview).await.text().await.unwrap();
    let errors = select_texts(&html, ".import-errors li");
    let expected = [
        "Строка 3, столбец «Фамилия»: ученик «Петров Илья» с датой рождения 02.11.2014 уже есть в строке 2: одна строка на ученика.",
        "Строка 4, столбец «Дата рождения»: даты «31.02.2014» не бывает.",
        "Строка 5, столбец «Класс»: «пятый» — не класс: пишите номер и букву, например «5А».",
        "Строка 5, столбец «Имя»: не указано имя.",
        "Строка 5, столбец «Родитель 1: Телефон»: телефон «12345» не похож на российский номер: нужны 10 цифр после +7 или 8.",
        "Строка 6, столбец «Родитель 1: E-mail»: этот контакт уже указан в строке 2 у другого человека.",
    ];
    assert_eq!(errors, expected.map(String::from));
    assert_eq!(counts(&html)[3], "4");

    // The e-mail of someone outside the school is not even looked up (SECURITY.md 35): the
    // row plans the same as for a new address, and nothing names the other person.
    let text = "Класс;Фамилия;Имя;Родитель 1: ФИО;Родитель 1: E-mail\n\
                5А;Сидоров;Олег;Сидорова Анна;Taken@Test.local\n";
    let preview = uploaded(&app, &c, school, "students", text.as_bytes().to_vec()).await;
    let html = app.get(&c, &preview).await.text().await.unwrap();
    assert!(select_texts(&html, ".import-errors li").is_empty());
    assert_eq!(counts(&html), ["1", "0", "0", "0"].map(String::from));
    assert!(!html.contains("Чужой"));

    // What a file says is shown escaped, its name too (SECURITY.md 17).
    let text = "Класс;Фамилия;Имя\n5А;<script>alert(1)</script>;Пётр\n";
    let res = upload(
        &app,
        &c,
        school,
        "students",
        "<script>x</script>.csv",
        text.as_bytes().to_vec(),
    )
    .await;
    let html = app.get(&c, &location(&res)).await.text().await.unwrap();
    assert!(!html.contains("<script>"));
    assert!(
        select_texts(&html, ".import-rows td")
            .iter()
            .any(|t| t == "<script>alert(1)</script> Пётр"),
        "shown as text"
    );
}

#[tokio::test]
async fn an_xlsx_staff_list_creates_unverified_staff_in_the_staff_room_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;

    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "Фамилия",
        "Имя",
        "Отчество",
        "Роль",
        "Должность",
        "E-mail",
        "Телефон",
    ];
    for (i, h) in header.iter().enumerate() {
        sheet.write_string(0, i as u16, *h).unwrap();
    }
    let rows = [
        [
            "Морозова",
            "Елена",
            "Александровна",
            "Учитель",
            "учитель математики",
            "Morozova@School.ru",
            "",
        ],
        [
            "Кузнецов",
            "Павел",
            "Андреевич",
            "сотрудник",
            "лаборант",
            "",
            "",
        ],
        [
            "Белова",
            "Ирина",
            "Олеговна",
            "заместитель директора",
            "по учебной работе",
            "",
            "",
        ],
        // The same person with a second role: one account, two memberships.
        [
            "Морозова",
            "Елена",
            "Александровна",
            "заместитель директора",
            "",
            "morozova@school.ru",
            "",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            sheet.write_string(1 + r as u32, i as u16, *v).unwrap();
        }
    }
    // Phones often come as numbers.
    sheet.write_number(2, 6, 89031234567.0).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let res = upload(&app, &c, school, "staff", "сотрудники.xlsx", bytes).await;
    assert_eq!(res.status(), 303);
    let preview = location(&res);
    let html = app.get(&c, &preview).await.text().await.unwrap();
    assert!(html.contains("XLSX"));
    assert_eq!(counts(&html), ["4", "0", "0", "0"].map(String::from));
    assert_eq!(
        app.post(&c, &format!("{preview}/apply"), &[])
            .await
            .status(),
        303
    );

    let staff: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' | ', a.surname, m.role, m.verification, coalesce(m.position, '—'),
                          c.title, coalesce(a.phone, '—'))
         from memberships m join accounts a on a.id = m.account_id
         join classes c on c.id = m.class_id
         where m.school_id = $1 and a.email is distinct from 'admin@test.local'
         order by a.surname, m.role",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap();
    // Without a contact: a member at once. With one: an offer each (SECURITY.md 35).
    assert_eq!(
        staff,
        vec!["Белова | deputy | unverified | по учебной работе | Учительская | —"]
    );
    let offers: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' | ', surname, role, coalesce(position, '—'), coalesce(email, '—'),
                          coalesce(phone, '—'))
         from offers where school_id = $1 order by surname, role",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        offers,
        vec![
            "Кузнецов | staff | лаборант | — | +79031234567",
            "Морозова | deputy | — | morozova@school.ru | —",
            "Морозова | teacher | учитель математики | morozova@school.ru | —",
        ]
    );
    everyone_accepts(&app, school).await;
    let staff: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' | ', a.surname, m.role, m.verification, coalesce(m.position, '—'),
                          c.title, coalesce(a.phone, '—'))
         from memberships m join accounts a on a.id = m.account_id
         join classes c on c.id = m.class_id
         where m.school_id = $1 and a.email is distinct from 'admin@test.local'
         order by a.surname, m.role",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        staff,
        vec![
            "Белова | deputy | unverified | по учебной работе | Учительская | —",
            "Кузнецов | staff | unverified | лаборант | Учительская | +79031234567",
            "Морозова | deputy | unverified | — | Учительская | —",
            "Морозова | teacher | unverified | учитель математики | Учительская | —",
        ]
    );
    let morozova: i64 =
        sqlx::query_scalar("select count(*) from accounts where email = 'morozova@school.ru'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(morozova, 1);

    // Only a director gives the director's role (SECURITY.md 14): the administrator's file
    // with a new director is refused, naming the row and column.
    let text = "Фамилия;Имя;Роль\nГромов;Игорь;директор\n";
    let preview = uploaded(&app, &c, school, "staff", text.as_bytes().to_vec()).await;
    let html = app.get(&c, &preview).await.text().await.unwrap();
    let errors = select_texts(&html, ".import-errors li");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with(
        "Строка 2, столбец «Роль»: роль «директор» через импорт назначает только сам директор"
    ));
}

#[tokio::test]
async fn an_export_imports_back_as_no_changes_and_is_audited_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;
    let preview = uploaded(&app, &c, school, "students", students_file(120, None)).await;
    assert_eq!(
        app.post(&c, &format!("{preview}/apply"), &[])
            .await
            .status(),
        303
    );
    let staff = "Фамилия;Имя;Отчество;Роль;Должность;E-mail;Телефон\n\
                 =Кузнецов;Павел;;учитель;учитель физики;pavel@school.ru;+79035550011\n";
    let preview = uploaded(&app, &c, school, "staff", staff.as_bytes().to_vec()).await;
    assert_eq!(
        app.post(&c, &format!("{preview}/apply"), &[])
            .await
            .status(),
        303
    );
    // The invited parents and the teacher join.
    everyone_accepts(&app, school).await;

    let res = app
        .get(&c, &format!("/s/{school}/export/students.csv"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment; filename=\"students-"));
    let bytes = res.bytes().await.unwrap().to_vec();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut lines = text.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "Класс;Фамилия;Имя;Отчество;Дата рождения;Родитель 1: Фамилия;Родитель 1: Имя;\
         Родитель 1: Отчество;Родитель 1: Телефон;Родитель 1: E-mail;Родитель 2: Фамилия;\
         Родитель 2: Имя;Родитель 2: Отчество;Родитель 2: Телефон;Родитель 2: E-mail"
    );
    assert_eq!(text.split("\r\n").filter(|l| !l.is_empty()).count(), 121);
    assert!(
        text.contains("1А;Иванов;Артём;Петрович;01.01.2009;"),
        "{}",
        &text[..600]
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"export.students".to_owned())
    );

    let again = uploaded(&app, &c, school, "students", bytes).await;
    let html = app.get(&c, &again).await.text().await.unwrap();
    assert_eq!(counts(&html), ["0", "0", "120", "0"].map(String::from));
    assert_eq!(select_texts(&html, "#links-new"), vec!["0"]);

    let res = app.get(&c, &format!("/s/{school}/export/staff.csv")).await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap().to_vec();
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    // A value a spreadsheet would run as a formula is defused; the import undoes it.
    assert!(
        text.contains("'=Кузнецов;Павел;;учитель;учитель физики;pavel@school.ru;8 (903) 555-00-11"),
        "{text}"
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"export.staff".to_owned())
    );
    let again = uploaded(&app, &c, school, "staff", bytes).await;
    let html = app.get(&c, &again).await.text().await.unwrap();
    // The administrator and the imported teacher.
    assert_eq!(counts(&html), ["0", "0", "2", "0"].map(String::from));

    // The templates are the same headers, empty.
    let res = app
        .get(&c, &format!("/s/{school}/import/template/staff.csv"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "\u{feff}Фамилия;Имя;Отчество;Роль;Должность;E-mail;Телефон\r\n"
    );
}

#[tokio::test]
async fn only_the_schools_administrator_imports_and_exports_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app)
        .class_teacher("1А", "teacher@test.local")
        .build()
        .await
        .id;
    let other = School::new(&app)
        .named("Школа № 2")
        .admin("other-admin@test.local")
        .build()
        .await
        .id;

    let admin = app.logged_in("admin@test.local").await;
    let res = app.get(&admin, &format!("/s/{school}/import")).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Ученики и родители"));
    assert_eq!(
        select_attr(
            &html,
            "form[enctype='multipart/form-data'] input[name=kind]",
            "value"
        ),
        vec!["students", "staff"]
    );
    assert!(html.contains(&format!("/s/{school}/export/students.csv")));
    assert!(html.contains("Файлов пока не загружали"));
    let preview = uploaded(
        &app,
        &admin,
        school,
        "students",
        "Класс;Фамилия;Имя\n5А;Петров;Пётр\n".as_bytes().to_vec(),
    )
    .await;
    let html = app
        .get(&admin, &format!("/s/{school}/import"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_texts(&html, ".recent-imports td a"),
        vec!["список.csv"]
    );
    let import_id = preview.rsplit('/').next().unwrap().to_owned();

    let paths_get = [
        format!("/s/{school}/import"),
        preview.clone(),
        format!("/s/{school}/export/students.csv"),
        format!("/s/{school}/export/staff.csv"),
        format!("/s/{school}/import/template/students.csv"),
    ];
    // Anonymous: to the login page.
    let anon = app.client();
    for p in &paths_get {
        assert_login_redirect(&app.get(&anon, p).await);
    }
    assert_login_redirect(&app.post(&anon, &format!("{preview}/apply"), &[]).await);
    assert_login_redirect(&upload(&app, &anon, school, "students", "x.csv", b"x".to_vec()).await);

    // A teacher (a class teacher, even) of the school: 403.
    let t = app.logged_in("teacher@test.local").await;
    for p in &paths_get {
        assert_eq!(app.get(&t, p).await.status(), 403, "{p}");
    }
    assert_eq!(
        app.post(&t, &format!("{preview}/apply"), &[])
            .await
            .status(),
        403
    );
    let res = upload(
        &app,
        &t,
        school,
        "students",
        "x.csv",
        "Класс;Фамилия;Имя\n".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(res.status(), 403);

    // Another school's administrator: 404, through school A's URLs and through their own.
    let o = app.logged_in("other-admin@test.local").await;
    for p in &paths_get {
        assert_eq!(app.get(&o, p).await.status(), 404, "{p}");
    }
    let via_own = format!("/s/{other}/import/{import_id}");
    assert_eq!(app.get(&o, &via_own).await.status(), 404);
    assert_eq!(
        app.post(&o, &format!("{via_own}/apply"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post(&o, &format!("{preview}/apply"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&o, &format!("/s/{other}/import/not-an-id"))
            .await
            .status(),
        404
    );
    // Own school's pages work for them, and list nothing of school A.
    let html = app
        .get(&o, &format!("/s/{other}/import"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("список.csv"));

    assert_eq!(students_in(&app, school).await, 0, "nobody applied it");
    assert!(
        app.audit_actions()
            .await
            .contains(&"access.denied".to_owned())
    );
}

#[tokio::test]
async fn an_oversized_or_unknown_file_is_refused_in_russian_and_not_stored_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;

    let mut big = "Класс;Фамилия;Имя\r\n".as_bytes().to_vec();
    while big.len() <= 5 * 1024 * 1024 + 100 * 1024 {
        big.extend_from_slice("5А;Петров;Пётр\r\n".as_bytes());
    }
    let res = upload(&app, &c, school, "students", "big.csv", big).await;
    assert_eq!(res.status(), 413);
    let html = res.text().await.unwrap();
    assert_eq!(
        select_texts(&html, "#students-file-error"),
        vec![
            "Файл больше 5 МБ. Сохраните в нём только список (без картинок и лишних листов) или разделите его на части."
        ]
    );

    let res = upload(
        &app,
        &c,
        school,
        "staff",
        "приказ.pdf",
        b"%PDF-1.7 ...".to_vec(),
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(select_texts(&html, "#staff-file-error")[0].starts_with("Формат файла не распознан"));
    // The message is tied to its field (the form macro), and only to the form that was sent.
    assert_eq!(select_attr(&html, "#staff-file", "aria-invalid"), ["true"]);
    assert_eq!(
        select_attr(&html, "#staff-file", "aria-describedby"),
        ["staff-file-hint staff-file-error"]
    );
    assert!(select_attr(&html, "#students-file", "aria-invalid").is_empty());
    assert!(select_texts(&html, "#students-file-error").is_empty());

    let res = upload(
        &app,
        &c,
        school,
        "students",
        "list.csv",
        "Фамилия;Имя\nПетров;Пётр\n".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(select_texts(&html, "#students-file-error")[0].contains("«Класс»"));

    let stored: i64 = sqlx::query_scalar("select count(*) from imports")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn administrator_uploads_previews_and_applies_a_list_in_a_browser_r2_1_k() {
    let app = TestApp::spawn().await;
    let school = school_with_classes(&app).build().await.id;
    let browser = crate::browser::Browser::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ученики 5А.csv");
    let bad = "5Г;Зайцев;Олег;Иванович;01.02.2014;Зайцева Ольга Ивановна;+79125550000;;;;;";
    std::fs::write(&file, students_file(30, Some(bad))).unwrap();
    let good = dir.path().join("ученики.csv");
    std::fs::write(&good, students_file(30, None)).unwrap();

    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("input[name=login]", "admin@test.local").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}")))
        .await;
    browser.click("nav a[href$='/import']").await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}/import")))
        .await;

    // A file with an error: the preview names it and offers no way to apply.
    browser.fill("#students-file", file.to_str().unwrap()).await;
    browser
        .click("form:has(#students-file) button[type=submit]")
        .await;
    let errors = browser.text(".import-errors").await;
    assert!(
        errors.contains("Строка 32, столбец «Класс»: класса «5Г» нет в школе."),
        "{errors}"
    );
    browser.click(".actions a").await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}/import")))
        .await;

    // The fixed file: preview, apply, done.
    browser.fill("#students-file", good.to_str().unwrap()).await;
    browser
        .click("form:has(#students-file) button[type=submit]")
        .await;
    let created = browser.text("#count-create").await;
    assert!(created.contains("30"), "{created}");
    browser
        .click("form[action$='/apply'] button[type=submit]")
        .await;
    let done = browser.text(".notice").await;
    assert!(done.contains("Импорт выполнен"), "{done}");
    browser.click(".breadcrumbs a").await;
    let recent = browser.text(".recent-imports").await;
    assert!(
        recent.contains("ученики.csv") && recent.contains("применён"),
        "{recent}"
    );
    assert_eq!(students_in(&app, school).await, 30);
    browser.close().await;
}

/// Issue 14 (R2.4.d): an import puts its students, and the parents it links, into their
/// class's mandatory chats as a transfer does, so the compliance row stays green.
#[tokio::test]
async fn an_imports_students_and_parents_are_in_their_class_chats_r2_1_k_r2_4_d() {
    let app = TestApp::spawn().await;
    let w = school_with_classes(&app)
        .class_teacher("5А", "ct@test.local")
        .build()
        .await;
    let (school, five_a) = (w.id, w.class("5А"));
    let c = app.logged_in("admin@test.local").await;
    for code in ["class_students", "class_parents", "class_teachers"] {
        let res = app
            .post(
                &c,
                &format!("/s/{school}/classes/{five_a}/chats/{code}"),
                &[],
            )
            .await;
        assert_eq!(res.status(), 303, "{code}");
    }
    let file = "Класс;Фамилия;Имя;Отчество;Дата рождения;Родитель 1: ФИО;Родитель 1: Телефон\r\n\
                5А;Орлова;Вера;Павловна;01.02.2015;;\r\n\
                5А;Орлов;Павел;Павлович;03.04.2015;;\r\n";
    let preview = uploaded(&app, &c, school, "students", file.as_bytes().to_vec()).await;
    assert_eq!(
        app.post(&c, &format!("{preview}/apply"), &[])
            .await
            .status(),
        303
    );
    let in_chat: i64 = sqlx::query_scalar(
        "select count(*) from chat_members cm
         join chats k on k.school_id = cm.school_id and k.id = cm.chat_id
         join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
         where k.school_id = $1 and k.kind = 'class_students' and m.role = 'student'",
    )
    .bind(school)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        in_chat, 2,
        "both imported students are in 5А's students chat"
    );
    let page = app
        .get(&c, &format!("/s/{school}/compliance"))
        .await
        .text()
        .await
        .unwrap();
    let row = select_texts(&page, "tr[data-class='5А'] td.students-share");
    assert_eq!(row, vec!["2 из 2 (100 %)"], "compliance stays green");
}
