//! `school-portal demo`: the demo school with its people, and a login per role that lands
//! on that role's start page.

use crate::helpers::*;
use school_portal::demo::DEMO_SCHOOL;

#[tokio::test]
async fn demo_school_has_its_people_and_every_login_sees_its_start_page() {
    let app = TestApp::spawn().await;
    let report = school_portal::demo::create(&app.db, Some("demo password 123".into()))
        .await
        .unwrap();
    assert!(report.contains("admin@demo.local") && report.contains("demo password 123"));

    let counts: Vec<(String, i64)> = sqlx::query_as(
        "select role, count(*) from memberships where school_id = $1 group by role order by role",
    )
    .bind(DEMO_SCHOOL)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let get = |r: &str| {
        counts
            .iter()
            .find(|(role, _)| role == r)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    assert_eq!(get("student"), 600);
    assert_eq!(get("parent"), 900);
    assert_eq!(get("teacher"), 50);
    assert!(get("staff") >= 5);
    assert_eq!(get("director"), 1);
    let links: i64 = sqlx::query_scalar("select count(*) from parent_links where school_id = $1")
        .bind(DEMO_SCHOOL)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(links, 900, "every parent is linked to a child");
    let letters: Vec<(i16, i64)> = sqlx::query_as(
        "select grade, count(*) from classes where school_id = $1 and kind = 'class' group by grade order by grade",
    )
    .bind(DEMO_SCHOOL)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(letters.len(), 11);
    assert!(letters.iter().all(|(_, n)| (2..=3).contains(n)));

    // The structure's history: the distribution order, pending confirmations, movements,
    // last year's rollover, subjects, the regulation in force.
    let (orders, pending, moves, rollovers, subjects, editions): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from class_leadership_orders where school_id = $1),
                (select count(*) from memberships where school_id = $1 and verification = 'unverified'),
                (select count(*) from movements where school_id = $1),
                (select count(*) from rollovers where school_id = $1),
                (select count(*) from subjects where school_id = $1),
                (select count(*) from regulation_editions where school_id = $1)",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(orders, 1);
    assert!(pending >= 3, "some pending confirmations: {pending}");
    assert!(moves >= 3, "a few movements: {moves}");
    assert_eq!(rollovers, 1);
    assert!(subjects >= 10);
    assert_eq!(editions, 1);
    let unassigned: i64 = sqlx::query_scalar(
        "select count(*) from class_teacher_assignments where school_id = $1 and order_id is null",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(unassigned, 0, "every assignment is under the order");

    let login = |email: &'static str| {
        let app = &app;
        async move {
            let c = app.client();
            let res = app.login(&c, email, "demo password 123").await;
            assert_eq!(res.status(), 303, "{email} logs in");
            let res = app.get(&c, "/").await;
            let to = location(&res);
            let body = app.get(&c, &to).await.text().await.unwrap();
            (to, body)
        }
    };
    let home = format!("/s/{DEMO_SCHOOL}");
    let (to, _) = login("operator@demo.local").await;
    assert_eq!(to, "/operator/schools");
    let (to, body) = login("admin@demo.local").await;
    assert_eq!(to, home);
    assert!(body.contains("600 учеников") && body.contains("900 родителей"));
    let (_, body) = login("director@demo.local").await;
    assert!(body.contains("600 учеников"));
    let (_, body) = login("deputy@demo.local").await;
    assert!(body.contains("заместитель директора по ИТ"));
    let (_, body) = login("teacher@demo.local").await;
    assert!(body.contains("Мои классы") && body.contains("5А"));
    let (_, body) = login("student@demo.local").await;
    assert!(body.contains("5А") && body.contains("Морозова Елена Александровна"));
    let (_, body) = login("parent@demo.local").await;
    assert!(body.contains("5А") && body.contains("Морозов Артём"));

    // An administrator of the demo school gets 404 for another school's pages.
    let other = School::new(&app).named("Другая школа").build().await.id;
    let c = app.client();
    app.login(&c, "admin@demo.local", "demo password 123").await;
    assert_eq!(app.get(&c, &format!("/s/{other}")).await.status(), 404);
    assert_eq!(
        app.get(&c, &format!("/s/{other}/profile")).await.status(),
        404
    );

    // Idempotent: a second run changes the password and creates nothing.
    let report = school_portal::demo::create(&app.db, Some("another password 456".into()))
        .await
        .unwrap();
    assert!(report.contains("пароли обновлены"));
    let students: i64 =
        sqlx::query_scalar("select count(*) from memberships where role = 'student'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(students, 600);
    assert_eq!(
        app.login(&app.client(), "admin@demo.local", "another password 456")
            .await
            .status(),
        303
    );
}
