//! The people of the school: search and the person's card (R2.1.k, R2.1.o), status
//! confirmation (R2.1.j, R2.3.b), admin rights with the director's approval (R2.1.g,
//! R2.1.q), and the audit log page (SECURITY.md 26).

use crate::helpers::*;
use school_portal::ids::{AccountId, MembershipId, SchoolId};

struct World {
    app: TestApp,
    s: SchoolId,
    other: SchoolId,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let s = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .director("director@test.local")
        .teacher("teacher@test.local")
        .student("5А", "student@test.local")
        .parent_of("parent@test.local", "student@test.local")
        .called("Ёлкина", "Мария")
        .build()
        .await
        .id;
    let other = School::new(&app)
        .named("Школа № 2")
        .admin("other@test.local")
        .build()
        .await
        .id;
    World { app, s, other }
}

async fn account_of(app: &TestApp, email: &str) -> AccountId {
    sqlx::query_scalar("select id from accounts where email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn people_are_found_by_name_ignoring_case_and_yo_r2_1_k() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let page = w
        .app
        .get(&admin, &format!("/s/{}/people?q=елкина", w.s))
        .await
        .text()
        .await
        .unwrap();
    let names = select_texts(&page, "main tbody td:first-child");
    assert_eq!(names, vec!["Ёлкина Мария Иванович"]);
    let page = w
        .app
        .get(&admin, &format!("/s/{}/people?role=student", w.s))
        .await
        .text()
        .await
        .unwrap();
    let rows = select_texts(&page, "main tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("5А") && rows[0].contains("ученик"));
    let page = w
        .app
        .get(&admin, &format!("/s/{}/people", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Найдено: 5 человек."),
        "admin, director, teacher, student, parent"
    );
    // Sorted by surname with Russian collation: Ё with Е, before П.
    let names = select_texts(&page, "main tbody td:first-child");
    assert_eq!(names[0], "Ёлкина Мария Иванович");
    // The director may look; a teacher may not; another school's admin gets 404.
    let director = w.app.logged_in("director@test.local").await;
    assert_eq!(
        w.app
            .get(&director, &format!("/s/{}/people", w.s))
            .await
            .status(),
        200
    );
    let teacher = w.app.logged_in("teacher@test.local").await;
    assert_eq!(
        w.app
            .get(&teacher, &format!("/s/{}/people", w.s))
            .await
            .status(),
        403
    );
    let other = w.app.logged_in("other@test.local").await;
    assert_eq!(
        w.app
            .get(&other, &format!("/s/{}/people", w.s))
            .await
            .status(),
        404
    );
    assert_login_redirect(
        &w.app
            .get(&w.app.client(), &format!("/s/{}/people", w.s))
            .await,
    );
}

#[tokio::test]
async fn a_persons_card_shows_what_the_administrator_needs_to_help_r2_1_o() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let parent = account_of(&w.app, "parent@test.local").await;
    let student = account_of(&w.app, "student@test.local").await;
    w.app.logged_in("parent@test.local").await;
    let page = w
        .app
        .get(&admin, &format!("/s/{}/people/{parent}", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Ёлкина Мария"));
    assert!(page.contains("родитель (законный представитель)"));
    assert!(page.contains("Дети"));
    assert!(page.contains("Петров Пётр Иванович"), "the child");
    assert!(page.contains("1 активный сеанс"));
    let page = w
        .app
        .get(&admin, &format!("/s/{}/people/{student}", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Родители (законные представители)") && page.contains("Ёлкина Мария"));
    // Someone of another school is not found here.
    let stranger = account_of(&w.app, "other@test.local").await;
    assert_eq!(
        w.app
            .get(&admin, &format!("/s/{}/people/{stranger}", w.s))
            .await
            .status(),
        404
    );
    let other = w.app.logged_in("other@test.local").await;
    assert_eq!(
        w.app
            .get(&other, &format!("/s/{}/people/{parent}", w.other))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn status_is_confirmed_or_rejected_with_a_reason_oldest_first_r2_1_j() {
    let w = world().await;
    let app = &w.app;
    let admin = app.logged_in("admin@test.local").await;
    // Two staff added by hand arrive unverified.
    for (surname, email, role) in [
        ("Старова", "old@test.local", "teacher"),
        ("Новикова", "new@test.local", "deputy"),
    ] {
        let res = app
            .post(
                &admin,
                &format!("/s/{}/people/new-staff", w.s),
                &[
                    ("surname", surname),
                    ("given_name", "Анна"),
                    ("patronymic", ""),
                    ("email", email),
                    ("phone", ""),
                    ("role", role),
                    ("position", "учитель музыки"),
                ],
            )
            .await;
        assert_status(&res, 303);
    }
    // They join when they accept the offers (SECURITY.md 35).
    everyone_accepts(app, w.s).await;
    sqlx::query("update memberships m set joined_at = now() - interval '3 days' from accounts a where a.id = m.account_id and a.email = 'old@test.local'")
        .execute(&app.db)
        .await
        .unwrap();
    let page = app
        .get(&admin, &format!("/s/{}/verification", w.s))
        .await
        .text()
        .await
        .unwrap();
    let rows = select_texts(&page, "main tbody tr");
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].contains("Старова") && rows[0].contains("3 дня"),
        "oldest first: {rows:?}"
    );
    assert!(rows[1].contains("Новикова") && rows[1].contains("заместитель директора"));

    let old: MembershipId = sqlx::query_scalar("select m.id from memberships m join accounts a on a.id = m.account_id where a.email = 'old@test.local'").fetch_one(&app.db).await.unwrap();
    let new: MembershipId = sqlx::query_scalar("select m.id from memberships m join accounts a on a.id = m.account_id where a.email = 'new@test.local'").fetch_one(&app.db).await.unwrap();
    // A rejection needs a reason.
    let res = app
        .post(
            &admin,
            &format!("/s/{}/verification/{new}", w.s),
            &[("decision", "reject"), ("reason", " ")],
        )
        .await;
    assert!(res.text().await.unwrap().contains("Укажите причину отказа"));
    assert_eq!(
        app.post(
            &admin,
            &format!("/s/{}/verification/{old}", w.s),
            &[("decision", "verify")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        app.post(
            &admin,
            &format!("/s/{}/verification/{new}", w.s),
            &[("decision", "reject"), ("reason", "не работает в школе")]
        )
        .await
        .status(),
        303
    );
    let states: Vec<(String, Option<String>)> = sqlx::query_as("select verification, verification_reason from memberships where id = any($1) order by joined_at")
        .bind(vec![old.0, new.0])
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            ("verified".into(), None),
            ("rejected".into(), Some("не работает в школе".into()))
        ]
    );
    let page = app
        .get(&admin, &format!("/s/{}/verification", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Никто не ждёт подтверждения статуса."));
    // Deciding the same twice (issue 9): where the first decision led, nothing changed;
    // another school's membership: not found.
    let again = app
        .post(
            &admin,
            &format!("/s/{}/verification/{old}", w.s),
            &[("decision", "verify")],
        )
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        location(&again),
        format!("/s/{}/verification?done=confirmed", w.s)
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.post(
            &other,
            &format!("/s/{}/verification/{new}", w.other),
            &[("decision", "verify")]
        )
        .await
        .status(),
        404
    );
    let director = app.logged_in("director@test.local").await;
    assert_eq!(
        app.get(&director, &format!("/s/{}/verification", w.s))
            .await
            .status(),
        403
    );
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"verification.confirmed".to_owned())
            && actions.contains(&"verification.rejected".to_owned())
    );
    // The card shows the history.
    let card = app
        .get(
            &admin,
            &format!(
                "/s/{}/people/{}",
                w.s,
                account_of(app, "new@test.local").await
            ),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(card.contains("отклонён: не работает в школе"));
    assert!(card.contains("Статус отклонён"));
}

#[tokio::test]
async fn admin_rights_take_effect_only_after_the_directors_approval_r2_1_g() {
    let w = world().await;
    let app = &w.app;
    let admin = app.logged_in("admin@test.local").await;
    let teacher_m: MembershipId = sqlx::query_scalar("select m.id from memberships m join accounts a on a.id = m.account_id where a.email = 'teacher@test.local'").fetch_one(&app.db).await.unwrap();
    let path = format!("/s/{}/admin-rights", w.s);
    let res = app
        .post(
            &admin,
            &path,
            &[
                ("member", &teacher_m.to_string()),
                ("order_number", ""),
                ("order_date", ""),
                ("expires_on", ""),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите номер приказа директора."));
    let res = app
        .post(
            &admin,
            &path,
            &[
                ("member", &teacher_m.to_string()),
                ("order_number", "77-о"),
                ("order_date", "2026-11-20"),
                ("expires_on", ""),
            ],
        )
        .await;
    assert_status(&res, 303);

    // Proposed, not yet in force: the teacher cannot edit the school profile.
    let teacher = app.logged_in("teacher@test.local").await;
    assert_eq!(
        app.get(&teacher, &format!("/s/{}/profile/edit", w.s))
            .await
            .status(),
        403
    );
    let page = app.get(&admin, &path).await.text().await.unwrap();
    assert!(page.contains("ждут согласования директора"));
    // The administrator cannot approve; the director can.
    let grant: uuid::Uuid = sqlx::query_scalar("select g.id from admin_grants g join accounts a on a.id = g.account_id where a.email = 'teacher@test.local'").fetch_one(&app.db).await.unwrap();
    assert_eq!(
        app.post(&admin, &format!("{path}/{grant}/approve"), &[])
            .await
            .status(),
        403
    );
    let director = app.logged_in("director@test.local").await;
    assert_eq!(
        app.post(&director, &format!("{path}/{grant}/approve"), &[])
            .await
            .status(),
        303
    );
    // Roles are read per request: the teacher's session goes on and has the rights at once
    // (SECURITY.md 5, 35).
    assert_eq!(
        app.get(&teacher, &format!("/s/{}/profile/edit", w.s))
            .await
            .status(),
        200
    );
    let page = app.get(&director, &path).await.text().await.unwrap();
    assert!(page.contains("действуют") && page.contains("приказ № 77-о от 20.11.2026"));
    assert!(page.contains("согласовал(а)"));

    // Revoking asks for confirmation, then ends the rights.
    let res = app
        .post(&director, &format!("{path}/{grant}/revoke"), &[])
        .await;
    assert!(res.text().await.unwrap().contains("Подтверждаю отзыв прав"));
    assert_eq!(
        app.post(
            &director,
            &format!("{path}/{grant}/revoke"),
            &[("confirm", "yes")]
        )
        .await
        .status(),
        303
    );
    // The same session loses them at once.
    assert_eq!(
        app.get(&teacher, &format!("/s/{}/profile/edit", w.s))
            .await
            .status(),
        403
    );
    let actions = app.audit_actions().await;
    for a in [
        "admin_rights.proposed",
        "admin_rights.approved",
        "admin_rights.revoked",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
    // Another school cannot touch this grant.
    let other = app.logged_in("other@test.local").await;
    assert_eq!(app.get(&other, &path).await.status(), 404);
}

#[tokio::test]
async fn nobody_approves_their_own_admin_rights_r2_1_q() {
    let w = world().await;
    let app = &w.app;
    // The IT deputy is proposed; the IT deputy cannot approve it, the director can.
    let (deputy, deputy_m) = app.person(w.s, "it@test.local", "deputy", None).await;
    sqlx::query("update memberships set is_it_deputy = true where id = $1")
        .bind(deputy_m)
        .execute(&app.db)
        .await
        .unwrap();
    let admin = app.logged_in("admin@test.local").await;
    let path = format!("/s/{}/admin-rights", w.s);
    app.post(
        &admin,
        &path,
        &[
            ("member", &deputy_m.to_string()),
            ("order_number", "5"),
            ("order_date", "2026-11-01"),
            ("expires_on", ""),
        ],
    )
    .await;
    let grant: uuid::Uuid = sqlx::query_scalar("select id from admin_grants where account_id = $1")
        .bind(deputy)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let it = app.logged_in("it@test.local").await;
    let res = app.post(&it, &format!("{path}/{grant}/approve"), &[]).await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Нельзя согласовать права администратора самому себе.")
    );
    let approved: bool =
        sqlx::query_scalar("select approved_at is not null from admin_grants where id = $1")
            .bind(grant)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!approved);
    // The database refuses it as well.
    let direct = sqlx::query(
        "update admin_grants set approved_by = account_id, approved_at = now() where id = $1",
    )
    .bind(grant)
    .execute(&app.db)
    .await;
    assert!(direct.is_err());
    // The IT deputy approves someone else's (R2.1.q).
    let (_, staff_m) = app.person(w.s, "staff@test.local", "staff", None).await;
    app.post(
        &admin,
        &path,
        &[
            ("member", &staff_m.to_string()),
            ("order_number", "6"),
            ("order_date", "2026-11-01"),
            ("expires_on", ""),
        ],
    )
    .await;
    let g2: uuid::Uuid = sqlx::query_scalar("select g.id from admin_grants g join accounts a on a.id = g.account_id where a.email = 'staff@test.local'").fetch_one(&app.db).await.unwrap();
    assert_eq!(
        app.post(&it, &format!("{path}/{g2}/approve"), &[])
            .await
            .status(),
        303
    );
    // A rejection needs a reason and is kept.
    let director = app.logged_in("director@test.local").await;
    let res = app
        .post(
            &director,
            &format!("{path}/{grant}/reject"),
            &[("reason", "")],
        )
        .await;
    assert!(res.text().await.unwrap().contains("Укажите причину"));
    assert_eq!(
        app.post(
            &director,
            &format!("{path}/{grant}/reject"),
            &[("reason", "нет приказа")]
        )
        .await
        .status(),
        303
    );
    let page = app.get(&director, &path).await.text().await.unwrap();
    assert!(page.contains("не согласованы") && page.contains("нет приказа"));
}

#[tokio::test]
async fn the_audit_log_page_filters_and_pages_by_keyset() {
    let w = world().await;
    let app = &w.app;
    let admin = app.logged_in("admin@test.local").await;
    for i in 0..60 {
        app.post(
            &admin,
            &format!("/s/{}/subjects", w.s),
            &[("name", &format!("Предмет {i}")), ("kind", "subject")],
        )
        .await;
    }
    let page = app
        .get(&admin, &format!("/s/{}/audit?action=subject", w.s))
        .await
        .text()
        .await
        .unwrap();
    let rows = select_texts(&page, "main tbody tr");
    assert_eq!(rows.len(), 50);
    assert!(rows[0].contains("Предмет 59"), "newest first");
    let next = select_attr(&page, "nav.pagination a", "href")
        .into_iter()
        .find(|h| h.contains("before="))
        .expect("a next page");
    let page = app.get(&admin, &next).await.text().await.unwrap();
    let rows = select_texts(&page, "main tbody tr");
    assert_eq!(rows.len(), 10);
    assert!(rows[9].contains("Предмет 0"));
    // By person.
    let page = app
        .get(&admin, &format!("/s/{}/audit?person=петров", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(!select_texts(&page, "main tbody tr").is_empty());
    let page = app
        .get(&admin, &format!("/s/{}/audit?person=никто", w.s))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Записей не нашлось."));
    // The director reads it; a teacher does not; another school's admin gets 404.
    let director = app.logged_in("director@test.local").await;
    assert_eq!(
        app.get(&director, &format!("/s/{}/audit", w.s))
            .await
            .status(),
        200
    );
    let teacher = app.logged_in("teacher@test.local").await;
    assert_eq!(
        app.get(&teacher, &format!("/s/{}/audit", w.s))
            .await
            .status(),
        403
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.get(&other, &format!("/s/{}/audit", w.s)).await.status(),
        404
    );
}
