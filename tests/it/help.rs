//! Issue 13: helping people — password recovery by e-mail, the administrator's card
//! actions, help pages, support contacts and requests, the registration application.

use crate::helpers::smtp::SmtpServer;
use crate::helpers::*;

/// The `/password/{token}` link in a delivered message.
fn link_in(body: &str) -> String {
    let start = body.find("/password/").expect("a password link in the mail");
    body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn outbox_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from outbox")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A parent of 5А with a password and a live session.
async fn parent_world() -> (TestApp, school_portal::ids::SchoolId, reqwest::Client) {
    let app = TestApp::spawn().await;
    let school = app.school("МБОУ СОШ № 3").await;
    let five_a = app.class(school, 5, "А").await;
    let (_, kid) = app.person(school, "kid@test.local", "student", Some(five_a)).await;
    let (_, parent) = app.person(school, "mama@test.local", "parent", None).await;
    sqlx::query("insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)")
        .bind(school)
        .bind(parent)
        .bind(kid)
        .execute(&app.db)
        .await
        .unwrap();
    let old = app.logged_in("mama@test.local").await;
    (app, school, old)
}

#[tokio::test]
async fn a_parent_resets_her_password_by_email_and_the_old_session_dies() {
    let smtp = SmtpServer::start().await;
    let (app, school, old) = parent_world().await;
    assert_eq!(app.get(&old, &format!("/s/{school}")).await.status(), 200);

    let login = app.get(&app.client(), "/login").await.text().await.unwrap();
    assert_eq!(select_attr(&login, "#forgot-link", "href"), vec!["/forgot"]);

    let anon = app.client();
    let known = app
        .post(&anon, "/forgot", &[("login", "Mama@Test.local")])
        .await;
    assert_eq!(known.status(), 200);
    let known = known.text().await.unwrap();
    let unknown = app
        .post(&app.client(), "/forgot", &[("login", "nobody@test.local")])
        .await
        .text()
        .await
        .unwrap();
    // The same answer whether the contact exists or not.
    assert_eq!(select_texts(&known, "main"), select_texts(&unknown, "main"));
    assert!(select_texts(&known, "#reset-sent")[0].contains("отправили"));
    assert_eq!(outbox_count(&app).await, 1, "no mail for the unknown address");

    // A double submit sends nothing more.
    app.post(&anon, "/forgot", &[("login", "mama@test.local")])
        .await;
    assert_eq!(outbox_count(&app).await, 1);

    assert_eq!(
        school_portal::mail::send_due(&app.db, &smtp.config())
            .await
            .unwrap(),
        1
    );
    let mail = smtp.received().pop().unwrap();
    assert_eq!(mail.to, vec!["<mama@test.local>"]);
    let body = mail.body_text();
    let link = link_in(&body);
    let token = link.rsplit('/').next().unwrap().to_owned();
    // Only the hash is kept, with a short life.
    let minutes: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 / 60 from one_time_tokens
         where token_hash = $1 and purpose = 'reset_password'",
    )
    .bind(school_portal::auth::session::token_hash(&token))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((29.0..=31.0).contains(&minutes), "{minutes}");

    let browser = app.client();
    assert_eq!(app.get(&browser, &link).await.status(), 200);
    let short = app
        .post(&browser, &link, &[("password", "short"), ("password2", "short")])
        .await;
    assert_eq!(short.status(), 200, "a short password is refused on the page");
    let new_password = "a new long family password";
    let res = app
        .post(
            &browser,
            &link,
            &[("password", new_password), ("password2", new_password)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    assert_eq!(app.get(&browser, "/").await.status(), 303, "logged in: to the school");

    // The old session is dead, the old password too; the link works once only.
    assert_login_redirect(&app.get(&old, &format!("/s/{school}")).await);
    assert_eq!(
        app.login(&app.client(), "mama@test.local", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login(&app.client(), "mama@test.local", new_password)
            .await
            .status(),
        303
    );
    assert_eq!(app.get(&app.client(), &link).await.status(), 404);
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"password.reset_requested".to_owned()));
    assert!(actions.contains(&"password.set_by_link".to_owned()));
}

#[tokio::test]
async fn a_recovery_link_expires_and_a_phone_gets_the_same_answer_without_mail() {
    let (app, _, _) = parent_world().await;
    let anon = app.client();
    let phone = app
        .post(&anon, "/forgot", &[("login", "+7 900 123-45-67")])
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&phone, "main")[0].contains("администратору"));
    assert_eq!(outbox_count(&app).await, 0);
    let empty = app.post(&anon, "/forgot", &[("login", "  ")]).await;
    assert_eq!(empty.status(), 200);
    assert!(!select_texts(&empty.text().await.unwrap(), ".field-error").is_empty());

    app.post(&anon, "/forgot", &[("login", "mama@test.local")])
        .await;
    let body: String = sqlx::query_scalar("select body from outbox")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let link = link_in(&body);
    sqlx::query("update one_time_tokens set expires_at = now() - interval '1 second' where purpose = 'reset_password'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get(&anon, &link).await.status(), 404, "expired");
}

#[tokio::test]
async fn password_recovery_is_rate_limited_per_address_and_per_ip() {
    let (app, _, _) = parent_world().await;
    let anon = app.client();
    for _ in 0..3 {
        let res = app
            .post(&anon, "/forgot", &[("login", "nobody@test.local")])
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post(&anon, "/forgot", &[("login", "nobody@test.local")])
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    // Another address from the same IP: its fifth request passes, the sixth meets the
    // per-IP limit (5 a minute).
    let res = app
        .post(&anon, "/forgot", &[("login", "other@test.local")])
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(&anon, "/forgot", &[("login", "other@test.local")])
        .await;
    assert_eq!(res.status(), 429);
}

/// Forgot password → mail → new password → start page, in a phone-sized browser window.
#[tokio::test]
async fn a_parent_recovers_her_password_on_a_phone() {
    let smtp = SmtpServer::start().await;
    let (app, school, _) = parent_world().await;
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.click("#forgot-link").await;
    browser.wait_for_url(&app.url("/forgot")).await;
    browser.fill("input[name=login]", "mama@test.local").await;
    browser.click("form[action='/forgot'] button[type=submit]").await;
    assert!(browser.text("#reset-sent").await.contains("отправили"));
    let width: i64 = browser
        .client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(width <= 390, "no sideways scrolling on a phone: {width}");

    school_portal::mail::send_due(&app.db, &smtp.config())
        .await
        .unwrap();
    let link = link_in(&smtp.received().pop().unwrap().body_text());
    browser.client.goto(&app.url(&link)).await.unwrap();
    browser.fill("#password", "a new long family password").await;
    browser.fill("#password2", "a new long family password").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_url(&app.url(&format!("/s/{school}"))).await;
    assert!(browser.text("header").await.contains("МБОУ СОШ № 3"));
    browser.close().await;
}
