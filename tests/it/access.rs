//! Access control: the permission table covers every route (SECURITY.md 10), and each
//! page answers anonymous → login, wrong role → 403, other school → 404, right role → 200
//! (SECURITY.md 11, 12).

use crate::helpers::*;
use school_portal::auth::permissions::{Action, MATRIX};

#[tokio::test]
async fn permissions_doc_matches_the_code() {
    let app = TestApp::spawn().await;
    let rows = school_portal::route_table(&app.state);
    let expected = school_portal::web::permissions_markdown(&rows);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/permissions.md");
    if std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/permissions.md is out of date: run `UPDATE_DOCS=1 cargo test permissions_doc`"
    );
    // Every action has a row in the matrix, and every route has an access rule.
    for action in Action::ALL {
        assert!(
            MATRIX.iter().any(|(a, _)| *a == action),
            "{action:?} has no row"
        );
    }
    for row in &rows {
        assert!(actual.contains(&format!("| {} | `{}` |", row.method, row.path)));
    }
}

struct World {
    app: TestApp,
    school: school_portal::ids::SchoolId,
    other: school_portal::ids::SchoolId,
}

/// Two schools: in the first an admin, a director, a class teacher of 5А, a student of 5А
/// and their parent; in the second its own admin.
async fn world() -> World {
    let app = TestApp::spawn().await;
    let school = app.school("Школа № 1").await;
    let other = app.school("Школа № 2").await;
    let five_a = app.class(school, 5, "А").await;
    app.admin(school, "admin@test.local").await;
    app.person(school, "director@test.local", "director", None)
        .await;
    let (_, teacher) = app
        .person(school, "teacher@test.local", "teacher", None)
        .await;
    app.class_teacher(school, five_a, teacher).await;
    let (_, student) = app
        .person(school, "student@test.local", "student", Some(five_a))
        .await;
    let (_, parent) = app
        .person(school, "parent@test.local", "parent", None)
        .await;
    sqlx::query("insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)")
        .bind(school)
        .bind(parent)
        .bind(student)
        .execute(&app.db)
        .await
        .unwrap();
    app.admin(other, "other-admin@test.local").await;
    app.operator("operator@test.local").await;
    World { app, school, other }
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_login_everywhere_but_public_pages() {
    let w = world().await;
    let c = w.app.client();
    let s = w.school;
    for path in [
        "/".to_owned(),
        "/profile".to_owned(),
        "/operator/schools".to_owned(),
        "/operator/schools/new".to_owned(),
        format!("/operator/schools/{s}"),
        format!("/s/{s}"),
        format!("/s/{s}/profile"),
        format!("/s/{s}/profile/edit"),
    ] {
        assert_login_redirect(&w.app.get(&c, &path).await);
    }
    for path in [
        "/logout".to_owned(),
        format!("/s/{s}/profile"),
        "/operator/schools".to_owned(),
    ] {
        assert_login_redirect(&w.app.post(&c, &path, &[]).await);
    }
    assert_eq!(w.app.get(&c, "/login").await.status(), 200);
    assert_eq!(w.app.get(&c, "/healthz").await.status(), 200);
}

#[tokio::test]
async fn school_start_page_shows_each_role_its_own_part() {
    let w = world().await;
    let s = w.school;
    let home = format!("/s/{s}");

    let admin = w.app.logged_in("admin@test.local").await;
    let body = w.app.get(&admin, &home).await.text().await.unwrap();
    assert!(
        body.contains("Классы без классного руководителя")
            || body.contains("У всех классов есть классный руководитель")
    );
    assert!(body.contains("1 ученик"), "summary counts the student");

    let teacher = w.app.logged_in("teacher@test.local").await;
    let res = w.app.get(&teacher, &home).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Мои классы"));
    assert!(body.contains("5А"));
    assert!(
        !body.contains("Классы без классного руководителя"),
        "no school summary for a teacher"
    );

    let student = w.app.logged_in("student@test.local").await;
    let body = w.app.get(&student, &home).await.text().await.unwrap();
    assert!(body.contains("5А"));

    let parent = w.app.logged_in("parent@test.local").await;
    let body = w.app.get(&parent, &home).await.text().await.unwrap();
    assert!(body.contains("5А"));
    assert!(
        body.contains("Петров Пётр"),
        "the child's name on the parent's page"
    );
}

#[tokio::test]
async fn another_schools_pages_are_not_found_r2_1_c() {
    let w = world().await;
    let s = w.school;
    let other_admin = w.app.logged_in("other-admin@test.local").await;
    for path in [
        format!("/s/{s}"),
        format!("/s/{s}/profile"),
        format!("/s/{s}/profile/edit"),
    ] {
        assert_eq!(w.app.get(&other_admin, &path).await.status(), 404, "{path}");
    }
    let res = w
        .app
        .post(
            &other_admin,
            &format!("/s/{s}/profile"),
            &[("name", "Захвачено"), ("timezone", "Europe/Moscow")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let name: String = sqlx::query_scalar("select name from schools where id = $1")
        .bind(s)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(name, "Школа № 1");
    // A school that does not exist looks the same as someone else's.
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        w.app
            .get(&other_admin, &format!("/s/{missing}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        w.app
            .get(&other_admin, "/s/not-a-uuid/profile")
            .await
            .status(),
        404
    );
    // The operator runs the deployment but is no member of a school.
    let op = w.app.logged_in("operator@test.local").await;
    assert_eq!(w.app.get(&op, &format!("/s/{s}")).await.status(), 404);
    let _ = w.other;
}

#[tokio::test]
async fn only_the_administrator_edits_the_school_profile_r2_1_c() {
    let w = world().await;
    let s = w.school;
    for login in [
        "director@test.local",
        "teacher@test.local",
        "student@test.local",
        "parent@test.local",
    ] {
        let c = w.app.logged_in(login).await;
        assert_eq!(
            w.app.get(&c, &format!("/s/{s}/profile")).await.status(),
            200,
            "{login} reads"
        );
        assert_eq!(
            w.app
                .get(&c, &format!("/s/{s}/profile/edit"))
                .await
                .status(),
            403,
            "{login}"
        );
        let res = w
            .app
            .post(
                &c,
                &format!("/s/{s}/profile"),
                &[("name", "Чужая правка"), ("timezone", "Europe/Moscow")],
            )
            .await;
        assert_eq!(res.status(), 403, "{login} may not edit");
    }
    let actions = w.app.audit_actions().await;
    assert!(
        actions.iter().filter(|a| *a == "access.denied").count() >= 8,
        "denials are audited"
    );
    let admin = w.app.logged_in("admin@test.local").await;
    assert_eq!(
        w.app
            .get(&admin, &format!("/s/{s}/profile/edit"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn only_the_operator_reaches_the_operator_pages_r2_2() {
    let w = world().await;
    let s = w.school;
    let admin = w.app.logged_in("admin@test.local").await;
    for path in [
        "/operator/schools".to_owned(),
        "/operator/schools/new".to_owned(),
        format!("/operator/schools/{s}"),
    ] {
        assert_eq!(w.app.get(&admin, &path).await.status(), 403, "{path}");
    }
    let res = w
        .app
        .post(
            &admin,
            &format!("/operator/schools/{s}/admins"),
            &[("surname", "Х")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let op = w.app.logged_in("operator@test.local").await;
    let body = w
        .app
        .get(&op, "/operator/schools")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Школа № 1") && body.contains("Школа № 2"));
}

#[tokio::test]
async fn a_member_of_two_schools_chooses_between_them_r1_4() {
    let w = world().await;
    let account: school_portal::ids::AccountId =
        sqlx::query_scalar("select id from accounts where email = 'teacher@test.local'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    w.app.member(w.other, account, "teacher", None).await;
    let c = w.app.logged_in("teacher@test.local").await;
    let res = w.app.get(&c, "/").await;
    assert_eq!(res.status(), 200);
    let links = select_attr(&res.text().await.unwrap(), "main a[href^='/s/']", "href");
    assert!(links.contains(&format!("/s/{}", w.school)));
    assert!(links.contains(&format!("/s/{}", w.other)));
}
