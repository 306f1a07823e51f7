//! Issue 13, the rest of helping people: corrections from a person's card with «было →
//! стало» in the card's history (items 1 and 8; the tenant rule of SECURITY.md 35), the
//! administrators' contacts in every page's footer (item 4, R3.2) and the parent's start
//! page after approval (item 9).

use school_portal::ids::{AccountId, ClassId, SchoolId};
use uuid::Uuid;

use crate::helpers::school::{School, SchoolFixture};
use crate::helpers::*;

async fn students_chat(app: &TestApp, school: SchoolId, class: ClassId) -> Uuid {
    let c = app.logged_in("admin@test.local").await;
    let res = app
        .post(
            &c,
            &format!("/s/{school}/classes/{class}/chats/class_students"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    sqlx::query_scalar(
        "select id from chats where class_id = $1 and kind = 'class_students' and archived_at is null",
    )
    .bind(class)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn chat_has(app: &TestApp, chat: Uuid, account: AccountId) -> bool {
    sqlx::query_scalar(
        "select exists(select 1 from chat_members cm join memberships m on m.id = cm.member_id
                       where cm.chat_id = $1 and m.account_id = $2)",
    )
    .bind(chat)
    .bind(account)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// The correction form's key for `account`.
async fn correction_key(
    app: &TestApp,
    c: &reqwest::Client,
    school: SchoolId,
    account: AccountId,
) -> String {
    let page = app
        .get(c, &format!("/s/{school}/people/{account}/correct"))
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    select_attr(&page, "#correct-form input[name=form_key]", "value")[0].clone()
}

async fn history(
    app: &TestApp,
    c: &reqwest::Client,
    school: SchoolId,
    account: AccountId,
) -> String {
    let card = app
        .get(c, &format!("/s/{school}/people/{account}"))
        .await
        .text()
        .await
        .unwrap();
    select_texts(&card, "section[aria-labelledby=history-title] td").join(" | ")
}

async fn pupils_world(app: &TestApp) -> SchoolFixture {
    School::new(app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .called("Смирнова", "Ольга")
        .student("5А", "kid@test.local")
        .called("Орлова", "Вера")
        .build()
        .await
}

#[tokio::test]
async fn the_administrator_corrects_a_pupils_class_and_name_from_the_card_and_the_history_shows_old_and_new()
 {
    let app = TestApp::spawn().await;
    let w = pupils_world(&app).await;
    let (school, kid) = (w.id, w.account("kid@test.local"));
    let chat_a = students_chat(&app, school, w.class("5А")).await;
    let chat_b = students_chat(&app, school, w.class("5Б")).await;
    assert!(chat_has(&app, chat_a, kid).await);

    let admin = app.logged_in("admin@test.local").await;
    let card = app
        .get(&admin, &format!("/s/{school}/people/{kid}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_attr(&card, "#correct-link", "href"),
        vec![format!("/s/{school}/people/{kid}/correct")]
    );
    let key = correction_key(&app, &admin, school, kid).await;
    let five_b = w.class("5Б").to_string();
    let form = [
        ("form_key", key.as_str()),
        ("surname", "Орлова-Иванова"),
        ("given_name", "Вера"),
        ("patronymic", "Павловна"),
        ("class_id", five_b.as_str()),
    ];
    let res = app
        .post(&admin, &format!("/s/{school}/people/{kid}/correct"), &form)
        .await;
    assert_redirect(&res, &format!("/s/{school}/people/{kid}?done=corrected"));
    // Sent twice: one correction.
    let again = app
        .post(&admin, &format!("/s/{school}/people/{kid}/correct"), &form)
        .await;
    assert_eq!(location(&again), location(&res));
    let rows: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'people.corrected'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(rows, 1);

    let (surname, class): (String, String) = sqlx::query_as(
        "select a.surname, c.title from accounts a join memberships m on m.account_id = a.id
         join classes c on c.id = m.class_id where a.id = $1",
    )
    .bind(kid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((surname.as_str(), class.as_str()), ("Орлова-Иванова", "5Б"));
    // The chats follow the class.
    assert!(!chat_has(&app, chat_a, kid).await);
    assert!(chat_has(&app, chat_b, kid).await);

    let h = history(&app, &admin, school, kid).await;
    for change in [
        "фамилия: Орлова → Орлова-Иванова",
        "отчество: Иванович → Павловна",
        "класс: 5А → 5Б",
    ] {
        assert!(h.contains(change), "{change} in {h}");
    }
    assert!(
        h.contains("Данные человека исправлены") && h.contains("Смирнова Ольга"),
        "{h}"
    );
    assert!(
        !h.contains("имя: "),
        "an unchanged field is not listed: {h}"
    );
}

#[tokio::test]
async fn a_school_corrects_no_name_of_a_person_who_is_also_in_another_school() {
    let app = TestApp::spawn().await;
    let w = pupils_world(&app).await;
    let other = app.school("Школа № 2").await;
    let kid = w.account("kid@test.local");
    app.member(other, kid, "student", None).await;

    let admin = app.logged_in("admin@test.local").await;
    let key = correction_key(&app, &admin, w.id, kid).await;
    let res = app
        .post(
            &admin,
            &format!("/s/{}/people/{kid}/correct", w.id),
            &[
                ("form_key", key.as_str()),
                ("surname", "Иванова"),
                ("given_name", "Вера"),
                ("class_id", &w.class("5А").to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(select_texts(&page, ".field-error")[0].contains("в другой школе"));
    // The name fields are read-only here (the macro's `readonly`), the error tied to them.
    for id in ["surname", "given_name", "patronymic"] {
        assert_eq!(
            select_attr(&page, &format!("input#{id}[readonly]"), "name"),
            [id]
        );
    }
    let surname: String = sqlx::query_scalar("select surname from accounts where id = $1")
        .bind(kid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(surname, "Орлова");
    // Another school's administrator does not find the person at all.
    app.admin(other, "other-admin@test.local").await;
    let b = app.logged_in("other-admin@test.local").await;
    let res = app
        .get(&b, &format!("/s/{}/people/{kid}/correct", w.id))
        .await;
    assert_not_found(&res);
}

#[tokio::test]
async fn a_staff_members_role_and_position_are_corrected_with_old_and_new_in_the_history() {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .admin("admin@test.local")
        .teacher("teacher@test.local")
        .build()
        .await;
    let t = w.account("teacher@test.local");
    let admin = app.logged_in("admin@test.local").await;
    let key = correction_key(&app, &admin, w.id, t).await;
    let res = app
        .post(
            &admin,
            &format!("/s/{}/people/{t}/correct", w.id),
            &[
                ("form_key", key.as_str()),
                ("surname", "Петров"),
                ("given_name", "Пётр"),
                ("role", "staff"),
                ("position", "библиотекарь"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let h = history(&app, &admin, w.id, t).await;
    assert!(h.contains("роль: учитель → сотрудник"), "{h}");
    assert!(h.contains("должность: — → библиотекарь"), "{h}");
    // A role outside the list is a message next to the field, not a 500.
    let key = correction_key(&app, &admin, w.id, t).await;
    let res = app
        .post(
            &admin,
            &format!("/s/{}/people/{t}/correct", w.id),
            &[
                ("form_key", key.as_str()),
                ("surname", "Петров"),
                ("given_name", "Пётр"),
                ("role", "director"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!select_texts(&res.text().await.unwrap(), ".field-error").is_empty());
}

#[tokio::test]
async fn every_pages_footer_shows_the_school_administrators_contacts_r3_2() {
    let app = TestApp::spawn().await;
    let w = pupils_world(&app).await;
    let school = w.id;
    let kid = app.logged_in("kid@test.local").await;
    for path in [
        format!("/s/{school}"),
        format!("/s/{school}/my-chats"),
        format!("/s/{school}/support"),
        format!("/s/{school}/broadcasts"),
    ] {
        let page = app.get(&kid, &path).await;
        assert_eq!(page.status(), 200, "{path}");
        let page = page.text().await.unwrap();
        let footer = select_texts(&page, "footer #footer-admins").join(" ");
        assert!(
            footer.contains("Смирнова Ольга") && footer.contains("admin@test.local"),
            "{path}: {footer}"
        );
    }
}

#[tokio::test]
async fn after_approval_the_parents_start_page_shows_the_class_chats_or_what_to_do_while_their_links_are_not_set()
 {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .student("5А", "kid@test.local")
        .parent_of("mama@test.local", "kid@test.local")
        .build()
        .await;
    let school = w.id;
    let mama = app.logged_in("mama@test.local").await;
    let home = |c: reqwest::Client| {
        let app = &app;
        async move {
            app.get(&c, &format!("/s/{school}"))
                .await
                .text()
                .await
                .unwrap()
        }
    };
    // No chat yet: what to do meanwhile.
    let page = home(mama.clone()).await;
    let waiting = select_texts(&page, "#home-chats").join(" ");
    assert!(waiting.contains("Вас пока не добавили"), "{waiting}");
    assert!(
        waiting.contains("Сферум") && waiting.contains("МАХ"),
        "{waiting}"
    );

    // The parents' chat exists, its link not set yet.
    let admin = app.logged_in("admin@test.local").await;
    app.post(
        &admin,
        &format!("/s/{school}/classes/{}/chats/class_parents", w.class("5А")),
        &[],
    )
    .await;
    let page = home(mama.clone()).await;
    assert_eq!(select_texts(&page, "#home-chats .chat-no-link").len(), 1);

    // With the link set, the start page leads into the chat.
    sqlx::query("update chats set platform_url = 'https://sferum.ru/?call_link=abc' where kind = 'class_parents'")
        .execute(&app.db)
        .await
        .unwrap();
    let page = home(mama).await;
    assert_eq!(
        select_attr(&page, "#home-chats a.chat-link", "href"),
        vec!["https://sferum.ru/?call_link=abc"]
    );
}
