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

    // Every POST, every field holding a control character: refused at the edge in
    // Russian, nothing stored (not even an audit row: no handler ran).
    let before = counts(&w).await;
    for row in rows.iter().filter(|r| r.method == "POST") {
        let path = w.fill(row.path, None, None).unwrap();
        let client = client_for(&w, row);
        for control in CONTROLS {
            let values: Vec<(String, String)> = fields
                .iter()
                .map(|f| (f.clone(), format!("Текст{control}ещё")))
                .collect();
            let res = client
                .post(w.app.url(&path))
                .form(&values)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            if status != 400 || !body.contains("есть недопустимые символы") {
                failures.push(format!("POST {} with {control:?}: {status}", row.path));
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
        if status != 400 || !body.contains("есть недопустимые символы") {
            failures.push(format!("POST {} as multipart: {status}", row.path));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(counts(&w).await, before, "nothing stored");
}

#[tokio::test]
async fn a_nul_in_the_login_form_is_refused_in_russian_naming_the_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = app
        .post(&c, "/login", &[("login", "a\0b"), ("password", "x")])
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("В поле «Логин» есть недопустимые символы"),
        "{html}"
    );
    assert!(app.audit_actions().await.is_empty(), "nothing logged");
    // Tab, CR and LF are text: the login form answers as for any wrong login.
    let res = app
        .post(&c, "/login", &[("login", "a\tb\r\nc"), ("password", "x")])
        .await;
    assert_ne!(res.status(), 400);
    assert!(res.status().as_u16() < 500);
}

#[tokio::test]
async fn a_nul_in_a_search_is_dropped_and_the_search_still_works() {
    let app = TestApp::spawn().await;
    let school = app.school("Школа № 1").await;
    app.admin(school, "admin@test.local").await;
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
