//! Issue 13, item 7: the parent's consent to a pupil's taking part in the class chats
//! (R4.3, 152-FZ). Under 14 a linked parent consents through their own account; from 14 the
//! pupil consents and the parent is told. With the school's setting on, a pupil under 14
//! without it is kept out of the students' chat by a transfer or an import, and the
//! consent brings them in; with it off, the pupil is added and compliance shows it.

use school_portal::auth::extract::RequestMeta;
use school_portal::auth::tenant::Tenant;
use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};
use school_portal::movements::domain::{self, By, MovementId, Order};
use uuid::Uuid;

use crate::helpers::school::{School, SchoolFixture};
use crate::helpers::smtp::SmtpServer;
use crate::helpers::*;

/// 5А (led by teacher@, with its students' chat), 5Б; kid@ in 5Б aged `age`, linked to
/// mama@; other-kid@ in 5Б, linked to papa@.
async fn world(app: &TestApp, age: i64) -> SchoolFixture {
    let w = School::new(app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .class_teacher("5А", "teacher@test.local")
        .student("5Б", "kid@test.local")
        .called("Орлова", "Вера")
        .parent_of("mama@test.local", "kid@test.local")
        .called("Орлова", "Анна")
        .student("5Б", "other-kid@test.local")
        .parent_of("papa@test.local", "other-kid@test.local")
        .build()
        .await;
    born(app, w.account("kid@test.local"), age).await;
    let c = app.logged_in("admin@test.local").await;
    let res = app
        .post(
            &c,
            &format!("/s/{}/classes/{}/chats/class_students", w.id, w.class("5А")),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    w
}

/// Sets the account's birth date `years` years (and a day) ago.
async fn born(app: &TestApp, account: AccountId, years: i64) {
    let today = time::OffsetDateTime::now_utc().date();
    let date = today
        .replace_year(today.year() - years as i32)
        .unwrap_or(today)
        - time::Duration::days(1);
    sqlx::query("update accounts set birth_date = $2 where id = $1")
        .bind(account)
        .bind(date)
        .execute(&app.db)
        .await
        .unwrap();
}

async fn students_chat(app: &TestApp, class: ClassId) -> Uuid {
    sqlx::query_scalar(
        "select id from chats where class_id = $1 and kind = 'class_students' and archived_at is null",
    )
    .bind(class)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn in_chat(app: &TestApp, chat: Uuid, member: MembershipId) -> bool {
    sqlx::query_scalar(
        "select exists(select 1 from chat_members where chat_id = $1 and member_id = $2)",
    )
    .bind(chat)
    .bind(member)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn set_strict(app: &TestApp, school: SchoolId, on: bool) {
    let c = app.logged_in("admin@test.local").await;
    let page = app
        .get(&c, &format!("/s/{school}/child-consents"))
        .await
        .text()
        .await
        .unwrap();
    let key = select_attr(&page, "#consent-setting input[name=form_key]", "value");
    let mut form = vec![("form_key", key[0].as_str())];
    if on {
        form.push(("strict", "on"));
    }
    let res = app
        .post(&c, &format!("/s/{school}/child-consents/setting"), &form)
        .await;
    assert_redirect(&res, &format!("/s/{school}/child-consents?done=setting"));
    // Sent again (Back, resend): the same answer.
    let again = app
        .post(&c, &format!("/s/{school}/child-consents/setting"), &form)
        .await;
    assert_redirect(&again, &format!("/s/{school}/child-consents?done=setting"));
}

async fn transfer_to(app: &TestApp, w: &SchoolFixture, student: &str, class: &str) {
    let meta = RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    let by = By::for_tests(Tenant::for_tests(w.id), w.admin("admin@test.local"), &meta);
    let mut tx = app.db.begin().await.unwrap();
    domain::transfer(
        &mut tx,
        &by,
        MovementId::new(),
        w.member(student),
        w.class(class),
        &Order {
            number: "45-о".into(),
            date: time::macros::date!(2026 - 10 - 01),
        },
        time::macros::date!(2026 - 10 - 02),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The parent consents on her start page (the button's own form key); the response.
async fn parent_consents(
    app: &TestApp,
    parent: &reqwest::Client,
    school: SchoolId,
    child: AccountId,
) -> reqwest::Response {
    let home = app
        .get(parent, &format!("/s/{school}"))
        .await
        .text()
        .await
        .unwrap();
    let action = format!("/s/{school}/children/{child}/chat-consent");
    let key = select_attr(
        &home,
        &format!("form[action='{action}'] input[name=form_key]"),
        "value",
    );
    assert_eq!(key.len(), 1, "the consent button is on the start page");
    app.post(parent, &action, &[("form_key", key[0].as_str())])
        .await
}

async fn card_consent(app: &TestApp, school: SchoolId, child: AccountId) -> String {
    let c = app.logged_in("admin@test.local").await;
    let card = app
        .get(&c, &format!("/s/{school}/people/{child}"))
        .await
        .text()
        .await
        .unwrap();
    select_texts(&card, "#child-consent").join(" ")
}

#[tokio::test]
async fn with_the_setting_on_a_pupil_under_14_without_consent_is_not_put_into_the_students_chat_by_a_transfer_and_the_parents_consent_adds_them()
 {
    let app = TestApp::spawn().await;
    let w = world(&app, 10).await;
    let kid = w.account("kid@test.local");
    set_strict(&app, w.id, true).await;
    let setting_audit: String =
        sqlx::query_scalar("select details from audit_log where action = 'school.consent_setting'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(setting_audit.contains(" → "), "{setting_audit}");
    let settings: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'school.consent_setting'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(settings, 1, "sent twice, changed once");

    transfer_to(&app, &w, "kid@test.local", "5А").await;
    let chat = students_chat(&app, w.class("5А")).await;
    assert!(
        !in_chat(&app, chat, w.member("kid@test.local")).await,
        "kept out without the consent"
    );
    assert_eq!(card_consent(&app, w.id, kid).await, "нет согласия родителя");

    // The parent consents through her own account; the child is synced in at once.
    let mama = app.logged_in("mama@test.local").await;
    let res = parent_consents(&app, &mama, w.id, kid).await;
    assert_redirect(&res, &format!("/s/{}?done=consent", w.id));
    assert!(in_chat(&app, chat, w.member("kid@test.local")).await);
    let home = app
        .get(&mama, &format!("/s/{}?done=consent", w.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        select_texts(&home, "#home-consent")
            .join(" ")
            .contains("дано")
    );

    // Who, when, for which child.
    let (by, child): (AccountId, MembershipId) = sqlx::query_as(
        "select given_by, child_id from child_consents where school_id = $1 and kind = 'parent'",
    )
    .bind(w.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(by, w.account("mama@test.local"));
    assert_eq!(child, w.member("kid@test.local"));
    let shown = card_consent(&app, w.id, kid).await;
    assert!(shown.contains("дано: Орлова Анна"), "{shown}");
    let target: String =
        sqlx::query_scalar("select target from audit_log where action = 'consent.parent_given'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(target, format!("account:{kid}"));
}

/// A students' list with two pupils of 5А: Морозова Лиза, 10, and Морозов Олег, 15.
fn import_file() -> Vec<u8> {
    let today = time::OffsetDateTime::now_utc().date();
    let at = |years: i32| {
        let d = today.replace_year(today.year() - years).unwrap_or(today);
        format!("{:02}.{:02}.{}", d.day(), u8::from(d.month()), d.year())
    };
    format!(
        "Класс;Фамилия;Имя;Отчество;Дата рождения\r\n5А;Морозова;Лиза;;{}\r\n5А;Морозов;Олег;;{}\r\n",
        at(10),
        at(15)
    )
    .into_bytes()
}

async fn import(app: &TestApp, school: SchoolId) {
    let c = app.logged_in("admin@test.local").await;
    let part = reqwest::multipart::Part::bytes(import_file())
        .file_name("список.csv")
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", "students")
        .part("file", part);
    let res = c
        .post(app.url(&format!("/s/{school}/import")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let preview = location(&res);
    let res = app.post(&c, &format!("{preview}/apply"), &[]).await;
    assert_eq!(res.status(), 303);
}

async fn pupil(app: &TestApp, given: &str) -> (AccountId, MembershipId) {
    sqlx::query_as(
        "select a.id, m.id from accounts a join memberships m on m.account_id = a.id
         where a.given_name = $1 and m.role = 'student'",
    )
    .bind(given)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn with_the_setting_on_an_imported_pupil_under_14_without_consent_stays_out_of_the_students_chat_until_the_parent_consents()
 {
    let app = TestApp::spawn().await;
    let w = world(&app, 10).await;
    set_strict(&app, w.id, true).await;
    import(&app, w.id).await;
    let chat = students_chat(&app, w.class("5А")).await;
    let (liza_account, liza) = pupil(&app, "Лиза").await;
    let (_, oleg) = pupil(&app, "Олег").await;
    assert!(!in_chat(&app, chat, liza).await, "under 14: kept out");
    assert!(
        in_chat(&app, chat, oleg).await,
        "15: no parent's consent needed"
    );

    // Her mother joins (linked here as an approved join request would) and consents.
    let mama = w.member("mama@test.local");
    sqlx::query("insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)")
        .bind(w.id)
        .bind(mama)
        .bind(liza)
        .execute(&app.db)
        .await
        .unwrap();
    let c = app.logged_in("mama@test.local").await;
    let res = parent_consents(&app, &c, w.id, liza_account).await;
    assert_eq!(res.status(), 303);
    assert!(in_chat(&app, chat, liza).await, "the consent syncs her in");
}

#[tokio::test]
async fn with_the_setting_off_the_pupil_is_added_and_compliance_shows_the_missing_consent() {
    let app = TestApp::spawn().await;
    let w = world(&app, 10).await;
    transfer_to(&app, &w, "kid@test.local", "5А").await;
    let chat = students_chat(&app, w.class("5А")).await;
    assert!(in_chat(&app, chat, w.member("kid@test.local")).await);

    for login in ["admin@test.local", "teacher@test.local"] {
        let c = app.logged_in(login).await;
        let page = app
            .get(&c, &format!("/s/{}/compliance", w.id))
            .await
            .text()
            .await
            .unwrap();
        let cells = select_texts(&page, "td.without-consent");
        assert!(
            cells.iter().any(|t| t == "нет согласия родителя: 1"),
            "{login}: {cells:?}"
        );
        // The class teacher sees the pupil and the parent to talk to.
        let list = app
            .get(&c, &format!("/s/{}/child-consents", w.id))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            select_texts(&list, "td.consent-state"),
            vec!["нет согласия родителя"]
        );
        assert!(list.contains("Орлова Анна"));
    }
    let csv = app
        .get(
            &app.logged_in("admin@test.local").await,
            &format!("/s/{}/compliance.csv", w.id),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("Без согласия родителя"));

    // Once the parent consents, the count is gone.
    let mama = app.logged_in("mama@test.local").await;
    parent_consents(&app, &mama, w.id, w.account("kid@test.local")).await;
    let page = app
        .get(
            &app.logged_in("admin@test.local").await,
            &format!("/s/{}/compliance", w.id),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        select_texts(&page, "td.without-consent")
            .iter()
            .all(|t| t == "0")
    );
}

#[tokio::test]
async fn a_pupil_of_14_or_more_gives_their_own_consent_and_the_parent_is_told_by_mail() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn().await;
    let w = world(&app, 15).await;
    let kid = app.logged_in("kid@test.local").await;
    let home = app
        .get(&kid, &format!("/s/{}", w.id))
        .await
        .text()
        .await
        .unwrap();
    let key = select_attr(&home, "#home-consent input[name=form_key]", "value");
    assert_eq!(key.len(), 1, "the pupil's own consent button");
    let res = app
        .post(
            &kid,
            &format!("/s/{}/my-chat-consent", w.id),
            &[("form_key", key[0].as_str())],
        )
        .await;
    assert_redirect(&res, &format!("/s/{}?done=own-consent", w.id));
    let again = app
        .post(
            &kid,
            &format!("/s/{}/my-chat-consent", w.id),
            &[("form_key", key[0].as_str())],
        )
        .await;
    assert_redirect(&again, &format!("/s/{}?done=own-consent", w.id));
    school_portal::mail::send_due(&app.db, &smtp.config())
        .await
        .unwrap();
    let mail = smtp.received();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, vec!["<mama@test.local>"]);
    assert!(mail[0].body_text().contains("сам дал согласие"));
    assert!(
        card_consent(&app, w.id, w.account("kid@test.local"))
            .await
            .contains("дал сам ученик")
    );

    // From 14 the parent no longer consents for the child.
    let mama = app.logged_in("mama@test.local").await;
    let res = app
        .post(
            &mama,
            &format!(
                "/s/{}/children/{}/chat-consent",
                w.id,
                w.account("kid@test.local")
            ),
            &[],
        )
        .await;
    assert_status(&res, 400);
}

#[tokio::test]
async fn a_pupil_under_14_cannot_consent_and_a_parent_consents_only_for_their_own_child() {
    let app = TestApp::spawn().await;
    let w = world(&app, 10).await;
    let school = w.id;
    let kid = app.logged_in("kid@test.local").await;
    let res = app
        .post(&kid, &format!("/s/{school}/my-chat-consent"), &[])
        .await;
    assert_status(&res, 400);

    // Another child's father: not found, nothing recorded.
    let papa = app.logged_in("papa@test.local").await;
    let res = app
        .post(
            &papa,
            &format!(
                "/s/{school}/children/{}/chat-consent",
                w.account("kid@test.local")
            ),
            &[],
        )
        .await;
    assert_not_found(&res);
    // The class teacher is no parent.
    let teacher = app.logged_in("teacher@test.local").await;
    let res = app
        .post(
            &teacher,
            &format!(
                "/s/{school}/children/{}/chat-consent",
                w.account("kid@test.local")
            ),
            &[],
        )
        .await;
    assert_status(&res, 403);
    let rows: i64 = sqlx::query_scalar("select count(*) from child_consents")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    // Only the administrator changes the setting.
    let res = app
        .post(
            &teacher,
            &format!("/s/{school}/child-consents/setting"),
            &[("strict", "on")],
        )
        .await;
    assert_status(&res, 403);
}

#[tokio::test]
async fn consenting_twice_records_one_consent() {
    let app = TestApp::spawn().await;
    let w = world(&app, 10).await;
    let mama = app.logged_in("mama@test.local").await;
    let home = app
        .get(&mama, &format!("/s/{}", w.id))
        .await
        .text()
        .await
        .unwrap();
    let kid = w.account("kid@test.local");
    let action = format!("/s/{}/children/{kid}/chat-consent", w.id);
    let key = select_attr(
        &home,
        &format!("form[action='{action}'] input[name=form_key]"),
        "value",
    );
    let first = app.post(&mama, &action, &[("form_key", &key[0])]).await;
    let second = app.post(&mama, &action, &[("form_key", &key[0])]).await;
    assert_eq!(location(&first), location(&second));
    let rows: i64 = sqlx::query_scalar("select count(*) from child_consents")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    let audits: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'consent.parent_given'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audits, 1);
}
