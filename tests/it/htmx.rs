//! htmx (issue 14): pinned and served by the portal under an unchanged CSP; the inline
//! decisions (join requests, status confirmation) and the live people search answer a
//! request htmx sends (`HX-Request`) with a partial, and the same request without it with
//! the full page or redirect, so every form works without script. The browser journeys
//! show the row replaced and the results filtered without the page reloading.

use fantoccini::Locator;
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::school::SchoolFixture;
use crate::helpers::*;
use school_portal::ids::{ClassId, SchoolId};

const HTMX: &str = "/static/js/htmx-2.0.11.min.js";

struct World {
    app: TestApp,
    s: SchoolId,
    class: ClassId,
    f: SchoolFixture,
}

async fn world() -> World {
    world_with(|s| s).await
}

/// The world's school (5А and its administrator) with what `more` adds to it.
async fn world_with(more: impl for<'a> FnOnce(School<'a>) -> School<'a>) -> World {
    let app = TestApp::spawn().await;
    let f = more(School::new(&app).class("5А").admin("admin@test.local"))
        .build()
        .await;
    World {
        s: f.id,
        class: f.class("5А"),
        f,
        app,
    }
}

/// A newcomer with an account, in no school yet (see [`join_request`]).
fn newcomer<'a>(s: School<'a>, email: &str, surname: &str) -> School<'a> {
    s.account(email).called(surname, "Иван")
}

/// A pending join request of the [`newcomer`] named `email` to 5А; returns its id.
async fn join_request(w: &World, email: &str) -> Uuid {
    let admin_id = w.f.admin("admin@test.local");
    let newcomer = w.f.account(email);
    let invite = Uuid::now_v7();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by)
         values ($1, $2, $3, 'student', $4, 10, true, now() + interval '7 days', $5)",
    )
    .bind(w.s)
    .bind(invite)
    .bind(invite.as_bytes().to_vec())
    .bind(w.class)
    .bind(admin_id)
    .execute(&w.app.db)
    .await
    .unwrap();
    let request = Uuid::now_v7();
    sqlx::query(
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id)
         values ($1, $2, $3, $4, 'student', $5)",
    )
    .bind(w.s)
    .bind(request)
    .bind(invite)
    .bind(newcomer)
    .bind(w.class)
    .execute(&w.app.db)
    .await
    .unwrap();
    request
}

async fn hx_post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url(path))
        .header("HX-Request", "true")
        .form(form)
        .send()
        .await
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn htmx_is_pinned_served_by_the_portal_and_loaded_by_every_page_under_the_same_csp() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = app.get(&c, HTMX).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").unwrap().contains("javascript"));
    let js = res.text().await.unwrap();
    assert!(js.contains("version:\"2.0.11\""), "htmx 2.0.11");
    let res = app.get(&c, "/login").await;
    assert_eq!(
        header(&res, "content-security-policy").as_deref(),
        Some(
            "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
             form-action 'self'"
        ),
        "the CSP is unchanged: no inline script or style, nothing from elsewhere"
    );
    let html = res.text().await.unwrap();
    assert_eq!(select_attr(&html, "script[src]", "src"), vec![HTMX]);
    let config = select_attr(&html, "meta[name=htmx-config]", "content");
    let config: serde_json::Value = serde_json::from_str(&config[0]).unwrap();
    // The indicator styles would be an inline <style>, which the CSP refuses.
    assert_eq!(config["includeIndicatorStyles"], false);
    assert_eq!(config["allowEval"], false);
    // No page behind login is kept in the browser's storage.
    assert_eq!(config["historyCacheSize"], 0);
}

#[tokio::test]
async fn a_join_request_decided_by_htmx_answers_its_row_and_without_htmx_the_redirect() {
    let w = world_with(|s| {
        let s = newcomer(s, "first@test.local", "Первов");
        let s = newcomer(s, "second@test.local", "Вторников");
        newcomer(s, "third@test.local", "Третьяков")
    })
    .await;
    let (first, second, third) = (
        join_request(&w, "first@test.local").await,
        join_request(&w, "second@test.local").await,
        join_request(&w, "third@test.local").await,
    );
    let admin = w.app.logged_in("admin@test.local").await;
    let queue = format!("/s/{}/join-requests", w.s);
    let html = w.app.get(&admin, &queue).await.text().await.unwrap();
    assert_eq!(
        select_attr(&html, "form.request-approve", "hx-post"),
        select_attr(&html, "form.request-approve", "action"),
        "the inline button posts where the form without script does"
    );
    assert_eq!(
        select_attr(&html, "table.join-requests tbody tr", "id").len(),
        3
    );
    assert_eq!(
        select_texts(&html, "#requests-waiting"),
        ["Ждут решения: 3 заявки."]
    );

    // htmx: the row, with its id, saying what was decided; no page around it.
    let res = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{first}"),
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let row = res.text().await.unwrap();
    assert!(!row.contains("<html") && !row.contains("<main"), "{row}");
    assert_eq!(
        select_attr(&format!("<table>{row}</table>"), "tr.decided", "id"),
        vec![format!("request-{first}")]
    );
    assert!(row.contains("Заявка одобрена."), "{row}");
    // The queue's counter, out of band with the same id: one request fewer.
    assert_eq!(
        select_attr(&row, "#requests-waiting", "hx-swap-oob"),
        ["true"]
    );
    assert_eq!(
        select_texts(&row, "#requests-waiting"),
        ["Ждут решения: 2 заявки."]
    );
    let status: String = sqlx::query_scalar("select status from join_requests where id = $1")
        .bind(first)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(status, "approved");

    // The same decision without htmx: the redirect to the queue, which says it.
    let res = w
        .app
        .post(
            &admin,
            &format!("{queue}/{second}"),
            &[("decision", "reject"), ("reason", "не наш ученик")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        header(&res, "location").unwrap(),
        format!("{queue}?done=rejected")
    );
    let html = w.app.get(&admin, &queue).await.text().await.unwrap();
    assert_eq!(
        select_texts(&html, "#requests-waiting"),
        ["Ждут решения: 1 заявка."],
        "the page without script counts as before"
    );

    // An error asked by htmx: the whole page, whose <main> replaces the page's.
    let res = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{third}"),
        &[("decision", "reject"), ("reason", " ")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "hx-retarget").as_deref(), Some("#main"));
    assert_eq!(header(&res, "hx-reselect").as_deref(), Some("#main"));
    let page = res.text().await.unwrap();
    assert!(select_texts(&page, "main .error-box")[0].contains("Укажите причину отказа"));
    // Decided already (sent again): said on the page, not in the row.
    let res = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{first}"),
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(header(&res, "hx-retarget").as_deref(), Some("#main"));
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Эта заявка уже рассмотрена.")
    );
}

#[tokio::test]
async fn a_status_confirmed_by_htmx_answers_its_row_and_without_htmx_the_redirect() {
    // Two teachers whose status waits for confirmation.
    let w = world_with(|s| {
        s.teacher("one@test.local")
            .unverified()
            .teacher("two@test.local")
            .unverified()
    })
    .await;
    let one = w.f.member("one@test.local");
    let two = w.f.member("two@test.local");
    let admin = w.app.logged_in("admin@test.local").await;
    let queue = format!("/s/{}/verification", w.s);
    let html = w.app.get(&admin, &queue).await.text().await.unwrap();
    assert_eq!(
        select_attr(&html, "form.verification-confirm", "hx-post"),
        select_attr(&html, "form.verification-confirm", "action"),
    );

    let res = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{one}"),
        &[("decision", "verify")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let row = res.text().await.unwrap();
    assert!(!row.contains("<main"), "{row}");
    assert_eq!(
        select_attr(&format!("<table>{row}</table>"), "tr.decided", "id"),
        vec![format!("verification-{one}")]
    );
    assert!(row.contains("Статус подтверждён."), "{row}");
    // Sent again by htmx: the same row, nothing changes.
    let again = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{one}"),
        &[("decision", "verify")],
    )
    .await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("Статус подтверждён."));

    // A reason missing, asked by htmx: the page's <main> with the error.
    let res = hx_post(
        &w.app,
        &admin,
        &format!("{queue}/{two}"),
        &[("decision", "reject"), ("reason", "")],
    )
    .await;
    assert_eq!(header(&res, "hx-retarget").as_deref(), Some("#main"));
    assert!(res.text().await.unwrap().contains("Укажите причину отказа"));

    // Without htmx: the redirect, as before.
    let res = w
        .app
        .post(
            &admin,
            &format!("{queue}/{two}"),
            &[("decision", "reject"), ("reason", "не работает в школе")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        header(&res, "location").unwrap(),
        format!("{queue}?done=declined")
    );
    let states: Vec<String> = sqlx::query_scalar(
        "select verification from memberships where id = any($1) order by verification",
    )
    .bind(vec![one.0, two.0])
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(states, ["rejected", "verified"]);
}

#[tokio::test]
async fn the_people_search_asked_by_htmx_answers_the_results_only() {
    let w = world_with(|s| {
        s.account("sid@test.local")
            .called("Сидоров", "Пётр")
            .teacher("sid2@test.local")
            .called("Сидоренко", "Анна")
    })
    .await;
    let admin = w.app.logged_in("admin@test.local").await;
    let path = format!("/s/{}/people?q=сидор&role=&status=", w.s);

    let res = admin
        .get(w.app.url(&path))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let part = res.text().await.unwrap();
    assert!(
        part.trim_start().starts_with("<div id=\"people-results\">"),
        "{part}"
    );
    assert!(!part.contains("<html") && !part.contains("<form"), "{part}");
    assert_eq!(select_texts(&part, "tbody tr").len(), 1);
    assert!(part.contains("Сидоренко Анна"));
    assert!(select_texts(&part, "[role=status]")[0].contains("Найдено: 1 человек."));

    // Without htmx, and for htmx restoring history: the whole page with the same results.
    for restore in [false, true] {
        let mut req = admin.get(w.app.url(&path));
        if restore {
            req = req
                .header("HX-Request", "true")
                .header("HX-History-Restore-Request", "true");
        }
        let page = req.send().await.unwrap().text().await.unwrap();
        assert!(page.contains("<html"));
        assert_eq!(
            select_attr(&page, "form#people-search", "hx-get"),
            vec![format!("/s/{}/people", w.s)]
        );
        assert_eq!(select_texts(&page, "#people-results tbody tr").len(), 1);
    }
}

#[tokio::test]
async fn a_redirect_answering_htmx_is_a_full_navigation() {
    let w = world().await;
    let anon = w.app.client();
    let path = format!("/s/{}/people?q=а", w.s);
    let res = anon.get(w.app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let login = header(&res, "location").unwrap();
    assert!(login.starts_with("/login"), "{login}");
    // The same with htmx: not a login page inside the results, but the browser sent there.
    let res = anon
        .get(w.app.url(&path))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "hx-redirect"), Some(login));
    assert!(res.text().await.unwrap().is_empty());
}

/// Logs in through the login form.
async fn browser_login(browser: &Browser, app: &TestApp, login: &str) {
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("input[name=login]", login).await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap();
}

/// Marks the page's window: the mark is gone after a reload.
async fn mark_window(browser: &Browser) {
    browser
        .client
        .execute("window.__notReloaded = true; return true", vec![])
        .await
        .unwrap();
}

async fn window_marked(browser: &Browser) -> bool {
    browser
        .client
        .execute("return window.__notReloaded === true", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn an_administrator_approves_and_rejects_join_requests_inline_without_a_reload() {
    let w = world_with(|s| {
        let s = newcomer(s, "first@test.local", "Первов");
        newcomer(s, "second@test.local", "Вторников")
    })
    .await;
    let first = join_request(&w, "first@test.local").await;
    let second = join_request(&w, "second@test.local").await;
    let browser = Browser::start().await;
    browser_login(&browser, &w.app, "admin@test.local").await;
    let queue = w.app.url(&format!("/s/{}/join-requests", w.s));
    browser.client.goto(&queue).await.unwrap();
    // htmx is loaded and added no inline style (the CSP would refuse it).
    let loaded = browser
        .client
        .execute(
            "return [typeof htmx === 'object' && htmx.version, \
             document.querySelectorAll('style').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, serde_json::json!(["2.0.11", 0]));
    assert_eq!(
        browser.text("#requests-waiting").await,
        "Ждут решения: 2 заявки."
    );
    mark_window(&browser).await;

    browser
        .click(&format!("#request-{first} form.request-approve button"))
        .await;
    let row = browser.text(&format!("tr#request-{first}.decided")).await;
    assert!(row.contains("Заявка одобрена."), "{row}");
    assert_eq!(
        browser.text("#requests-waiting").await,
        "Ждут решения: 1 заявка."
    );
    browser
        .fill(&format!("#request-{second} input[name=reason]"), "не наш")
        .await;
    browser
        .click(&format!("#request-{second} form.request-reject button"))
        .await;
    let row = browser.text(&format!("tr#request-{second}.decided")).await;
    assert!(row.contains("Заявка отклонена."), "{row}");
    assert_eq!(
        browser.text("#requests-waiting").await,
        "Ждут решения: 0 заявок."
    );
    // The counter was swapped in place, not added to the table.
    let counters = browser
        .client
        .execute(
            "return [document.querySelectorAll('#requests-waiting').length, \
             document.querySelectorAll('table #requests-waiting').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(counters, serde_json::json!([1, 0]));

    assert!(window_marked(&browser).await, "the page did not reload");
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), queue);
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from join_requests where id = any($1) order by status")
            .bind(vec![first, second])
            .fetch_all(&w.app.db)
            .await
            .unwrap();
    assert_eq!(statuses, ["approved", "rejected"]);
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn the_people_list_filters_as_one_types_without_a_reload() {
    let w = world_with(|mut s| {
        for (email, surname) in [
            ("a@test.local", "Сидоренко"),
            ("b@test.local", "Сидоров"),
            ("c@test.local", "Кузнецова"),
        ] {
            s = s.teacher(email).called(surname, "Анна");
        }
        s
    })
    .await;
    let browser = Browser::start().await;
    browser_login(&browser, &w.app, "admin@test.local").await;
    browser
        .client
        .goto(&w.app.url(&format!("/s/{}/people", w.s)))
        .await
        .unwrap();
    let all = browser.text("#people-results [role=status]").await;
    assert!(all.contains("Найдено: 4 человека."), "{all}");
    mark_window(&browser).await;

    browser.fill("#q", "сидор").await;
    browser
        .client
        .wait()
        .for_element(Locator::XPath(
            "//div[@id='people-results']/p[contains(., 'Найдено: 2 человека.')]",
        ))
        .await
        .unwrap();
    let rows = browser.text("#people-results tbody").await;
    assert!(
        rows.contains("Сидоренко") && rows.contains("Сидоров"),
        "{rows}"
    );
    assert!(!rows.contains("Кузнецова"), "{rows}");
    assert!(window_marked(&browser).await, "the page did not reload");
    // The address says the search, so a reload or a shared link shows the same.
    let url = browser.client.current_url().await.unwrap();
    assert!(
        url.query_pairs().any(|(k, v)| k == "q" && v == "сидор"),
        "{url}"
    );
    browser.close().await;
}

/// A student of 5А of the world's school (or another).
fn student<'a>(s: School<'a>, surname: &str, given: &str) -> School<'a> {
    s.student("5А", &format!("{}@test.local", Uuid::new_v4()))
        .called(surname, given)
}

#[tokio::test]
async fn the_student_picker_asked_by_htmx_answers_the_results_only() {
    let w = world_with(|s| {
        let s = student(s, "Семёнов", "Артём");
        let s = student(s, "Семенова", "Анна");
        student(s, "Кузнецов", "Иван")
    })
    .await;
    // Another school's namesake is never offered.
    student(
        School::new(&w.app).named("Школа № 2").class("5А"),
        "Семёнов",
        "Пётр",
    )
    .build()
    .await;
    let admin = w.app.logged_in("admin@test.local").await;

    for action in ["leave", "transfer"] {
        let form = format!("/s/{}/movements/{action}", w.s);
        let path = format!("{form}?q=СЕМЕН&class=");
        let res = admin
            .get(w.app.url(&path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let part = res.text().await.unwrap();
        assert!(
            part.trim_start()
                .starts_with("<div id=\"student-results\">"),
            "{part}"
        );
        assert!(!part.contains("<html") && !part.contains("<form"), "{part}");
        // Case- and ё-insensitive, this school's students only.
        let mut names = select_texts(&part, ".student-results a");
        names.sort();
        assert_eq!(
            names,
            ["Семенова Анна Иванович", "Семёнов Артём Иванович"],
            "{part}"
        );
        assert!(
            !part.contains("Пётр") && !part.contains("Кузнецов"),
            "{part}"
        );
        // The live count, read out as one types.
        assert_eq!(
            select_texts(&part, "#student-results [role=status]"),
            ["Найдено 2 ученика"],
            "{part}"
        );
        for href in select_attr(&part, ".student-results a", "href") {
            assert!(href.starts_with(&format!("{form}?student=")), "{href}");
        }

        // Without htmx, and for htmx restoring history: the whole form page, narrowed the same.
        for restore in [false, true] {
            let mut req = admin.get(w.app.url(&path));
            if restore {
                req = req
                    .header("HX-Request", "true")
                    .header("HX-History-Restore-Request", "true");
            }
            let page = req.send().await.unwrap().text().await.unwrap();
            assert!(page.contains("<html"));
            assert_eq!(
                select_attr(&page, "form#student-search", "hx-get"),
                select_attr(&page, "form#student-search", "action"),
                "the live search asks where the form without script goes"
            );
            assert_eq!(
                select_attr(&page, "form#student-search", "hx-target"),
                ["#student-results"]
            );
            assert_eq!(
                select_texts(&page, "#student-results .student-results a").len(),
                2
            );
            let results = select_texts(&page, "#student-results").join(" ");
            assert!(!results.contains("Пётр"), "{results}");
            assert_eq!(
                select_texts(&page, "#student-results [role=status]"),
                ["Найдено 2 ученика"]
            );
        }
    }
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn the_student_picker_narrows_as_one_types_without_a_reload() {
    let w = world_with(|s| {
        let s = student(s, "Семёнов", "Артём");
        student(s, "Кузнецов", "Иван")
    })
    .await;
    student(
        School::new(&w.app).named("Школа № 2").class("5А"),
        "Семенова",
        "Вера",
    )
    .build()
    .await;
    let browser = Browser::start().await;
    browser_login(&browser, &w.app, "admin@test.local").await;
    let form = w.app.url(&format!("/s/{}/movements/transfer", w.s));
    browser.client.goto(&form).await.unwrap();
    mark_window(&browser).await;

    browser.fill("#q", "семен").await;
    browser
        .client
        .wait()
        .for_element(Locator::XPath(
            "//div[@id='student-results']//a[contains(., 'Семёнов Артём')]",
        ))
        .await
        .unwrap();
    let results = browser.text("#student-results").await;
    assert!(
        !results.contains("Кузнецов") && !results.contains("Вера"),
        "{results}"
    );
    assert!(window_marked(&browser).await, "the page did not reload");
    let url = browser.client.current_url().await.unwrap();
    assert!(
        url.query_pairs().any(|(k, v)| k == "q" && v == "семен"),
        "{url}"
    );
    // The student picked: the transfer form about them, as without script.
    browser.click("#student-results a").await;
    let card = browser.text(".student-card").await;
    assert!(card.contains("Семёнов Артём"), "{card}");
    browser.close().await;
}
