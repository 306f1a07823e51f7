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
    let school = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .director("director@test.local")
        .class_teacher("5А", "teacher@test.local")
        .student("5А", "student@test.local")
        .parent_of("parent@test.local", "student@test.local")
        .build()
        .await
        .id;
    let other = School::new(&app)
        .named("Школа № 2")
        .admin("other-admin@test.local")
        .build()
        .await
        .id;
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
    // 5А has its class teacher: the summary says so under its heading, in exactly this
    // line (after the heading and its links), and lists no class without one.
    let summary = "section[aria-labelledby=summary-title]";
    assert_eq!(
        select_texts(&body, &format!("{summary} h3")),
        vec!["Классы без классного руководителя"]
    );
    assert_eq!(
        select_texts(&body, &format!("{summary} h3 + p + p")),
        vec!["У всех классов есть классный руководитель."],
        "the class-teacher line: {body}"
    );
    assert!(select_texts(&body, &format!("{summary} .tag-list li")).is_empty());
    assert!(body.contains("1 ученик"), "summary counts the student");

    let teacher = w.app.logged_in("teacher@test.local").await;
    let res = w.app.get(&teacher, &home).await;
    assert_status(&res, 200);
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
    assert_not_found(&res);
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
    assert_status(&res, 403);
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
    assert_status(&res, 200);
    let links = select_attr(&res.text().await.unwrap(), "main a[href^='/s/']", "href");
    assert!(links.contains(&format!("/s/{}", w.school)));
    assert!(links.contains(&format!("/s/{}", w.other)));
}

// ---- object rules: no self-decisions, only one's own class, minimisation --------------

struct Classes {
    app: TestApp,
    school: school_portal::ids::SchoolId,
    five_a: school_portal::ids::ClassId,
    five_b: school_portal::ids::ClassId,
    kid_a: school_portal::ids::MembershipId,
}

/// One school: an administrator, a director, the class teachers of 5А and 5Б, a student
/// in each class (Морозов Артём in 5А, Сидоров Семён in 5Б) with a parent whose phone is
/// on file.
async fn classes_world() -> Classes {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .director("director@test.local")
        .class_teacher("5А", "ct-a@test.local")
        .class_teacher("5Б", "ct-b@test.local")
        .build()
        .await;
    let (school, five_a, five_b) = (w.id, w.class("5А"), w.class("5Б"));
    let mut kids = Vec::new();
    for (class, kid_email, surname, given, parent_email, phone) in [
        (
            five_a,
            "ka@test.local",
            "Морозов",
            "Артём",
            "pa@test.local",
            "+79160000001",
        ),
        (
            five_b,
            "kb@test.local",
            "Сидоров",
            "Семён",
            "pb@test.local",
            "+79160000002",
        ),
    ] {
        let kid = app.account(kid_email, surname, given).await;
        let kid = app.member(school, kid, "student", Some(class)).await;
        let (parent, pm) = app.person(school, parent_email, "parent", None).await;
        sqlx::query("update accounts set phone = $2 where id = $1")
            .bind(parent)
            .bind(phone)
            .execute(&app.db)
            .await
            .unwrap();
        sqlx::query(
            "insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)",
        )
        .bind(school)
        .bind(pm)
        .bind(kid)
        .execute(&app.db)
        .await
        .unwrap();
        kids.push(kid);
    }
    Classes {
        app,
        school,
        five_a,
        five_b,
        kid_a: kids[0],
    }
}

async fn account_of(app: &TestApp, email: &str) -> school_portal::ids::AccountId {
    sqlx::query_scalar("select id from accounts where email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A pending parent's join request of `account` into `class`, through a parents' link of
/// the administrator's; `child` as a slip would set it.
async fn parent_request(
    w: &Classes,
    account: school_portal::ids::AccountId,
    class: school_portal::ids::ClassId,
    child: Option<school_portal::ids::MembershipId>,
    note: &str,
) -> uuid::Uuid {
    let admin = account_of(&w.app, "admin@test.local").await;
    let invite = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by)
         values ($1, $2, $3, 'parent', $4, 10, true, now() + interval '7 days', $5)",
    )
    .bind(w.school)
    .bind(invite)
    .bind(invite.as_bytes().to_vec())
    .bind(class)
    .bind(admin)
    .execute(&w.app.db)
    .await
    .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id, child_id, note)
         values ($1, $2, $3, $4, 'parent', $5, $6, $7)",
    )
    .bind(w.school)
    .bind(id)
    .bind(invite)
    .bind(account)
    .bind(class)
    .bind(child)
    .bind(note)
    .execute(&w.app.db)
    .await
    .unwrap();
    id
}

async fn status_of(app: &TestApp, request: uuid::Uuid) -> String {
    sqlx::query_scalar("select status from join_requests where id = $1")
        .bind(request)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn nobody_approves_their_own_join_request_alone_or_in_bulk_security_38() {
    let w = classes_world().await;
    let s = w.school;
    for login in ["ct-a@test.local", "admin@test.local"] {
        let me = account_of(&w.app, login).await;
        let own = parent_request(&w, me, w.five_a, Some(w.kid_a), "Морозов Артём").await;
        let c = w.app.logged_in(login).await;
        let queue = w
            .app
            .get(&c, &format!("/s/{s}/join-requests"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !queue.contains(&own.to_string()),
            "{login}: one's own request is not in one's queue"
        );
        let res = w
            .app
            .post(
                &c,
                &format!("/s/{s}/join-requests/{own}"),
                &[("decision", "approve")],
            )
            .await;
        assert_eq!(res.status(), 403, "{login} approving their own request");
        let own_s = own.to_string();
        let res = w
            .app
            .post(
                &c,
                &format!("/s/{s}/join-requests/bulk"),
                &[("ids", &own_s)],
            )
            .await;
        assert!(res.status().is_success() || res.status().is_redirection());
        assert_eq!(status_of(&w.app, own).await, "pending", "{login}, bulk");
        let links: i64 = sqlx::query_scalar(
            "select count(*) from parent_links l join memberships p on p.school_id = l.school_id
             and p.id = l.parent_id where p.account_id = $1",
        )
        .bind(me)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
        assert_eq!(links, 0, "{login} became nobody's legal representative");
    }
    // Someone else's request of 5А the class teacher does approve in bulk.
    let stranger = w.app.account("stranger@test.local", "Орлов", "Олег").await;
    let theirs = parent_request(&w, stranger, w.five_a, Some(w.kid_a), "").await;
    let ct = w.app.logged_in("ct-a@test.local").await;
    let theirs_s = theirs.to_string();
    w.app
        .post(
            &ct,
            &format!("/s/{s}/join-requests/bulk"),
            &[("ids", &theirs_s)],
        )
        .await;
    assert_eq!(status_of(&w.app, theirs).await, "approved");
}

#[tokio::test]
async fn bulk_approval_neither_names_nor_decides_another_classs_requester() {
    let w = classes_world().await;
    let s = w.school;
    let requester = w.app.account("req@test.local", "Кузнецова", "Вера").await;
    // A 5Б parent naming no child: before, bulk approval by the 5А class teacher answered
    // «Не одобрены …: Кузнецова Вера».
    let other = parent_request(&w, requester, w.five_b, None, "").await;
    let ct = w.app.logged_in("ct-a@test.local").await;
    let queue = w
        .app
        .get(&ct, &format!("/s/{s}/join-requests"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!queue.contains("Кузнецова"));
    let other_s = other.to_string();
    let res = w
        .app
        .post(
            &ct,
            &format!("/s/{s}/join-requests/bulk"),
            &[("ids", &other_s)],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("Кузнецова"),
        "another class's requester named"
    );
    assert_eq!(status_of(&w.app, other).await, "pending");
    let res = w
        .app
        .post(
            &ct,
            &format!("/s/{s}/join-requests/{other}"),
            &[("decision", "reject"), ("reason", "нет")],
        )
        .await;
    assert_eq!(res.status(), 403, "another class's request: an object rule");
    assert_eq!(status_of(&w.app, other).await, "pending");
}

#[tokio::test]
async fn parents_phones_on_a_class_page_only_for_the_administrator_and_its_class_teacher_security_36()
 {
    let w = classes_world().await;
    let s = w.school;
    let page = |c: reqwest::Client, class: school_portal::ids::ClassId| {
        let app = &w.app;
        async move {
            let res = app.get(&c, &format!("/s/{s}/classes/{class}")).await;
            assert_status(&res, 200);
            res.text().await.unwrap()
        }
    };
    let phone_a = "+79160000001";
    let phone_b = "+79160000002";
    let ct_a = w.app.logged_in("ct-a@test.local").await;
    let own = page(ct_a.clone(), w.five_a).await;
    assert!(
        own.contains(phone_a),
        "the class teacher sees their class's parents"
    );
    let foreign = page(ct_a, w.five_b).await;
    assert!(foreign.contains("Сидоров"), "the page itself stays open");
    assert!(!foreign.contains(phone_b), "but not another class's phones");
    let director = w.app.logged_in("director@test.local").await;
    assert!(!page(director, w.five_a).await.contains(phone_a));
    let admin = w.app.logged_in("admin@test.local").await;
    assert!(page(admin.clone(), w.five_a).await.contains(phone_a));
    assert!(page(admin, w.five_b).await.contains(phone_b));
}
