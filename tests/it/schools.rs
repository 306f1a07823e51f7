//! Schools: the operator creates a school with its «Учительская» (R2.1.d) and appoints its
//! first platform administrator with the director's order (R2.2); the administrator sets a
//! password by a one-time link (R2.1.b) and keeps the school profile (R2.1.c).

use crate::helpers::*;

#[tokio::test]
async fn operator_creates_a_school_once_even_if_the_form_is_sent_twice_r2_1_d() {
    let app = TestApp::spawn().await;
    app.operator("op@test.local").await;
    let c = app.logged_in("op@test.local").await;
    let form_page = app
        .get(&c, "/operator/schools/new")
        .await
        .text()
        .await
        .unwrap();
    let id = select_attr(&form_page, "input[name=id]", "value").remove(0);

    // Bad input: a Russian message next to the field, nothing created, nothing lost.
    let res = app
        .post(
            &c,
            "/operator/schools",
            &[
                ("id", &id),
                ("name", "  "),
                ("short_name", "Школа 7"),
                ("timezone", "Europe/Moscow"),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите полное название школы."));
    assert_eq!(
        select_attr(&body, "input[name=short_name]", "value"),
        vec!["Школа 7"]
    );
    // The field macro ties the message to its field, after the hint, and marks it invalid;
    // the field without an error is not marked.
    assert_eq!(select_attr(&body, "label[for=name]", "for"), vec!["name"]);
    assert_eq!(
        select_attr(&body, "input[name=name]", "aria-describedby"),
        vec!["name-hint name-error"]
    );
    assert_eq!(
        select_attr(&body, "input[name=name]", "aria-invalid"),
        vec!["true"]
    );
    assert_eq!(
        select_texts(&body, "#name-error"),
        vec!["Укажите полное название школы."]
    );
    assert!(select_attr(&body, "input[name=short_name]", "aria-invalid").is_empty());
    assert_eq!(
        select_attr(&body, "input[name=name]", "maxlength"),
        vec!["300"]
    );

    let form = [
        ("id", id.as_str()),
        ("name", "МБОУ СОШ № 7"),
        ("short_name", "Школа № 7"),
        ("timezone", "Asia/Yekaterinburg"),
    ];
    let first = app.post(&c, "/operator/schools", &form).await;
    let second = app.post(&c, "/operator/schools", &form).await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), location(&second));
    let n: i64 = sqlx::query_scalar("select count(*) from schools")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // Exactly one «Учительская», and it cannot be deleted.
    let rooms: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("select id, title from classes where kind = 'staffroom'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].1, "Учительская");
    let delete = sqlx::query("delete from classes where id = $1")
        .bind(rooms[0].0)
        .execute(&app.db)
        .await;
    assert!(delete.is_err(), "the staff room cannot be deleted");
    let second_room = sqlx::query("insert into classes (school_id, id, kind, title) select id, gen_random_uuid(), 'staffroom', 'Вторая' from schools")
        .execute(&app.db)
        .await;
    assert!(second_room.is_err(), "one staff room per school");
    // The current academic year exists.
    let label: String = sqlx::query_scalar("select extract(year from starts_on)::text || '/' || extract(year from ends_on)::text from academic_years where is_current")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(label.len(), 9);
    assert_eq!(
        app.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "school.created")
            .count(),
        1
    );
}

#[tokio::test]
async fn operator_appoints_the_administrator_who_sets_a_password_and_edits_the_profile_r2_2() {
    let app = TestApp::spawn().await;
    app.operator("op@test.local").await;
    let school = School::new(&app).named("МБОУ СОШ № 3").build().await.id;
    let op = app.logged_in("op@test.local").await;
    let path = format!("/operator/schools/{school}/admins");

    // The order is required.
    let res = app
        .post(
            &op,
            &path,
            &[
                ("surname", "Лебедева"),
                ("given_name", "Ирина"),
                ("patronymic", "Сергеевна"),
                ("email", "irina@school3.ru"),
                ("phone", ""),
                ("position", "staff"),
                ("order_number", ""),
                ("order_date", ""),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите номер приказа о назначении."));
    assert!(body.contains("Укажите дату приказа"));
    assert_eq!(
        select_attr(&body, "input[name=email]", "value"),
        vec!["irina@school3.ru"]
    );

    let res = app
        .post(
            &op,
            &path,
            &[
                ("surname", "Лебедева"),
                ("given_name", "Ирина"),
                ("patronymic", "Сергеевна"),
                ("email", "irina@school3.ru"),
                ("phone", "8 912 111 22 33"),
                ("position", "staff"),
                ("order_number", "12-о"),
                ("order_date", "2025-09-01"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("приказ № 12-о от 01.09.2025"));
    let link = select_attr(&body, "input[readonly]", "value")
        .into_iter()
        .find(|v| v.contains("/password/"))
        .expect("the one-time link is shown");
    let grant: (Option<String>, String) = sqlx::query_as(
        "select g.order_number, g.order_date::text from admin_grants g join accounts a on a.id = g.account_id where a.email = 'irina@school3.ru' and g.approved_at is not null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(grant, (Some("12-о".into()), "2025-09-01".into()));

    // The administrator opens the link and sets a password (15 characters for admins).
    let admin = app.client();
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    let page = app.get(&admin, &path).await.text().await.unwrap();
    assert!(page.contains("Лебедева Ирина Сергеевна"));
    let res = app
        .post(
            &admin,
            &path,
            &[
                ("password", "short pass 12"),
                ("password2", "short pass 12"),
            ],
        )
        .await;
    assert!(res.text().await.unwrap().contains("не короче 15 символов"));
    let res = app
        .post(
            &admin,
            &path,
            &[
                ("password", "a long admin password"),
                ("password2", "a long admin password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.get(&app.client(), &path).await.status(),
        404,
        "the link works once"
    );

    // Logged in, the administrator lands on the school summary and edits the profile.
    let res = app.get(&admin, "/").await;
    assert_eq!(location(&res), format!("/s/{school}"));
    let home = app
        .get(&admin, &format!("/s/{school}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("администратор платформы"));

    let edit = format!("/s/{school}/profile");
    let bad = [
        ("name", "МБОУ СОШ № 3"),
        ("short_name", "Школа № 3"),
        ("inn", "12"),
        ("address", "г. Тверь"),
        ("phone", "123"),
        ("email", "no"),
        ("website", "school3.ru"),
        ("director_name", "Орлова Т. В."),
        ("timezone", "Europe/Moscow"),
    ];
    let res = app.post(&admin, &edit, &bad).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    for message in [
        "ИНН школы — 10 цифр.",
        "Телефон в формате",
        "Адрес электронной почты",
        "Адрес сайта начинается с https://",
    ] {
        assert!(body.contains(message), "{message}");
    }
    assert_eq!(
        select_attr(&body, "input[name=address]", "value"),
        vec!["г. Тверь"],
        "typed values kept"
    );

    let good = [
        ("name", "МБОУ СОШ № 3 г. Твери"),
        ("short_name", "Школа № 3"),
        ("inn", "6901000003"),
        ("address", "г. Тверь, ул. Советская, 3"),
        ("phone", "+7 (4822) 33-33-33"),
        ("email", "School3@Tver.ru"),
        ("website", "https://school3.ru"),
        ("director_name", "Орлова Татьяна Викторовна"),
        ("timezone", "Europe/Moscow"),
    ];
    let res = app.post(&admin, &edit, &good).await;
    assert_eq!(res.status(), 303);
    let page = app.get(&admin, &location(&res)).await.text().await.unwrap();
    assert!(page.contains("Изменения сохранены."));
    assert!(page.contains("МБОУ СОШ № 3 г. Твери"));
    assert!(page.contains("school3@tver.ru"));
    let details: String =
        sqlx::query_scalar("select details from audit_log where action = 'school.profile_updated'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(details.contains("Полное название: «МБОУ СОШ № 3» → «МБОУ СОШ № 3 г. Твери»"));
    let actions = app.audit_actions().await;
    for a in [
        "admin.appointed",
        "password.set_by_link",
        "school.profile_updated",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} audited");
    }
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    app.logged_in("a@test.local").await;
    assert!(
        sqlx::query("update audit_log set action = 'x'")
            .execute(&app.db)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("delete from audit_log")
            .execute(&app.db)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("truncate audit_log")
            .execute(&app.db)
            .await
            .is_err()
    );
    let row: (String, Option<String>, Option<String>) =
        sqlx::query_as("select action, request_id, ip from audit_log where action = 'login'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(row.1.is_some(), "request id recorded");
    assert_eq!(row.2.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_database_refuses_links_across_schools() {
    let app = TestApp::spawn().await;
    let one = School::new(&app)
        .account("s@test.local")
        .called("Сидоров", "Сидор")
        .build()
        .await;
    let account = one.account("s@test.local");
    let class_in_two = School::new(&app)
        .named("Школа № 2")
        .class("5А")
        .build()
        .await
        .class("5А");
    // By hand: the row the database must refuse.
    let res = sqlx::query("insert into memberships (school_id, id, account_id, role, class_id) values ($1, gen_random_uuid(), $2, 'student', $3)")
        .bind(one.id)
        .bind(account)
        .bind(class_in_two)
        .execute(&app.db)
        .await;
    assert!(
        res.is_err(),
        "a student of school 1 cannot sit in a class of school 2"
    );
}

#[tokio::test]
async fn what_people_type_is_escaped_everywhere() {
    let app = TestApp::spawn().await;
    let school = School::new(&app)
        .named("<script>alert('школа')</script>")
        .director("x@test.local")
        .called("<script>alert(1)</script>", "<b>Имя</b>")
        .build()
        .await
        .id;
    let c = app.logged_in("x@test.local").await;
    for path in [
        format!("/s/{school}"),
        format!("/s/{school}/profile"),
        "/profile".to_owned(),
    ] {
        let body = app.get(&c, &path).await.text().await.unwrap();
        assert!(!body.contains("<script>alert"), "{path}");
        assert!(!body.contains("<b>Имя</b>"), "{path}");
        assert!(
            body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"),
            "{path}"
        );
    }
}

/// `schools.timezone` holds only a zone the portal's clock knows (migrations/0023): a
/// database write that bypasses the forms cannot leave a school on an unknown clock.
#[tokio::test]
async fn the_database_refuses_a_time_zone_the_portal_does_not_support() {
    let app = TestApp::spawn().await;
    let school = School::new(&app).build().await.id;
    let err = sqlx::query("update schools set timezone = 'Europe/Berlin' where id = $1")
        .bind(school)
        .execute(&app.db)
        .await
        .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.constraint(), Some("schools_timezone_supported"));
    sqlx::query("update schools set timezone = 'Asia/Kamchatka' where id = $1")
        .bind(school)
        .execute(&app.db)
        .await
        .unwrap();
}
