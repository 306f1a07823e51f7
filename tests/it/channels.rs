//! Channels and posts with review (issue 12; R2.1.m, R2.3.c): the whole round trip with its
//! history and the e-mails at a real SMTP server, a deputy who can never publish, the
//! platform's limits at submission, the due-post poller with two portal processes,
//! attachments served as downloads.

use school_portal::config::WebConfig;
use school_portal::ids::{AccountId, SchoolId};
use uuid::Uuid;

use crate::helpers::smtp::SmtpServer;
use crate::helpers::*;

struct World {
    app: TestApp,
    school: SchoolId,
    channel: Uuid,
    admin: reqwest::Client,
    deputy: reqwest::Client,
    deputy_id: AccountId,
}

async fn world() -> World {
    let app = TestApp::spawn_with(WebConfig::default()).await;
    let w = School::new(&app)
        .named("Школа № 7")
        .admin("admin@test.local")
        .deputy("deputy@test.local")
        .build()
        .await;
    let (school, deputy_id) = (w.id, w.account("deputy@test.local"));
    let admin = app.logged_in("admin@test.local").await;
    let deputy = app.logged_in("deputy@test.local").await;
    let res = app
        .post(
            &admin,
            &format!("/s/{school}/channels"),
            &[
                ("title", "Новости школы"),
                ("audience", "все"),
                ("address", "https://max.ru/school7"),
                ("submitters", "deputies"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let channel: Uuid = sqlx::query_scalar("select id from channels where school_id = $1")
        .bind(school)
        .fetch_one(&app.db)
        .await
        .unwrap();
    World {
        app,
        school,
        channel,
        admin,
        deputy,
        deputy_id,
    }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/s/{}{rest}", self.school)
    }

    async fn draft(&self, title: &str, body: &str) -> Uuid {
        let channel = self.channel.to_string();
        let res = self
            .app
            .post(
                &self.deputy,
                &self.path("/posts"),
                &[
                    ("channel", channel.as_str()),
                    ("title", title),
                    ("body", body),
                    ("submit", "no"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "draft saved");
        location(&res).rsplit('/').next().unwrap().parse().unwrap()
    }

    async fn state(&self, post: Uuid) -> String {
        sqlx::query_scalar("select state from posts where id = $1")
            .bind(post)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    async fn step(
        &self,
        who: &reqwest::Client,
        post: Uuid,
        step: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.app
            .post(who, &self.path(&format!("/posts/{post}/{step}")), form)
            .await
    }
}

/// Tomorrow at 12:00 school time, as the form's field.
fn tomorrow_noon() -> String {
    let d = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .to_offset(time::UtcOffset::from_hms(3, 0, 0).unwrap())
        .date();
    format!(
        "{:04}-{:02}-{:02}T12:00",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

#[tokio::test]
async fn r2_1_m_r2_3_c_a_deputys_post_is_submitted_returned_resubmitted_scheduled_and_published_with_history_and_emails()
 {
    let w = world().await;
    let smtp = SmtpServer::start().await;
    let post = w
        .draft("Собрание", "Собрание родителей в четверг.\nПриходите.")
        .await;
    assert_eq!(w.state(post).await, "draft");

    // A deputy's hand-made fields never publish: the edit ignores a state field, the
    // reviewer's steps answer 403.
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path(&format!("/posts/{post}/edit")),
            &[
                ("title", "Собрание"),
                ("body", "Собрание родителей в четверг.\nПриходите."),
                ("state", "published"),
                ("platform_url", "https://max.ru/x"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "draft");
    for step in ["publish", "schedule", "return", "decline", "withdraw"] {
        let res = w
            .step(
                &w.deputy,
                post,
                step,
                &[
                    ("platform_url", "https://max.ru/x"),
                    ("publish_at", &tomorrow_noon()),
                    ("reason", "сам"),
                ],
            )
            .await;
        assert_eq!(res.status(), 403, "a deputy cannot {step}");
    }
    assert_eq!(w.state(post).await, "draft");

    assert_eq!(w.step(&w.deputy, post, "submit", &[]).await.status(), 303);
    assert_eq!(w.state(post).await, "submitted");
    // The queue shows it with its waiting time.
    let queue = w
        .app
        .get(&w.admin, &w.path("/posts/review"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&queue, ".post-link"), vec!["Собрание"]);
    assert_eq!(select_texts(&queue, ".waited"), vec!["0 мин"]);
    // A return needs a reason.
    let res = w.step(&w.admin, post, "return", &[("reason", " ")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(w.state(post).await, "submitted");
    let res = w
        .step(
            &w.admin,
            post,
            "return",
            &[("reason", "Укажите время собрания")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "returned");
    // The deputy opens it with the reviewer's note on top, and on the start page.
    let page = w
        .app
        .get(&w.deputy, &w.path(&format!("/posts/{post}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&page, "#review-note")[0].contains("Укажите время собрания"));
    let home = w
        .app
        .get(&w.deputy, &w.path(""))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&home, "#post-notes")[0].contains("возвращён на доработку"));

    // Fixed and resubmitted in one go.
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path(&format!("/posts/{post}/edit")),
            &[
                ("title", "Собрание"),
                ("body", "Собрание родителей в четверг в 18:00.\nПриходите."),
                ("submit", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "submitted");
    let page = w
        .app
        .get(&w.admin, &w.path(&format!("/posts/{post}")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_texts(&page, ".changes ins"),
        vec!["Собрание родителей в четверг в 18:00."]
    );
    assert_eq!(
        select_texts(&page, ".changes del"),
        vec!["Собрание родителей в четверг."]
    );

    let at = tomorrow_noon();
    let res = w
        .step(&w.admin, post, "schedule", &[("publish_at", &at)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "scheduled");
    // The author can no longer change it.
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path(&format!("/posts/{post}/edit")),
            &[("title", "Другое"), ("body", "Другое")],
        )
        .await;
    assert_eq!(res.status(), 409);
    let res = w
        .step(&w.admin, post, "publish", &[("platform_url", "нет")])
        .await;
    assert_eq!(res.status(), 422);
    let res = w
        .step(
            &w.admin,
            post,
            "publish",
            &[("platform_url", "https://max.ru/school7/123")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "published");

    let history: Vec<(Option<String>, String, Option<String>)> = sqlx::query_as(
        "select from_state, to_state, reason from post_history where post_id = $1 order by at, id",
    )
    .bind(post)
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    let to: Vec<&str> = history.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(
        to,
        vec![
            "draft",
            "submitted",
            "returned",
            "submitted",
            "scheduled",
            "published"
        ]
    );
    assert_eq!(history[2].0.as_deref(), Some("submitted"));
    assert_eq!(history[2].2.as_deref(), Some("Укажите время собрания"));
    let rounds: i64 =
        sqlx::query_scalar("select count(*) from post_submissions where post_id = $1")
            .bind(post)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(rounds, 2);
    let audit = w.app.audit_actions().await;
    for a in [
        "post.created",
        "post.submitted",
        "post.returned",
        "post.scheduled",
        "post.published",
    ] {
        assert!(audit.iter().any(|x| x == a), "{a} in the audit log");
    }

    // The deputy is told of each outcome by e-mail; the administrator (the actor) never.
    let sent = school_portal::mail::send_due(&w.app.db, &smtp.config())
        .await
        .unwrap();
    assert_eq!(sent, 3);
    let mails = smtp.received();
    assert!(mails.iter().all(|m| m.to == vec!["<deputy@test.local>"]));
    let bodies: Vec<String> = mails.iter().map(|m| m.body_text()).collect();
    assert!(
        bodies[0].contains("вернул на доработку") && bodies[0].contains("Укажите время собрания")
    );
    assert!(bodies[1].contains("запланировал"));
    assert!(bodies[2].contains("опубликовал") && bodies[2].contains("https://max.ru/school7/123"));
    let _ = w.deputy_id;
}

#[tokio::test]
async fn r2_3_c_a_4001_character_post_is_refused_at_submission_with_a_russian_message_next_to_the_field()
 {
    let w = world().await;
    let long = "я".repeat(4001);
    let channel = w.channel.to_string();
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path("/posts"),
            &[
                ("channel", channel.as_str()),
                ("title", "Длинный"),
                ("body", long.as_str()),
                ("submit", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(select_texts(&page, "#body-error")[0].contains("4000 символов"));
    assert_eq!(
        select_texts(&page, "textarea#body")[0].chars().count(),
        4001,
        "the text is kept"
    );
    let none: i64 = sqlx::query_scalar("select count(*) from posts")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(none, 0);
    // As a draft it is kept, and refused when submitted; 4000 go.
    let post = w.draft("Длинный", &long).await;
    let res = w.step(&w.deputy, post, "submit", &[]).await;
    assert_eq!(res.status(), 422);
    assert!(select_texts(&res.text().await.unwrap(), "#body-error")[0].contains("4000"));
    assert_eq!(w.state(post).await, "draft");
    let ok = "я".repeat(4000);
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path(&format!("/posts/{post}/edit")),
            &[
                ("title", "Длинный"),
                ("body", ok.as_str()),
                ("submit", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "submitted");
}

#[tokio::test]
async fn r2_1_m_scheduling_needs_five_minutes_ahead_and_warns_about_quiet_hours() {
    let w = world().await;
    let post = w.draft("Ночная", "Текст").await;
    assert_eq!(w.step(&w.deputy, post, "submit", &[]).await.status(), 303);
    let soon = school_portal::broadcasts::recurrence::local_input(
        time::OffsetDateTime::now_utc() + time::Duration::minutes(2),
        "Europe/Moscow",
    );
    let res = w
        .step(&w.admin, post, "schedule", &[("publish_at", &soon)])
        .await;
    assert_eq!(res.status(), 422);
    assert!(select_texts(&res.text().await.unwrap(), "#publish_at-error")[0].contains("5 минут"));
    let night = tomorrow_noon().replace("T12:00", "T23:30");
    let res = w
        .step(&w.admin, post, "schedule", &[("publish_at", &night)])
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        select_texts(&res.text().await.unwrap(), "#publish_at-error")[0].contains("тихие часы")
    );
    assert_eq!(w.state(post).await, "submitted");
    let res = w
        .step(
            &w.admin,
            post,
            "schedule",
            &[("publish_at", &night), ("quiet_ok", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(w.state(post).await, "scheduled");
    // The author recalls only while nobody acted; now it is too late.
    let res = w.step(&w.deputy, post, "recall", &[]).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn r2_1_m_a_scheduled_post_becomes_due_exactly_once_with_two_portal_processes() {
    let w = world().await;
    let second = TestApp::spawn_on(&w.app.db_url, WebConfig::default()).await;
    let admin: Uuid =
        sqlx::query_scalar("select id from accounts where email = 'admin@test.local'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    for i in 0..30 {
        sqlx::query(
            "insert into posts (school_id, id, channel_id, author_id, title, body, state, publish_at)
             values ($1, $2, $3, $4, $5, 'Текст', 'scheduled', now() - interval '2 hours')",
        )
        .bind(w.school)
        .bind(Uuid::now_v7())
        .bind(w.channel)
        .bind(admin)
        .bind(format!("Публикация {i}"))
        .execute(&w.app.db)
        .await
        .unwrap();
    }
    // One not yet due.
    sqlx::query(
        "insert into posts (school_id, id, channel_id, author_id, title, body, state, publish_at)
         values ($1, $2, $3, $4, 'Завтра', 'Текст', 'scheduled', now() + interval '1 day')",
    )
    .bind(w.school)
    .bind(Uuid::now_v7())
    .bind(w.channel)
    .bind(admin)
    .execute(&w.app.db)
    .await
    .unwrap();
    use school_portal::channels::publish::{Manual, poll_once};
    let (a, b) = tokio::join!(
        poll_once(&w.app.db, &Manual, "http://portal"),
        poll_once(&second.db, &Manual, "http://portal")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.due + b.due,
        30,
        "every due post handled, by one process or the other"
    );
    let per_post: Vec<i64> = sqlx::query_scalar(
        "select count(h.id) from posts p left join post_history h on h.post_id = p.id and h.to_state = 'due'
         where p.title <> 'Завтра' group by p.id",
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(per_post.len(), 30);
    assert!(
        per_post.iter().all(|n| *n == 1),
        "each post due exactly once: {per_post:?}"
    );
    let reminders: i64 =
        sqlx::query_scalar("select count(*) from outbox where to_address = 'admin@test.local'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(reminders, 30);
    let overdue: i64 =
        sqlx::query_scalar("select count(*) from post_history where to_state = 'overdue'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(overdue, 30, "two hours late: overdue, once each");
    // Another pass of both finds nothing new; the state is still the administrator's to
    // change («Опубликовано вручную»), and the queue lists them as due.
    let (a, b) = tokio::join!(
        poll_once(&w.app.db, &Manual, "http://portal"),
        poll_once(&second.db, &Manual, "http://portal")
    );
    assert_eq!(a.unwrap().due + b.unwrap().due, 0);
    let scheduled: i64 = sqlx::query_scalar("select count(*) from posts where state = 'scheduled'")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(scheduled, 31);
    let queue = w
        .app
        .get(&w.admin, &w.path("/posts/review"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&queue, ".post-link").len(), 30);
}

#[tokio::test]
async fn r2_1_m_attachments_are_downloads_with_their_own_type_never_html_and_a_file_goes_alone() {
    let w = world().await;
    let post = w.draft("С файлом", "Текст").await;
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
        w.deputy
            .post(w.app.url(&w.path(&format!("/posts/{post}/attachments"))))
            .multipart(form)
            .send()
    };
    let res = upload(
        "page.html",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let file: Uuid = sqlx::query_scalar("select id from post_attachments where post_id = $1")
        .bind(post)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    let res = w
        .app
        .get(
            &w.admin,
            &w.path(&format!("/posts/{post}/attachments/{file}")),
        )
        .await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    // A second attachment beside a file: refused with the platform's rule.
    let res = upload("pic.png", b"\x89PNG\r\n\x1a\nxxxx".to_vec())
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("один файл"));
}

/// Waits (bounded, polling) until the element with `id` holds `needle`.
async fn wait_for_text(b: &crate::browser::Browser, id: &str, needle: &str) {
    let xpath = format!("//*[@id='{id}'][contains(., '{needle}')]");
    let found = b
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(15))
        .for_element(fantoccini::Locator::XPath(&xpath))
        .await;
    assert!(
        found.is_ok(),
        "#{id} never said «{needle}»: {}",
        b.text("main").await
    );
}

async fn browser_login(b: &crate::browser::Browser, app: &TestApp, login: &str, school: SchoolId) {
    b.client.goto(&app.url("/login")).await.unwrap();
    b.fill("input[name=login]", login).await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_for_url(&app.url(&format!("/s/{school}"))).await;
}

async fn browser_logout(b: &crate::browser::Browser, app: &TestApp) {
    b.click("form[action='/logout'] button").await;
    b.wait_for_url(&app.url("/login")).await;
}

/// The browser journey of issue 12: the deputy submits, the administrator returns it with
/// a reason, the deputy fixes and resubmits, the administrator schedules it.
#[tokio::test]
#[ignore = "needs chromedriver"]
async fn r2_3_c_r2_1_m_in_a_browser_the_deputy_submits_the_admin_returns_the_deputy_resubmits_the_admin_schedules()
 {
    let w = world().await;
    let b = crate::browser::Browser::start().await;
    browser_login(&b, &w.app, "deputy@test.local", w.school).await;
    b.client
        .goto(&w.app.url(&w.path("/posts/new")))
        .await
        .unwrap();
    b.client
        .execute(
            "document.getElementById('channel').value = arguments[0];",
            vec![serde_json::json!(w.channel.to_string())],
        )
        .await
        .unwrap();
    b.fill("#title", "Субботник").await;
    b.fill("#body", "В субботу субботник.").await;
    b.click("button[name=submit][value=yes]").await;
    wait_for_text(&b, "post-state", "на проверке").await;
    let post_url = b.client.current_url().await.unwrap().to_string();
    browser_logout(&b, &w.app).await;

    browser_login(&b, &w.app, "admin@test.local", w.school).await;
    b.client
        .goto(&w.app.url(&w.path("/posts/review")))
        .await
        .unwrap();
    b.click(".post-link").await;
    b.fill("#return-reason", "Укажите время и место сбора")
        .await;
    b.click("#return-form button[type=submit]").await;
    wait_for_text(&b, "post-state", "возвращён на доработку").await;
    browser_logout(&b, &w.app).await;

    browser_login(&b, &w.app, "deputy@test.local", w.school).await;
    b.client.goto(&post_url).await.unwrap();
    wait_for_text(&b, "review-note", "Укажите время и место сбора").await;
    b.fill(
        "#body",
        "В субботу в 10:00 субботник, сбор у главного входа.",
    )
    .await;
    b.click("#save-submit").await;
    wait_for_text(&b, "post-state", "на проверке").await;
    browser_logout(&b, &w.app).await;

    browser_login(&b, &w.app, "admin@test.local", w.school).await;
    b.client.goto(&post_url).await.unwrap();
    assert!(b.text(".changes").await.contains("сбор у главного входа"));
    b.client
        .execute(
            "document.getElementById('publish_at').value = arguments[0];",
            vec![serde_json::json!(tomorrow_noon())],
        )
        .await
        .unwrap();
    b.click("#schedule-form button[type=submit]").await;
    wait_for_text(&b, "post-state", "запланирован").await;
    b.close().await;
    let post: Uuid = post_url.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(w.state(post).await, "scheduled");
    let to: Vec<String> =
        sqlx::query_scalar("select to_state from post_history where post_id = $1 order by at, id")
            .bind(post)
            .fetch_all(&w.app.db)
            .await
            .unwrap();
    assert_eq!(
        to,
        vec!["draft", "submitted", "returned", "submitted", "scheduled"]
    );
}

#[tokio::test]
async fn r2_1_m_the_review_queue_is_a_badge_in_the_administrators_navigation() {
    let w = world().await;
    let nav_badge = |html: &str| select_texts(html, ".site-nav .badge");
    let home = w.path("");
    let page = w.app.get(&w.admin, &home).await.text().await.unwrap();
    assert!(nav_badge(&page).is_empty(), "nothing waits: no badge");
    let first = w.draft("Первая", "Текст").await;
    let second = w.draft("Вторая", "Текст").await;
    for post in [first, second] {
        assert_eq!(w.step(&w.deputy, post, "submit", &[]).await.status(), 303);
    }
    let page = w.app.get(&w.admin, &home).await.text().await.unwrap();
    let badge = nav_badge(&page);
    assert_eq!(badge.len(), 1);
    assert!(badge[0].ends_with('2'), "{badge:?}");
    // The badged item leads to the queue itself.
    let queue = format!("/s/{}/posts/review", w.school);
    assert!(page.contains(&format!("href=\"{queue}\"")));
    // The author has no queue and sees no badge.
    let deputys = w.app.get(&w.deputy, &home).await.text().await.unwrap();
    assert!(nav_badge(&deputys).is_empty());
    // Returning one takes it out of the count.
    let res = w
        .step(&w.admin, first, "return", &[("reason", "Уточните дату.")])
        .await;
    assert_eq!(res.status(), 303);
    let page = w.app.get(&w.admin, &home).await.text().await.unwrap();
    assert!(nav_badge(&page)[0].ends_with('1'));
}

#[tokio::test]
async fn r2_1_m_an_image_up_to_the_platforms_fifty_megabytes_is_attached_and_a_bigger_one_is_refused_next_to_the_field()
 {
    let w = world().await;
    let post = w.draft("С фотографией", "Текст").await;
    let png = |size: usize| {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(size, 0);
        bytes
    };
    let upload = |bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("photo.png"),
        );
        w.deputy
            .post(w.app.url(&w.path(&format!("/posts/{post}/attachments"))))
            .multipart(form)
            .send()
    };
    // 20 MB: far above the portal's general body limit (6 MB), within the platform's.
    let res = upload(png(20 * 1024 * 1024)).await.unwrap();
    assert_eq!(res.status(), 303);
    let size: i32 =
        sqlx::query_scalar("select size_bytes from post_attachments where post_id = $1")
            .bind(post)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(size, 20 * 1024 * 1024);
    // One byte over 50 MB: the platform would not take it; said next to the field.
    let res = upload(png(50 * 1024 * 1024 + 1)).await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        select_texts(&html, ".field-error")
            .iter()
            .any(|e| e.contains("больше 50 МБ")),
        "the message next to the field"
    );
    let count: i64 = sqlx::query_scalar("select count(*) from post_attachments where post_id = $1")
        .bind(post)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "nothing more stored");
    // Any other form keeps the general limit.
    let big = "а".repeat(7 * 1024 * 1024);
    let res = w
        .app
        .post(
            &w.deputy,
            &w.path("/posts"),
            &[("title", "Большая"), ("body", big.as_str())],
        )
        .await;
    assert_eq!(res.status(), 413);
}
