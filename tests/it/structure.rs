//! The school's structure: classes grouped by parallel (R2.1.e), the «Учительская»
//! (R2.1.d), subjects and activities (R1.5), class leadership under the director's order
//! (R2.1.h), and the regulation's editions (R1.3, R4.2).

use crate::helpers::{self, *};
use school_portal::ids::{ClassId, SchoolId};

struct School {
    app: TestApp,
    id: SchoolId,
    other: SchoolId,
    five_a: ClassId,
}

async fn school() -> School {
    let app = TestApp::spawn().await;
    let w = helpers::School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .director("director@test.local")
        .teacher("teacher@test.local")
        .student("5А", "student@test.local")
        .build()
        .await;
    let other = helpers::School::new(&app)
        .named("Школа № 2")
        .admin("other@test.local")
        .build()
        .await;
    School {
        app,
        id: w.id,
        other: other.id,
        five_a: w.class("5А"),
    }
}

#[tokio::test]
async fn classes_are_listed_by_parallel_with_their_counts_r2_1_e() {
    let w = school().await;
    let s = w.id;
    let admin = w.app.logged_in("admin@test.local").await;
    // A new class: bad input first, then «5 б» becomes 5Б.
    let res = w
        .app
        .post(
            &admin,
            &format!("/s/{s}/classes"),
            &[
                ("grade", "12"),
                ("letter", "Q"),
                ("profile", "физмат"),
                ("notes", ""),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Выберите параллель от 1 до 11."));
    assert!(body.contains("Буква класса — одна русская буква"));
    assert_eq!(
        select_attr(&body, "input[name=profile]", "value"),
        vec!["физмат"]
    );
    let res = w
        .app
        .post(
            &admin,
            &format!("/s/{s}/classes"),
            &[
                ("grade", "5"),
                ("letter", " б"),
                ("profile", ""),
                ("notes", ""),
            ],
        )
        .await;
    assert_status(&res, 303);
    let res = w
        .app
        .post(
            &admin,
            &format!("/s/{s}/classes"),
            &[
                ("grade", "5"),
                ("letter", "Б"),
                ("profile", ""),
                ("notes", ""),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Такой класс в этом учебном году уже есть.")
    );
    w.app.class(s, 7, "В").await;

    let page = w
        .app
        .get(&admin, &format!("/s/{s}/classes"))
        .await
        .text()
        .await
        .unwrap();
    let headings = select_texts(&page, "main h2");
    assert_eq!(headings, vec!["Учительская", "5-е классы", "7-е классы"]);
    let rows = select_texts(&page, "main table tbody tr");
    assert!(
        rows[0].starts_with("5А")
            && rows[0].contains("1 ученик")
            && rows[0].contains("не назначен"),
        "{rows:?}"
    );
    assert!(rows[1].starts_with("5Б") && rows[1].contains("0 учеников"));
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"class.created".to_owned())
    );

    // Another school sees none of it.
    let other = w.app.logged_in("other@test.local").await;
    assert_eq!(
        w.app.get(&other, &format!("/s/{s}/classes")).await.status(),
        404
    );
    assert_eq!(
        w.app
            .get(&other, &format!("/s/{s}/classes/{}", w.five_a))
            .await
            .status(),
        404
    );
    // A class of school 1 through school 2's URL: not found either.
    assert_eq!(
        w.app
            .get(&other, &format!("/s/{}/classes/{}", w.other, w.five_a))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn class_page_shows_students_and_parents_and_only_staff_see_it_r2_1_e() {
    let w = school().await;
    let s = w.id;
    let admin = w.app.logged_in("admin@test.local").await;
    let page = w
        .app
        .get(&admin, &format!("/s/{s}/classes/{}", w.five_a))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Петров Пётр Иванович"));
    assert!(
        page.contains("Перевести"),
        "the administrator can move students"
    );
    let teacher = w.app.logged_in("teacher@test.local").await;
    let page = w
        .app
        .get(&teacher, &format!("/s/{s}/classes/{}", w.five_a))
        .await;
    assert_status(&page, 200);
    assert!(!page.text().await.unwrap().contains("Перевести"));
    assert_eq!(
        w.app
            .get(&teacher, &format!("/s/{s}/classes/new"))
            .await
            .status(),
        403
    );
    let student = w.app.logged_in("student@test.local").await;
    assert_eq!(
        w.app
            .get(&student, &format!("/s/{s}/classes"))
            .await
            .status(),
        403
    );
    assert_login_redirect(&w.app.get(&w.app.client(), &format!("/s/{s}/classes")).await);
}

#[tokio::test]
async fn the_staffroom_cannot_be_deleted_and_a_class_with_students_neither_r2_1_d() {
    let w = school().await;
    let s = w.id;
    let admin = w.app.logged_in("admin@test.local").await;
    let room: uuid::Uuid =
        sqlx::query_scalar("select id from classes where school_id = $1 and kind = 'staffroom'")
            .bind(s)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    let res = w
        .app
        .post(&admin, &format!("/s/{s}/classes/{room}/delete"), &[])
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("«Учительскую» удалить нельзя")
    );
    let page = w
        .app
        .get(&admin, &format!("/s/{s}/classes/{}/delete", w.five_a))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("В классе 1 ученик"));
    let res = w
        .app
        .post(&admin, &format!("/s/{s}/classes/{}/delete", w.five_a), &[])
        .await;
    assert!(
        res.text().await.unwrap().contains("В классе 1 ученик"),
        "refused on POST too"
    );
    // An empty new class asks first, then goes.
    let empty = w.app.class(s, 9, "А").await;
    let page = w
        .app
        .get(&admin, &format!("/s/{s}/classes/{empty}/delete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Удалить класс 9А?"));
    let res = w
        .app
        .post(&admin, &format!("/s/{s}/classes/{empty}/delete"), &[])
        .await;
    assert_status(&res, 303);
    let left: i64 = sqlx::query_scalar("select count(*) from classes where school_id = $1")
        .bind(s)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(left, 2, "the staff room and 5А");
    let teacher = w.app.logged_in("teacher@test.local").await;
    assert_eq!(
        w.app
            .post(
                &teacher,
                &format!("/s/{s}/classes/{}/delete", w.five_a),
                &[]
            )
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn class_teachers_are_assigned_under_the_directors_order_and_history_is_kept_r2_1_h() {
    let w = school().await;
    let s = w.id;
    let app = &w.app;
    let (_, t1) = app.person(s, "t1@test.local", "teacher", None).await;
    let (_, t2) = app.person(s, "t2@test.local", "teacher", None).await;
    let (_, unverified) = app.person(s, "t3@test.local", "teacher", None).await;
    sqlx::query("update memberships set verification = 'unverified' where id = $1")
        .bind(unverified)
        .execute(&app.db)
        .await
        .unwrap();
    let admin = app.logged_in("admin@test.local").await;

    // Without an order there is nothing to assign under.
    let page = app
        .get(&admin, &format!("/s/{s}/class-teachers"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Без классного руководителя: 1 класс."),
        "{page}"
    );
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/class-teachers"),
            &[
                ("order", ""),
                (&format!("class_{}", w.five_a), &t1.to_string()),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Выберите приказ о распределении классного руководства")
    );

    let res = app
        .post(
            &admin,
            &format!("/s/{s}/class-teachers/orders"),
            &[("order_number", "112-о"), ("order_date", "2025-08-29")],
        )
        .await;
    assert_status(&res, 303);
    let order: uuid::Uuid = sqlx::query_scalar("select id from class_leadership_orders")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let field = format!("class_{}", w.five_a);

    // Only a verified teacher can lead a class.
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/class-teachers"),
            &[
                ("order", &order.to_string()),
                (&field, &unverified.to_string()),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("подтверждённым статусом")
    );

    let res = app
        .post(
            &admin,
            &format!("/s/{s}/class-teachers"),
            &[("order", &order.to_string()), (&field, &t1.to_string())],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = app.get(&admin, &crate::helpers::location(&res)).await;
    assert!(res.text().await.unwrap().contains("Записано изменений: 1."));
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/class-teachers"),
            &[("order", &order.to_string()), (&field, &t2.to_string())],
        )
        .await;
    let res = app.get(&admin, &crate::helpers::location(&res)).await;
    let page = res.text().await.unwrap();
    assert!(page.contains("Записано изменений: 1."));
    assert!(!page.contains("Без классного руководителя"));
    let rows: Vec<(uuid::Uuid, Option<String>, bool)> = sqlx::query_as(
        "select teacher_id, order_number, ended_at is null from class_teacher_assignments order by assigned_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0, rows[0].2),
        (t1.0, false),
        "the first one ended, kept in history"
    );
    assert_eq!(
        (rows[1].0, rows[1].1.as_deref(), rows[1].2),
        (t2.0, Some("112-о"), true)
    );
    assert!(page.contains("приказ № 112-о от 29.08.2025"));
    // The new class teacher sees the class on their start page.
    let body = app
        .get(&app.logged_in("t2@test.local").await, &format!("/s/{s}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Мои классы") && body.contains("5А"));
    assert!(
        app.audit_actions()
            .await
            .contains(&"class_teacher.assigned".to_owned())
    );

    // The director sees it but cannot change it; a teacher sees nothing; another school 404.
    let director = app.logged_in("director@test.local").await;
    assert_eq!(
        app.get(&director, &format!("/s/{s}/class-teachers"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post(
            &director,
            &format!("/s/{s}/class-teachers/orders"),
            &[("order_number", "1"), ("order_date", "2025-08-29")]
        )
        .await
        .status(),
        403
    );
    let teacher = app.logged_in("teacher@test.local").await;
    assert_eq!(
        app.get(&teacher, &format!("/s/{s}/class-teachers"))
            .await
            .status(),
        403
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.get(&other, &format!("/s/{s}/class-teachers"))
            .await
            .status(),
        404
    );
    // Another school's order cannot be used here.
    let res = app
        .post(
            &other,
            &format!("/s/{}/class-teachers", w.other),
            &[("order", &order.to_string()), (&field, &t1.to_string())],
        )
        .await;
    assert!(res.text().await.unwrap().contains("Выберите приказ"));
}

#[tokio::test]
async fn subjects_and_activities_with_who_teaches_what_r1_5() {
    let w = school().await;
    let s = w.id;
    let app = &w.app;
    let (_, teacher) = app.person(s, "math@test.local", "teacher", None).await;
    let admin = app.logged_in("admin@test.local").await;
    assert_eq!(
        app.post(
            &admin,
            &format!("/s/{s}/subjects"),
            &[("name", "Математика"), ("kind", "subject")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        app.post(
            &admin,
            &format!("/s/{s}/subjects"),
            &[("name", "Шахматы"), ("kind", "activity")]
        )
        .await
        .status(),
        303
    );
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/subjects"),
            &[("name", "математика"), ("kind", "subject")],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Такой предмет уже есть.")
    );
    let math: uuid::Uuid = sqlx::query_scalar("select id from subjects where name = 'Математика'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/subjects/{math}/teaching"),
            &[
                ("class", &w.five_a.to_string()),
                ("teacher", &teacher.to_string()),
            ],
        )
        .await;
    assert_status(&res, 303);
    let page = app
        .get(&admin, &format!("/s/{s}/classes/{}", w.five_a))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Математика — Петров Пётр Иванович"));
    let page = app
        .get(&admin, &format!("/s/{s}/subjects"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("внеурочная деятельность"));

    // Another school's class cannot be used.
    let foreign = app.class(w.other, 5, "А").await;
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/subjects/{math}/teaching"),
            &[
                ("class", &foreign.to_string()),
                ("teacher", &teacher.to_string()),
            ],
        )
        .await;
    assert_not_found(&res);
    // Archiving asks for confirmation.
    let res = app
        .post(&admin, &format!("/s/{s}/subjects/{math}/archive"), &[])
        .await;
    assert!(res.text().await.unwrap().contains("Отметьте «Подтверждаю»"));
    let res = app
        .post(
            &admin,
            &format!("/s/{s}/subjects/{math}/archive"),
            &[("confirm", "yes")],
        )
        .await;
    assert_status(&res, 303);
    let teacher_c = app.logged_in("teacher@test.local").await;
    assert_eq!(
        app.get(&teacher_c, &format!("/s/{s}/subjects"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post(
            &teacher_c,
            &format!("/s/{s}/subjects"),
            &[("name", "Физика"), ("kind", "subject")]
        )
        .await
        .status(),
        403
    );
    let student = app.logged_in("student@test.local").await;
    assert_eq!(
        app.get(&student, &format!("/s/{s}/subjects"))
            .await
            .status(),
        403
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.get(&other, &format!("/s/{s}/subjects")).await.status(),
        404
    );
}

#[tokio::test]
async fn the_regulation_in_force_is_readable_by_everyone_r1_3() {
    let w = school().await;
    let s = w.id;
    let app = &w.app;
    let student = app.logged_in("student@test.local").await;
    let page = app
        .get(&student, &format!("/s/{s}/regulation"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Школа пока не записала Положение."));

    let admin = app.logged_in("admin@test.local").await;
    let form = |edition: &str, date: &str, effective: &str, body: &str| {
        reqwest::multipart::Form::new()
            .text("edition", edition.to_owned())
            .text("order_number", "45-о".to_owned())
            .text("order_date", date.to_owned())
            .text("effective_from", effective.to_owned())
            .text("body", body.to_owned())
    };
    let res = admin
        .post(app.url(&format!("/s/{s}/regulation")))
        .multipart(form("", "2025-09-01", "2025-08-01", ""))
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите редакцию"));
    assert!(body.contains("не вступает в силу раньше приказа"));
    assert!(body.contains("Вставьте текст Положения или приложите PDF."));
    let res = admin
        .post(app.url(&format!("/s/{s}/regulation")))
        .multipart(form(
            "редакция № 1",
            "2025-09-01",
            "2025-09-01",
            "1. Общие положения\n1.1. Первая редакция.",
        ))
        .send()
        .await
        .unwrap();
    assert_status(&res, 303);
    let res = admin
        .post(app.url(&format!("/s/{s}/regulation")))
        .multipart(form(
            "редакция № 2",
            "2026-01-10",
            "2026-01-15",
            "1. Общие положения\n1.1. Вторая редакция.",
        ))
        .send()
        .await
        .unwrap();
    assert_status(&res, 303);
    let pdf =
        reqwest::multipart::Part::bytes(b"%PDF-1.4 future edition".to_vec()).file_name("p.pdf");
    let res = admin
        .post(app.url(&format!("/s/{s}/regulation")))
        .multipart(
            reqwest::multipart::Form::new()
                .text("edition", "редакция № 3")
                .text("order_number", "9-о")
                .text("order_date", "2026-11-01")
                .text("effective_from", "2099-01-01")
                .text("body", "")
                .part("pdf", pdf),
        )
        .send()
        .await
        .unwrap();
    assert_status(&res, 303);

    // Everyone reads the edition in force: the second; the third is not yet in force.
    let page = app
        .get(&student, &format!("/s/{s}/regulation"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Вторая редакция."), "{page}");
    assert!(page.contains("приказ № 45-о от 10.01.2026"));
    assert!(page.contains("вступит в силу 1 января 2099 г."));
    let third: uuid::Uuid =
        sqlx::query_scalar("select id from regulation_editions where edition = 'редакция № 3'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let res = app
        .get(&student, &format!("/s/{s}/regulation/{third}/pdf"))
        .await;
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(
        app.post(&student, &format!("/s/{s}/regulation"), &[])
            .await
            .status(),
        403
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.get(&other, &format!("/s/{s}/regulation/{third}/pdf"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&other, &format!("/s/{}/regulation/{third}", w.other))
            .await
            .status(),
        404
    );
}
