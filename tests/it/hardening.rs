//! Issue 8's findings of the web layer, each as it was found: login redirects off-site
//! (SECURITY.md 37), client request ids in pages and the audit log (39), denials with the
//! proxy's address, 400 for oversized uploads, 500 for huge page numbers, `%` in searches.

use school_portal::config::WebConfig;
use school_portal::ids::{AccountId, ClassId, SchoolId};

use crate::helpers::*;

/// «Школа № 1» and its administrator, to build or to add people to.
fn school_with_admin(app: &TestApp) -> School<'_> {
    School::new(app).admin("admin@test.local")
}

// ---- 1. safe redirects -----------------------------------------------------------------

#[tokio::test]
async fn a_login_next_that_leaves_the_portal_goes_to_the_start_page() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app).build().await.id;
    for next in [
        "/\t/evil.example",
        "/%09/evil.example",
        "/%2F/evil.example",
        "/%5C/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        " /evil",
        "/a\r\nSet-Cookie: x=1",
        "/a%0d%0aSet-Cookie: x=1",
    ] {
        let c = app.client();
        let res = app
            .post(
                &c,
                "/login",
                &[
                    ("login", "admin@test.local"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "next {next:?}");
        assert_eq!(location(&res), "/", "next {next:?}");
    }
    // A path of our own is kept.
    let c = app.client();
    let own = format!("/s/{school}/people?q=a");
    let res = app
        .post(
            &c,
            "/login",
            &[
                ("login", "admin@test.local"),
                ("password", PASSWORD),
                ("next", &own),
            ],
        )
        .await;
    assert_eq!(location(&res), own);
}

#[tokio::test]
async fn a_login_next_with_a_line_break_is_never_a_500() {
    let app = TestApp::spawn().await;
    school_with_admin(&app).build().await;
    // Anonymous: the login page, with a harmless next.
    let res = app
        .get(&app.client(), "/login?next=/a%0d%0aSet-Cookie:%20x=1")
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert_eq!(select_attr(&html, "input[name=next]", "value"), vec!["/"]);
    // Logged in: straight to the start page.
    let c = app.logged_in("admin@test.local").await;
    for q in ["/a%0d%0aSet-Cookie:%20x=1", "/%09/evil.example", "%0a"] {
        let res = app.get(&c, &format!("/login?next={q}")).await;
        assert_eq!(res.status(), 303, "next {q}");
        assert_eq!(location(&res), "/", "next {q}");
    }
}

// ---- 2. generated request ids -------------------------------------------------------------

#[tokio::test]
async fn a_clients_request_id_reaches_neither_the_page_nor_the_audit_log() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app)
        .member("pupil@test.local", "student")
        .build()
        .await
        .id;
    let c = app.logged_in("pupil@test.local").await;
    for path in [format!("/s/{school}/audit"), "/no-such-page".to_owned()] {
        let res = c
            .get(app.url(&path))
            .header("x-request-id", "<script>evil")
            .send()
            .await
            .unwrap();
        assert!([403, 404].contains(&res.status().as_u16()), "{path}");
        let id = res
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "generated id, got {id}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("evil"), "{path}: {html}");
        assert!(html.contains(&id), "the page shows the portal's id");
    }
    let ids: Vec<Option<String>> =
        sqlx::query_scalar("select request_id from audit_log where action = 'access.denied'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(!ids.is_empty());
    for id in ids {
        let id = id.expect("a denial carries the request id");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "audit row has {id}");
    }
}

// ---- 3. denials record the client --------------------------------------------------------

#[tokio::test]
async fn behind_a_trusted_proxy_a_denial_records_the_clients_address_and_the_proxys_id() {
    let app = TestApp::spawn_with(WebConfig {
        trust_proxy: true,
        ..WebConfig::default()
    })
    .await;
    let school = school_with_admin(&app)
        .member("pupil@test.local", "student")
        .build()
        .await
        .id;
    let c = app.logged_in("pupil@test.local").await;
    let res = c
        .get(app.url(&format!("/s/{school}/audit")))
        .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
        .header("x-request-id", "proxy-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (ip, id): (Option<String>, Option<String>) =
        sqlx::query_as("select ip, request_id from audit_log where action = 'access.denied'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(id.as_deref(), Some("proxy-id-42"));

    // Not trusted: the peer's address, whatever the header says.
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app)
        .member("pupil@test.local", "student")
        .build()
        .await
        .id;
    let c = app.logged_in("pupil@test.local").await;
    c.get(app.url(&format!("/s/{school}/audit")))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let ip: Option<String> =
        sqlx::query_scalar("select ip from audit_log where action = 'access.denied'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

// ---- 4. 413 for oversized uploads ---------------------------------------------------------

async fn upload_import(
    app: &TestApp,
    c: &reqwest::Client,
    school: SchoolId,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("big.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", "students")
        .part("file", part);
    c.post(app.url(&format!("/s/{school}/import")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_import_over_the_size_limit_answers_413_in_russian() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;
    for size in [5 * 1024 * 1024 + 700 * 1024, 7 * 1024 * 1024] {
        let res = upload_import(&app, &c, school, vec![b'a'; size]).await;
        assert_eq!(res.status(), 413, "{size} bytes");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Файл больше 5 МБ") || html.contains("Слишком большой запрос"),
            "{size}: {html}"
        );
    }
    // The file before the list's kind (as `curl -F file=@… -F kind=…` sends it): the kind
    // is never read, still 413, not 400.
    let part = reqwest::multipart::Part::bytes(vec![b'a'; 5 * 1024 * 1024 + 700 * 1024])
        .file_name("big.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("kind", "students");
    let res = c
        .post(app.url(&format!("/s/{school}/import")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("Файл больше 5 МБ"));
    let stored: i64 = sqlx::query_scalar("select count(*) from imports")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_oversized_regulation_pdf_answers_413_in_russian() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app).build().await.id;
    let c = app.logged_in("admin@test.local").await;
    for size in [1600 * 1024, 3 * 1024 * 1024] {
        let mut pdf = b"%PDF-1.4 ".to_vec();
        pdf.resize(size, b' ');
        let form = reqwest::multipart::Form::new()
            .text("edition", "редакция № 1")
            .text("order_number", "1-о")
            .text("order_date", "2026-09-01")
            .text("effective_from", "2026-09-01")
            .text("body", "")
            .part(
                "pdf",
                reqwest::multipart::Part::bytes(pdf).file_name("p.pdf"),
            );
        let res = c
            .post(app.url(&format!("/s/{school}/regulation")))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413, "{size} bytes");
        let html = res.text().await.unwrap();
        assert!(html.contains("Файл больше 1,5 МБ"), "{size}: {html}");
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from regulation_editions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

// ---- 5. lists and searches ----------------------------------------------------------------

#[tokio::test]
async fn any_page_number_on_any_list_is_a_page_not_a_500() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app).build().await.id;
    app.operator("op@test.local").await;
    let c = app.logged_in("admin@test.local").await;
    let op = app.logged_in("op@test.local").await;
    // An import to page through.
    let res = upload_import(
        &app,
        &c,
        school,
        "Класс;Фамилия;Имя\r\n5А;Петров;Пётр\r\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(res.status(), 303);
    let preview = location(&res);
    let lists = [
        format!("/s/{school}/people"),
        format!("/s/{school}/people?q=а"),
        format!("/s/{school}/chats"),
        format!("/s/{school}/invites"),
        format!("/s/{school}/join-requests"),
        preview,
    ];
    for list in &lists {
        assert_eq!(
            app.get(&c, list).await.status(),
            200,
            "{list} without a page"
        );
    }
    for page in [
        "999999999999999999",
        "99999999999999999999999",
        "-5",
        "abc",
        "",
    ] {
        for list in &lists {
            let sep = if list.contains('?') { '&' } else { '?' };
            let path = format!("{list}{sep}page={page}");
            let res = app.get(&c, &path).await;
            assert_eq!(res.status(), 200, "{path}");
        }
        let path = format!("/operator/schools?page={page}");
        assert_eq!(app.get(&op, &path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_percent_or_underscore_typed_into_a_search_matches_itself() {
    let app = TestApp::spawn().await;
    let school = school_with_admin(&app)
        .member("pupil@test.local", "student")
        .build()
        .await
        .id;
    let c = app.logged_in("admin@test.local").await;
    for q in ["%25", "_", "%25%25"] {
        let html = app
            .get(&c, &format!("/s/{school}/people?q={q}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            select_texts(&html, "tbody tr").is_empty(),
            "q={q}: {:?}",
            select_texts(&html, "tbody tr")
        );
        let html = app
            .get(&c, &format!("/s/{school}/audit?person={q}&target={q}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            select_texts(&html, "tbody tr").is_empty(),
            "audit q={q}: {:?}",
            select_texts(&html, "tbody tr")
        );
    }
    // A search still finds what it names.
    let html = app
        .get(&c, &format!("/s/{school}/people?q=петр"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!select_texts(&html, "tbody tr").is_empty());
}

// ---- 6. one definition of who holds which role ---------------------------------------------

async fn roles_in(app: &TestApp, school: SchoolId, account: AccountId) -> Vec<String> {
    sqlx::query_scalar(
        "select role from school_roles where school_id = $1 and account_id = $2 order by role",
    )
    .bind(school)
    .bind(account)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_roles_view_gives_each_kind_of_role_and_drops_ended_ones() {
    let app = TestApp::spawn().await;
    let mut w = School::new(&app)
        .class("5А")
        .class("6Б")
        .admin("admin@test.local")
        .admin("expired@test.local")
        .admin("revoked@test.local")
        .admin("pending@test.local")
        .class_teacher("5А", "ct@test.local")
        .teaches("ct@test.local", "Математика", "6Б")
        .deputy("it@test.local")
        .student("5А", "pupil@test.local")
        .build()
        .await;
    let mut other = School::new(&app).named("Школа № 2").build().await;
    let (school, class, class_b) = (w.id, w.class("5А"), w.class("6Б"));
    let op = app.operator("op@test.local").await;

    // A grant in force: admin (in this school only).
    let admin = w.admin("admin@test.local");
    assert_eq!(roles_in(&app, school, admin).await, ["admin", "staff"]);
    assert!(roles_in(&app, other.id, admin).await.is_empty());
    // Expired, revoked, not yet approved: no admin.
    for (email, condition) in [
        (
            "expired@test.local",
            "expires_at = now() - interval '1 minute'",
        ),
        (
            "revoked@test.local",
            "revoked_at = now(), revoked_by = granted_by",
        ),
        (
            "pending@test.local",
            "approved_at = null, approved_by = null",
        ),
    ] {
        let who = w.admin(email);
        sqlx::query(&format!(
            "update admin_grants set {condition} where account_id = $1"
        ))
        .bind(who)
        .execute(&app.db)
        .await
        .unwrap();
        assert_eq!(roles_in(&app, school, who).await, ["staff"], "{email}");
    }

    // Class leadership now: class teacher, with the class led; ended: neither.
    let (teacher, tm) = (w.account("ct@test.local"), w.member("ct@test.local"));
    assert_eq!(
        roles_in(&app, school, teacher).await,
        ["class_teacher", "teacher"]
    );
    let led: Vec<ClassId> = sqlx::query_scalar(
        "select class_id from led_classes where school_id = $1 and account_id = $2",
    )
    .bind(school)
    .bind(teacher)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(led, [class]);
    let taught: Vec<ClassId> = sqlx::query_scalar(
        "select class_id from taught_classes where school_id = $1 and account_id = $2",
    )
    .bind(school)
    .bind(teacher)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(taught, [class_b]);
    sqlx::query("update class_teacher_assignments set ended_at = now() where teacher_id = $1")
        .bind(tm)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(roles_in(&app, school, teacher).await, ["teacher"]);

    // The IT deputy flag.
    let (deputy, dm) = (w.account("it@test.local"), w.member("it@test.local"));
    sqlx::query("update memberships set is_it_deputy = true where id = $1")
        .bind(dm)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        roles_in(&app, school, deputy).await,
        ["deputy", "it_deputy"]
    );

    // A membership that ended, and a deactivated account: nothing.
    let (pupil, pm) = (w.account("pupil@test.local"), w.member("pupil@test.local"));
    assert_eq!(roles_in(&app, school, pupil).await, ["student"]);
    sqlx::query("update memberships set status = 'left', left_at = now() where id = $1")
        .bind(pm)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(roles_in(&app, school, pupil).await.is_empty());
    sqlx::query("update accounts set deactivated_at = now() where id = $1")
        .bind(deputy)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(roles_in(&app, school, deputy).await.is_empty());
    let _ = op;

    // The scope reads the same view: the expired admin is refused the audit log, the
    // admin in force is not; the school is not theirs at all once the membership ended.
    let c = app.logged_in("expired@test.local").await;
    assert_eq!(
        app.get(&c, &format!("/s/{school}/audit")).await.status(),
        403
    );
    let c = app.logged_in("admin@test.local").await;
    assert_eq!(
        app.get(&c, &format!("/s/{school}/audit")).await.status(),
        200
    );
    // The start page lists each school with the roles of the view.
    School::new(&app)
        .class_teacher("5А", "ct@test.local")
        .add_to(&mut w)
        .await;
    School::new(&app)
        .known("ct@test.local", teacher)
        .member("ct@test.local", "parent")
        .add_to(&mut other)
        .await;
    let c = app.logged_in("ct@test.local").await;
    let html = app.get(&c, "/").await.text().await.unwrap();
    assert_eq!(
        select_texts(&html, ".link-list li"),
        [
            "Школа № 1 классный руководитель, учитель",
            "Школа № 2 родитель (законный представитель)"
        ]
    );
    // A grant in force shows too; an expired one does not.
    let c = app.logged_in("admin@test.local").await;
    let res = app.get(&c, "/").await;
    assert_eq!(location(&res), format!("/s/{school}"));
}

// ---- 7. the janitor ----------------------------------------------------------------------

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.db).await.unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn the_janitor_deletes_what_outlived_its_use_keeps_what_lives_and_audits_counts() {
    let app = TestApp::spawn().await;
    let w = school_with_admin(&app)
        .class("5А")
        .student("5А", "alone@test.local")
        .student("5А", "elsewhere@test.local")
        .teacher("named@test.local")
        .student("5А", "recent@test.local")
        .build()
        .await;
    let elsewhere = w.account("elsewhere@test.local");
    School::new(&app)
        .named("Школа № 2")
        .known("elsewhere@test.local", elsewhere)
        .member("elsewhere@test.local", "parent")
        .build()
        .await;
    let (school, class, admin) = (w.id, w.class("5А"), w.admin("admin@test.local"));

    // Sessions: one expired, one idle too long, one live.
    for (name, expires, seen) in [
        (
            "expired",
            "now() - interval '1 minute'",
            "now() - interval '2 minutes'",
        ),
        (
            "idle",
            "now() + interval '1 hour'",
            "now() - interval '2 hours'",
        ),
        ("live", "now() + interval '1 hour'", "now()"),
    ] {
        sqlx::query(&format!(
            "insert into sessions (id, token_hash, account_id, security_stamp, expires_at, last_seen_at, user_agent)
             select gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), id, security_stamp, {expires}, {seen}, $2
             from accounts where id = $1"
        ))
        .bind(admin)
        .bind(name)
        .execute(&app.db)
        .await
        .unwrap();
    }
    // One-time tokens: used, expired, live.
    for (expires, used) in [
        ("now() + interval '1 hour'", "now()"),
        ("now() - interval '1 minute'", "null"),
        ("now() + interval '1 hour'", "null"),
    ] {
        exec(
            &app,
            &format!(
                "insert into one_time_tokens (token_hash, purpose, expires_at, used_at)
                 values (sha256(gen_random_uuid()::text::bytea), 'setup', {expires}, {used})"
            ),
        )
        .await;
    }
    // Invites: expired long ago, expired yesterday.
    for expires in ["now() - interval '100 days'", "now() - interval '1 day'"] {
        sqlx::query(&format!(
            "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval, expires_at, created_by, created_at)
             values ($1, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), 'student', $2, 30, true, {expires}, $3, {expires} - interval '7 days')"
        ))
        .bind(school)
        .bind(class)
        .bind(admin)
        .execute(&app.db)
        .await
        .unwrap();
    }
    // Throttle and rate-limit rows: past their window, and current.
    exec(&app, "insert into login_throttle (key, failures, last_failure_at) values ('login:old', 3, now() - interval '3 days'), ('login:new', 3, now())").await;
    exec(&app, "insert into rate_limits (key, window_start, hits) values ('ip:old', now() - interval '2 hours', 5), ('ip:new', now(), 5)").await;
    // Imports: never applied and two days old; never applied and fresh; applied long ago.
    for (created, applied) in [
        ("now() - interval '2 days'", "null"),
        ("now()", "null"),
        ("now() - interval '30 days'", "now() - interval '30 days'"),
    ] {
        sqlx::query(&format!(
            "insert into imports (school_id, id, kind, filename, content, created_at, applied_at)
             values ($1, gen_random_uuid(), 'students', 'a.csv', 'x', {created}, {applied})"
        ))
        .bind(school)
        .execute(&app.db)
        .await
        .unwrap();
    }
    // People who left: long ago and alone (deleted); long ago but a member of another
    // school (membership goes, account stays); long ago and named by the audit log
    // (erased); recently (stays).
    let person = |email| (w.account(email), w.member(email));
    let (alone, alone_m) = person("alone@test.local");
    let (elsewhere, elsewhere_m) = person("elsewhere@test.local");
    let (named, named_m) = person("named@test.local");
    app.logged_in("named@test.local").await;
    let (recent, recent_m) = person("recent@test.local");
    for (m, ago) in [
        (alone_m, "4 years"),
        (elsewhere_m, "4 years"),
        (named_m, "4 years"),
        (recent_m, "10 days"),
    ] {
        sqlx::query(&format!(
            "update memberships set status = 'left', left_at = now() - interval '{ago}' where id = $1"
        ))
        .bind(m)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let live_sessions_of_named = count(
        &app,
        &format!("select count(*) from sessions where account_id = '{named}'"),
    )
    .await;
    assert_eq!(live_sessions_of_named, 1);

    let report = school_portal::janitor::run_once(&app.db, &app.state.config)
        .await
        .unwrap();
    assert!(!report.skipped);
    assert_eq!(report.sessions, 2, "{report:?}");
    assert_eq!(report.tokens, 2, "{report:?}");
    assert_eq!(report.invites, 1, "{report:?}");
    assert_eq!(report.throttle, 1, "{report:?}");
    assert_eq!(report.rate_limits, 1, "{report:?}");
    assert_eq!(report.imports, 1, "{report:?}");
    assert_eq!(report.memberships, 3, "{report:?}");
    assert_eq!(report.accounts_deleted, 1, "{report:?}");
    assert_eq!(report.accounts_erased, 1, "{report:?}");

    // What lives stays.
    let users: Vec<String> =
        sqlx::query_scalar("select user_agent from sessions where account_id = $1")
            .bind(admin)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(users, ["live"]);
    assert_eq!(count(&app, "select count(*) from one_time_tokens").await, 1);
    assert_eq!(count(&app, "select count(*) from invites").await, 1);
    assert_eq!(
        count(
            &app,
            "select count(*) from login_throttle where key = 'login:new'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "select count(*) from login_throttle").await, 1);
    assert_eq!(
        count(
            &app,
            "select count(*) from rate_limits where key like 'ip:%'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from rate_limits where key = 'ip:new'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "select count(*) from imports").await, 2);
    // The people.
    let account_exists = |id: AccountId| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, bool>("select exists(select 1 from accounts where id = $1)")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert!(!account_exists(alone).await);
    assert!(account_exists(elsewhere).await);
    assert_eq!(
        count(
            &app,
            &format!("select count(*) from memberships where account_id = '{elsewhere}'")
        )
        .await,
        1,
        "only the other school's membership"
    );
    let (email, surname, deactivated): (Option<String>, String, bool) = sqlx::query_as(
        "select email, surname, deactivated_at is not null from accounts where id = $1",
    )
    .bind(named)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (email, surname.as_str(), deactivated),
        (None, "Удалён", true)
    );
    assert_eq!(
        count(
            &app,
            &format!("select count(*) from sessions where account_id = '{named}'")
        )
        .await,
        0
    );
    assert!(account_exists(recent).await);
    assert_eq!(
        count(
            &app,
            &format!("select count(*) from memberships where id = '{recent_m}'")
        )
        .await,
        1
    );
    // The operator is never removed, the admin neither.
    assert!(account_exists(admin).await);

    // Audited as counts.
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "select action, details from audit_log where action like 'janitor.%' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let get = |a: &str| {
        rows.iter()
            .find(|(x, _)| x == a)
            .and_then(|(_, d)| d.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("janitor.sessions"), "удалено сеансов: 2");
    assert_eq!(get("janitor.tokens"), "удалено одноразовых ссылок: 2");
    assert_eq!(get("janitor.imports"), "удалено неприменённых импортов: 1");
    assert!(
        get("janitor.people").starts_with("участий в школе: 3;"),
        "{rows:?}"
    );

    // A second run finds nothing more and writes nothing.
    let again = school_portal::janitor::run_once(&app.db, &app.state.config)
        .await
        .unwrap();
    assert_eq!(
        again,
        school_portal::janitor::Report {
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn two_janitors_at_once_do_not_both_run() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin().await.unwrap();
    // Another process's run holds the lock.
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(school_portal::janitor::LOCK_KEY)
        .execute(&mut *tx)
        .await
        .unwrap();
    let report = school_portal::janitor::run_once(&app.db, &app.state.config)
        .await
        .unwrap();
    assert!(report.skipped);
    tx.rollback().await.unwrap();
    let report = school_portal::janitor::run_once(&app.db, &app.state.config)
        .await
        .unwrap();
    assert!(!report.skipped);
}
