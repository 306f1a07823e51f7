//! Accounts and sessions: SECURITY.md 1–9; R2.1.b (the administrator's own account),
//! R2.6.d / R2.7.c (a person keeps their profile secure: password, sessions).

use crate::helpers::*;
use school_portal::config::WebConfig;

#[tokio::test]
async fn login_by_email_or_phone_opens_a_session_r2_1_b() {
    let app = TestApp::spawn().await;
    let school = School::new(&app)
        .named("Школа № 5")
        .teacher("teacher@test.local")
        .phone("+79120000001")
        .build()
        .await
        .id;

    let c = app.client();
    let res = app.login(&c, "Teacher@Test.local", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let res = app.get(&c, "/").await;
    assert_eq!(location(&res), format!("/s/{school}"));

    let c2 = app.client();
    let res = app.login(&c2, "8 (912) 000-00-01", PASSWORD).await;
    assert_eq!(res.status(), 303, "login by phone");
    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "login").count(), 2);
}

#[tokio::test]
async fn session_cookie_has_its_flags() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let res = app.login(&app.client(), "a@test.local", PASSWORD).await;
    let cookies = set_cookies(res.headers());
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("portal_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(!cookie.contains("Secure"), "plain http development");

    let secure = TestApp::spawn_with(WebConfig {
        secure_cookies: true,
        ..WebConfig::default()
    })
    .await;
    secure.account("a@test.local", "Антонов", "Антон").await;
    let res = secure
        .login(&secure.client(), "a@test.local", PASSWORD)
        .await;
    let cookies = set_cookies(res.headers());
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portal_session="))
        .expect("__Host- prefixed cookie over https");
    assert!(cookie.contains("; Secure"));
    assert!(cookie.contains("HttpOnly"));
}

fn session_token(res: &reqwest::Response) -> String {
    set_cookies(res.headers())
        .iter()
        .find_map(|c| {
            c.strip_prefix("portal_session=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
        .expect("a session cookie")
}

#[tokio::test]
async fn session_id_changes_at_login_and_the_old_one_dies() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.client();
    let first = session_token(&app.login(&c, "a@test.local", PASSWORD).await);
    let second = session_token(&app.login(&c, "a@test.local", PASSWORD).await);
    assert_ne!(first, second);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(app.url("/profile"))
        .header("cookie", format!("portal_session={first}"))
        .send()
        .await
        .unwrap();
    assert_login_redirect(&res);
    let res = replay
        .get(app.url("/profile"))
        .header("cookie", format!("portal_session={second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn logout_is_a_post_and_the_old_cookie_is_dead() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.client();
    let token = session_token(&app.login(&c, "a@test.local", PASSWORD).await);
    // GET does not log out (state never changes on GET).
    let res = app.get(&c, "/logout").await;
    assert_eq!(res.status(), 405);
    let profile = app.get(&c, "/profile").await;
    assert_eq!(profile.status(), 200);
    // The new password's minimum length comes from the handler (the macro's `minlength`).
    let profile = profile.text().await.unwrap();
    assert_eq!(select_attr(&profile, "input#password", "minlength"), ["8"]);
    assert!(select_texts(&profile, "#password-hint")[0].contains("Не короче 8 символов"));

    let res = app.post(&c, "/logout", &[]).await;
    assert_eq!(res.status(), 303);
    let rows: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the server-side session is deleted");
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(app.url("/profile"))
        .header("cookie", format!("portal_session={token}"))
        .send()
        .await
        .unwrap();
    assert_login_redirect(&res);
}

/// A request marks its session seen when the mark is over a minute old, so activity keeps
/// it alive; a request that finds the row being marked by another one does not wait for
/// that one (the mark is best effort) and is answered at once, not with a 503 after the
/// lock timeout.
#[tokio::test]
async fn activity_keeps_a_session_alive_and_a_busy_mark_does_not_hold_a_request() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.logged_in("a@test.local").await;
    let age = || async {
        sqlx::query_scalar::<_, f64>(
            "select extract(epoch from now() - last_seen_at)::float8 from sessions",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    sqlx::query("update sessions set last_seen_at = now() - interval '20 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get(&c, "/profile").await.status(), 200);
    assert!(age().await < 60.0, "marked seen");

    sqlx::query("update sessions set last_seen_at = now() - interval '20 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    // Another request is marking it (its transaction holds the row).
    let mut other = app.db.begin().await.unwrap();
    sqlx::query("select id from sessions for update")
        .fetch_all(&mut *other)
        .await
        .unwrap();
    assert_eq!(app.get(&c, "/profile").await.status(), 200);
    other.rollback().await.unwrap();
    assert!(age().await > 60.0 * 19.0, "the busy mark was skipped");
    assert_eq!(app.get(&c, "/profile").await.status(), 200);
    assert!(age().await < 60.0, "the next request marks it");
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_a_session() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.logged_in("a@test.local").await;
    assert_eq!(app.get(&c, "/profile").await.status(), 200);
    // 31 minutes without a request (the default idle timeout is 30).
    sqlx::query("update sessions set last_seen_at = now() - interval '31 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_login_redirect(&app.get(&c, "/profile").await);

    let c = app.logged_in("a@test.local").await;
    // Login sets the absolute timeout itself: the session ends 12 hours (the default)
    // after it began.
    let lifetime: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from sessions
         where last_seen_at > now() - interval '1 minute'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let absolute = WebConfig::default().session_absolute().as_secs_f64();
    assert_eq!(absolute, 12.0 * 3600.0);
    assert!(
        (lifetime - absolute).abs() < 5.0,
        "login set a lifetime of {lifetime} s, not {absolute} s"
    );
    // Active all along, but logged in longer ago than that: the clock moves on by the
    // lifetime login set (both ends of the session shift; nothing else is touched).
    sqlx::query(
        "update sessions set created_at = created_at - (expires_at - created_at) - interval '1 second',
                             expires_at = expires_at - (expires_at - created_at) - interval '1 second',
                             last_seen_at = now()
         where last_seen_at > now() - interval '1 minute'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_login_redirect(&app.get(&c, "/profile").await);

    // The settings decide: an app with a 12-hour idle timeout keeps a 31-minute-idle session.
    let relaxed = TestApp::spawn_on(
        &app.db_url,
        WebConfig {
            session_idle_minutes: 12 * 60,
            ..WebConfig::default()
        },
    )
    .await;
    let c = relaxed.logged_in("a@test.local").await;
    sqlx::query(
        "update sessions set last_seen_at = now() - interval '31 minutes' where expires_at > now()",
    )
    .execute(&relaxed.db)
    .await
    .unwrap();
    assert_eq!(relaxed.get(&c, "/profile").await.status(), 200);
}

#[tokio::test]
async fn unknown_login_and_wrong_password_answer_alike() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let wrong = app
        .login(&app.client(), "a@test.local", "not the password")
        .await;
    let unknown = app
        .login(&app.client(), "nobody@test.local", "not the password")
        .await;
    assert_eq!(wrong.status(), 200);
    assert_eq!(unknown.status(), 200);
    let a = select_texts(&wrong.text().await.unwrap(), "[role=alert]");
    let b = select_texts(&unknown.text().await.unwrap(), "[role=alert]");
    assert_eq!(a, vec!["Неверный логин или пароль.".to_owned()]);
    assert_eq!(a, b);
    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "login.failed").count(), 2);
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_survive_a_restart() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.client();
    for _ in 0..4 {
        let res = app.login(&c, "a@test.local", "wrong password").await;
        let body = res.text().await.unwrap();
        assert!(body.contains("Неверный логин или пароль."));
    }
    let res = app.login(&c, "a@test.local", "wrong password").await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Слишком много неудачных попыток")
    );
    // Now even the right password is refused for a while.
    let res = app.login(&c, "a@test.local", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Слишком много неудачных попыток")
    );

    // A restarted process (same database) still refuses: the counter is in PostgreSQL.
    let restarted = TestApp::spawn_on(&app.db_url, WebConfig::default()).await;
    drop(app);
    let res = restarted
        .login(&restarted.client(), "a@test.local", PASSWORD)
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Слишком много неудачных попыток")
    );

    // When the lock has passed, the right password works and the counter is cleared.
    sqlx::query("update login_throttle set locked_until = now() - interval '1 second'")
        .execute(&restarted.db)
        .await
        .unwrap();
    let res = restarted
        .login(&restarted.client(), "a@test.local", PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    let left: i64 = sqlx::query_scalar("select count(*) from login_throttle")
        .fetch_one(&restarted.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn unknown_logins_are_locked_the_same_way() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for _ in 0..5 {
        app.login(&c, "ghost@test.local", "x").await;
    }
    let res = app.login(&c, "ghost@test.local", "x").await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Слишком много неудачных попыток")
    );
}

#[tokio::test]
async fn too_many_logins_from_one_address_get_429_with_retry_after() {
    let app = TestApp::spawn_with(WebConfig {
        login_per_ip_per_minute: 3,
        ..WebConfig::default()
    })
    .await;
    let c = app.client();
    for _ in 0..3 {
        assert_eq!(app.login(&c, "x@test.local", "x").await.status(), 200);
    }
    let res = app.login(&c, "x@test.local", "x").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn password_change_ends_every_other_session_r2_6_d() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let phone = app.logged_in("a@test.local").await;
    let laptop = app.logged_in("a@test.local").await;

    // Too short, and the fields keep nothing secret but say what is wrong.
    let res = app
        .post(
            &laptop,
            "/profile/password",
            &[
                ("current", PASSWORD),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Пароль должен быть не короче 8 символов."));

    let res = app
        .post(
            &laptop,
            "/profile/password",
            &[
                ("current", "wrong"),
                ("password", "a new long password"),
                ("password2", "a new long password"),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Текущий пароль указан неверно.")
    );

    let res = app
        .post(
            &laptop,
            "/profile/password",
            &[
                ("current", PASSWORD),
                ("password", "a new long password"),
                ("password2", "a new long password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    // The laptop got a new session and stays in; the phone's session is over.
    assert_eq!(app.get(&laptop, "/profile").await.status(), 200);
    assert_login_redirect(&app.get(&phone, "/profile").await);
    assert_eq!(
        app.login(&app.client(), "a@test.local", "a new long password")
            .await
            .status(),
        303
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"password.changed".to_owned())
    );
}

#[tokio::test]
async fn a_person_sees_their_sessions_and_ends_one_or_all_r2_7_c() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let other = app.account("b@test.local", "Борисов", "Борис").await;
    let phone = app.logged_in("a@test.local").await;
    let laptop = app.logged_in("a@test.local").await;
    let stranger = app.logged_in("b@test.local").await;

    let body = app.get(&laptop, "/profile").await.text().await.unwrap();
    let forms = select_attr(&body, "form[action$='/end']", "action");
    assert_eq!(forms.len(), 2, "two sessions listed: {forms:?}");
    assert_eq!(select_texts(&body, ".current-session").len(), 1);

    // Someone else's session id is not found, and stays alive.
    let theirs: uuid::Uuid = sqlx::query_scalar("select id from sessions where account_id = $1")
        .bind(other)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let res = app
        .post(&laptop, &format!("/profile/sessions/{theirs}/end"), &[])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.get(&stranger, "/profile").await.status(), 200);

    // End the phone's session from the laptop.
    let phone_form = forms
        .iter()
        .find(|f| !select_attr(&body, ".current-session form", "action").contains(f))
        .unwrap()
        .clone();
    let res = app.post(&laptop, &phone_form, &[]).await;
    assert_eq!(res.status(), 303);
    assert_login_redirect(&app.get(&phone, "/profile").await);
    assert_eq!(app.get(&laptop, "/profile").await.status(), 200);

    // «Выйти на всех устройствах».
    let again = app.logged_in("a@test.local").await;
    let res = app.post(&laptop, "/profile/sessions/end-all", &[]).await;
    assert_eq!(res.status(), 303);
    assert_login_redirect(&app.get(&laptop, "/profile").await);
    assert_login_redirect(&app.get(&again, "/profile").await);
    assert_eq!(app.get(&stranger, "/profile").await.status(), 200);
}

#[tokio::test]
async fn login_returns_to_the_page_asked_for_but_never_off_site() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.client();
    let res = app.get(&c, "/profile").await;
    assert_eq!(location(&res), "/login?next=/profile");
    let res = app
        .post(
            &c,
            "/login",
            &[
                ("login", "a@test.local"),
                ("password", PASSWORD),
                ("next", "/profile"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/profile");
    let res = app
        .post(
            &app.client(),
            "/login",
            &[
                ("login", "a@test.local"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn first_run_link_creates_the_operator_once_r2_2() {
    let app = TestApp::spawn().await;
    let link = school_portal::auth::first_run_link(&app.db, &app.base)
        .await
        .unwrap()
        .expect("a link on an empty database");
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    let c = app.client();
    let page = app.get(&c, &path).await;
    assert_eq!(page.status(), 200);

    // Errors are shown next to the fields, in Russian, and what was typed is kept.
    let res = app
        .post(
            &c,
            &path,
            &[
                ("surname", "Операторов"),
                ("given_name", ""),
                ("patronymic", ""),
                ("email", "op@region.local"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите имя."));
    assert!(body.contains("Пароль администратора должен быть не короче 15 символов."));
    assert_eq!(
        select_attr(&body, "input[name=surname]", "value"),
        vec!["Операторов"]
    );

    let form = [
        ("surname", "Операторов"),
        ("given_name", "Олег"),
        ("patronymic", ""),
        ("email", "op@region.local"),
        ("password", "a long operator password"),
        ("password2", "a long operator password"),
    ];
    let res = app.post(&c, &path, &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/operator/schools");
    assert_eq!(app.get(&c, "/operator/schools").await.status(), 200);

    // Used once; and with an operator present no new link is made.
    assert_eq!(app.get(&app.client(), &path).await.status(), 404);
    assert_eq!(app.post(&app.client(), &path, &form).await.status(), 404);
    assert!(
        school_portal::auth::first_run_link(&app.db, &app.base)
            .await
            .unwrap()
            .is_none()
    );
    // Only the hash of the token is stored.
    let token = path.rsplit('/').next().unwrap();
    let raw: i64 = sqlx::query_scalar("select count(*) from one_time_tokens where encode(token_hash, 'escape') like '%' || $1 || '%'")
        .bind(token)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(raw, 0);
}
