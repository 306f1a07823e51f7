//! Control characters in what people send (issue 9, item 1; SECURITY.md 29): the route
//! table is walked with a NUL and the other control characters in every form field and
//! every filter. No 500 anywhere, a Russian answer, nothing stored. A route added tomorrow
//! is walked too.

use std::collections::BTreeSet;

use school_portal::auth::permissions::Access;
use school_portal::web::RouteRow;

use crate::helpers::*;
use crate::routes::{Who, World, world};

/// Field names every POST gets beside those its pages' forms show.
const FIELDS: &[&str] = &[
    "login",
    "password",
    "password2",
    "current",
    "name",
    "short_name",
    "full_name",
    "title",
    "q",
    "purpose",
    "number",
    "order_number",
    "order_date",
    "edition",
    "body",
    "reason",
    "comment",
    "email",
    "phone",
    "surname",
    "first_name",
    "patronymic",
    "letter",
    "grade",
    "kind",
    "class",
    "class_id",
    "role",
    "next",
];

/// Forms that are only a button (a key, a hidden id, a choice): sent with control
/// characters, the cleaned request does what the button does. The administrator's
/// approve and reject of admin rights are here because the administrator may not decide
/// them: the 403 is audited. So are the consents to a child's chats (a parent's, a
/// pupil's own): the administrator gets an audited 403.
const BUTTONS: &[&str] = &[
    "/s/{school_id}/admin-rights/{grant_id}/approve",
    "/s/{school_id}/admin-rights/{grant_id}/reject",
    "/s/{school_id}/broadcasts/{broadcast_id}/cancel",
    "/s/{school_id}/calendar/feed",
    "/s/{school_id}/channels/{channel_id}/archive",
    "/s/{school_id}/chats/{chat_id}/invite",
    "/s/{school_id}/chats/{chat_id}/reconcile",
    "/s/{school_id}/children/{account_id}/chat-consent",
    "/s/{school_id}/my-chat-consent",
    "/s/{school_id}/people/{account_id}/login-link",
    "/s/{school_id}/posts/{post_id}/attachments/{attachment_id}/delete",
    "/s/{school_id}/teaching/{assignment_id}/delete",
];

/// The control characters sent, one request each.
const CONTROLS: &[&str] = &["\0", "\u{1}", "\u{1b}", "\u{7f}", "\u{85}"];

/// Tables whose rows a refused form would have added.
const TABLES: &[&str] = &[
    "accounts",
    "schools",
    "academic_years",
    "classes",
    "memberships",
    "parent_links",
    "class_teacher_assignments",
    "admin_grants",
    "audit_log",
    "one_time_tokens",
    "subjects",
    "teaching_assignments",
    "class_leadership_orders",
    "rollovers",
    "movements",
    "imports",
    "regulation_editions",
    "invites",
    "join_requests",
    "outbox",
    "chats",
    "chat_members",
    "offers",
    "consents",
];

async fn counts(w: &World) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&w.app.db)
            .await
            .unwrap();
        out.push((*table, n));
    }
    out
}

/// Who asks for `row`: anonymous for public routes, the operator for the operator's, the
/// administrator of school A for the rest.
fn client_for<'a>(w: &'a World, row: &RouteRow) -> &'a reqwest::Client {
    let who = match row.access {
        Access::Public => Who::Anonymous,
        Access::Operator | Access::Region => Who::Operator,
        _ => Who::Admin,
    };
    &w.people.iter().find(|p| p.who == who).unwrap().client
}

fn is_russian(text: &str) -> bool {
    text.chars()
        .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c)))
}

/// The names of the fields of every form on a page.
fn form_fields(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form input[name], form select[name], form textarea[name]")
        .unwrap();
    doc.select(&sel)
        .filter_map(|e| e.value().attr("name").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn control_characters_in_every_form_and_filter_give_no_500_a_russian_answer_and_store_nothing()
 {
    let w = world().await;
    let rows = school_portal::route_table(&w.app.state);
    let mut fields: BTreeSet<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
    let mut failures = Vec::new();

    // Every GET with control characters in the usual filters: stripped, never a 500.
    let query = "q=%00&page=%00&class=%00%01&class_id=%00&status=%00&kind=%00&action=%1B\
                 &from=%00&to=%00&next=%00&saved=%00&grade=%00&role=%00&search=%7F";
    for row in rows.iter().filter(|r| r.method == "GET") {
        let path = w.fill(row.path, None, None).unwrap();
        let client = client_for(&w, row);
        for url in [path.clone(), format!("{path}?{query}")] {
            let res = w.app.get(client, &url).await;
            let status = res.status();
            let html = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"));
            let body = res.text().await.unwrap();
            if status.is_server_error() {
                failures.push(format!("GET {url}: {status}"));
            } else if html && !is_russian(&body) {
                failures.push(format!("GET {url}: {status}, not Russian"));
            }
            if html && status.is_success() {
                fields.extend(form_fields(&body));
            }
        }
    }
    assert!(
        fields.len() > FIELDS.len(),
        "the pages' own fields: {fields:?}"
    );

    // Every POST, every field holding a control character: no 500, a page is Russian, and
    // nothing stored — the fields are cleaned at the edge and marked, and every form that
    // checks its fields shows the mark as a message and stores nothing. The buttons (no
    // field a person types; a control character there is sent only by hand) do their one
    // thing with the cleaned request; the session enders among them go last.
    let ends_session = |p: &str| {
        p == "/logout" || p.starts_with("/profile/sessions/") || p.ends_with("/end-sessions")
    };
    let button = |p: &str| ends_session(p) || BUTTONS.contains(&p);
    let mut posts: Vec<&RouteRow> = rows.iter().filter(|r| r.method == "POST").collect();
    posts.sort_by_key(|r| ends_session(r.path));
    let mut stored = Vec::new();
    for row in posts {
        let path = w.fill(row.path, None, None).unwrap();
        let client = client_for(&w, row);
        for control in CONTROLS {
            let values: Vec<(String, String)> = fields
                .iter()
                .map(|f| (f.clone(), format!("Текст{control}ещё")))
                .collect();
            let at = counts(&w).await;
            let res = client
                .post(w.app.url(&path))
                .form(&values)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            if status.is_server_error() || (status.is_success() && !is_russian(&body)) {
                failures.push(format!("POST {} with {control:?}: {status}", row.path));
            }
            if counts(&w).await != at && !button(row.path) {
                stored.push(format!("POST {} with {control:?}: {status}", row.path));
            }
        }
        // The same as multipart (the regulation's and the import's forms are).
        let mut form = reqwest::multipart::Form::new();
        for f in &fields {
            form = form.text(f.clone(), "Текст\0ещё");
        }
        let res = client
            .post(w.app.url(&path))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        if status.is_server_error() || (status.is_success() && !is_russian(&body)) {
            failures.push(format!("POST {} as multipart: {status}", row.path));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(stored.is_empty(), "stored: {stored:#?}");
}

/// The `value` of the input `id` on a page.
fn value_of(html: &str, id: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("#{id}")).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default()
        .to_owned()
}

/// The message next to the field `id` (its `id-error` paragraph).
fn error_of(html: &str, id: &str) -> String {
    select_texts(html, &format!("#{id}-error")).join(" ")
}

#[tokio::test]
async fn a_nul_in_the_login_form_shows_the_form_again_with_the_message_next_to_the_login() {
    let app = TestApp::spawn().await;
    School::new(&app).admin("admin@test.local").build().await;
    let c = app.client();
    // The right login and password, but a NUL in the login: nothing is tried.
    let (res, log) = crate::helpers::log::logged(app.post(
        &c,
        "/login",
        &[("login", "admin@te\0st.local"), ("password", PASSWORD)],
    ))
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("set-cookie").is_none(), "no session");
    let html = res.text().await.unwrap();
    assert!(
        select_texts(&html, "#login-field-error")
            .join(" ")
            .contains("Поле содержит недопустимые символы"),
        "{html}"
    );
    assert_eq!(
        value_of(&html, "login"),
        "admin@test.local",
        "the rest kept"
    );
    assert!(
        app.audit_actions().await.is_empty(),
        "no login, no failed login"
    );
    let throttled: i64 = sqlx::query_scalar("select count(*) from login_throttle")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(throttled, 0, "nothing counted against the login");
    assert!(!log.contains("ERROR"), "{log}");
    assert!(log.contains("login"), "the field is named: {log}");
    assert!(
        !log.contains("te\0st") && !log.contains("admin@test.local") && !log.contains(PASSWORD),
        "no value logged: {log}"
    );
    // Tab, CR and LF are text: the login form answers as for any wrong login.
    let res = app
        .post(&c, "/login", &[("login", "a\tb\r\nc"), ("password", "x")])
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Неверный логин или пароль"), "{html}");
}

/// A form sent: the path, its fields, the field with the control character, and the
/// fields whose values the page keeps.
type Sent = (
    String,
    Vec<(&'static str, String)>,
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[tokio::test]
async fn a_nul_in_the_school_profile_a_class_and_a_chat_title_shows_the_form_with_the_message_and_stores_nothing()
 {
    let w = world().await;
    let admin = &w
        .people
        .iter()
        .find(|p| p.who == Who::Admin)
        .unwrap()
        .client;
    let school = w.school;
    let chat = w.chat;
    let digest = || async {
        let rows: Vec<String> = sqlx::query_scalar(
            "select concat_ws('|', (select string_agg(name || coalesce(short_name, ''), ',') from schools),
                                   (select count(*) from classes),
                                   (select string_agg(title, ',' order by id) from chats),
                                   (select count(*) from audit_log))",
        )
        .fetch_all(&w.app.db)
        .await
        .unwrap();
        rows
    };
    let before = digest().await;
    let sends: [Sent; 3] = [
        (
            format!("/s/{school}/profile"),
            vec![
                ("name", "Школа\0 № 7".into()),
                ("short_name", "Седьмая".into()),
                ("timezone", "Europe/Moscow".into()),
                ("inn", "6601234567".into()),
            ],
            "name",
            &[
                ("name", "Школа № 7"),
                ("short_name", "Седьмая"),
                ("inn", "6601234567"),
            ],
        ),
        (
            format!("/s/{school}/classes"),
            vec![
                ("grade", "7".into()),
                ("letter", "В\u{1}".into()),
                ("profile", "химико-биологический".into()),
            ],
            "letter",
            &[("letter", "В"), ("profile", "химико-биологический")],
        ),
        (
            format!("/s/{school}/chats/{chat}/edit"),
            vec![
                ("title", "Ученики\0 5А".into()),
                ("platform_url", "https://max.ru/chat/5a".into()),
            ],
            "title",
            &[
                ("title", "Ученики 5А"),
                ("platform_url", "https://max.ru/chat/5a"),
            ],
        ),
    ];
    for (path, fields, field, kept) in sends {
        let mut body: Vec<(&str, String)> = fields;
        body.push(("form_key", uuid::Uuid::now_v7().to_string()));
        let (res, log) =
            crate::helpers::log::logged(admin.post(w.app.url(&path)).form(&body).send()).await;
        let res = res.unwrap();
        let status = res.status().as_u16();
        assert!(status == 200 || status == 422, "{path}: {status}");
        let html = res.text().await.unwrap();
        assert!(
            error_of(&html, field).contains("Поле содержит недопустимые символы"),
            "{path}: the message next to «{field}»: {html}"
        );
        for (id, value) in kept {
            assert_eq!(&value_of(&html, id), value, "{path}: «{id}» kept");
        }
        assert!(!log.contains("ERROR"), "{path}: {log}");
    }
    assert_eq!(digest().await, before, "nothing stored");
}

#[tokio::test]
async fn a_nul_in_a_search_is_dropped_and_the_search_still_works() {
    let app = TestApp::spawn().await;
    let school = School::new(&app).admin("admin@test.local").build().await.id;
    let c = app.logged_in("admin@test.local").await;
    // «пет» with a NUL and a SOH: finds Петров; a search for «zzz» with them finds nobody.
    let res = app
        .get(
            &c,
            &format!("/s/{school}/people?q=%D0%BF%D0%B5%D1%82%00%01&page=%001"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let names = select_texts(&res.text().await.unwrap(), "main tbody td:first-child");
    assert!(names.iter().any(|n| n.contains("Петров")), "{names:?}");
    let res = app.get(&c, &format!("/s/{school}/people?q=zzz%00")).await;
    assert_eq!(res.status(), 200);
    let names = select_texts(&res.text().await.unwrap(), "main tbody td:first-child");
    assert!(!names.iter().any(|n| n.contains("Петров")), "{names:?}");
}
