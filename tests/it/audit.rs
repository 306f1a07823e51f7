//! The audit log as people read it (SECURITY.md 26, issue 14): Russian action titles,
//! people and objects by name, the school's members' logins (ok and failed) and denials,
//! a filter by action from a list, and the filtered log as a CSV file.

use crate::helpers::*;
use school_portal::ids::SchoolId;

struct World {
    app: TestApp,
    s: SchoolId,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let s = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .called("Админова", "Анна")
        .director("director@test.local")
        .teacher("teacher@test.local")
        .called("Учителева", "Ульяна")
        .build()
        .await
        .id;
    School::new(&app)
        .named("Школа № 2")
        .admin("other@test.local")
        .called("Чужаков", "Чеслав")
        .build()
        .await;
    World { app, s }
}

async fn log_page(w: &World, client: &reqwest::Client, query: &str) -> String {
    let res = w
        .app
        .get(client, &format!("/s/{}/audit?{query}", w.s))
        .await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn the_log_reads_in_russian_with_names_logins_and_denials() {
    let w = world().await;
    let app = &w.app;
    // A failed login, then a login, then a refused page.
    let teacher = app.client();
    assert_eq!(
        app.login(&teacher, "teacher@test.local", "wrong password")
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
    // Another school's administrator logs in: not this school's business.
    app.logged_in("other@test.local").await;
    let admin = app.logged_in("admin@test.local").await;
    assert_eq!(
        app.post(
            &admin,
            &format!("/s/{}/subjects", w.s),
            &[("name", "Физика"), ("kind", "subject")],
        )
        .await
        .status(),
        303
    );

    let page = log_page(&w, &admin, "").await;
    let rows = select_texts(&page, "main tbody tr");
    let has = |words: &[&str]| rows.iter().any(|r| words.iter().all(|w| r.contains(w)));
    assert!(has(&["Неудачный вход", "Учителева Ульяна"]), "{rows:#?}");
    assert!(has(&["Вход", "Учителева Ульяна"]), "{rows:#?}");
    assert!(
        has(&["Отказ в доступе", "Учителева Ульяна", "нет права в школе"]),
        "{rows:#?}"
    );
    assert!(
        has(&["Предмет добавлен", "Админова Анна", "предмет «Физика»"]),
        "{rows:#?}"
    );
    assert!(
        !page.contains("Чужаков"),
        "another school's login is not here"
    );
    // No codes and no raw ids.
    for r in &rows {
        for raw in ["subject.", "login", "access.", "subject:", "account:"] {
            assert!(!r.contains(raw), "{raw} in {r}");
        }
    }
    // Denial rows carry the client's address like every other row.
    let ips: Vec<Option<String>> = sqlx::query_scalar(
        "select distinct ip from audit_log where action in ('login', 'access.denied')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ips.len(), 1, "{ips:?}");
    assert!(ips[0].as_deref().is_some_and(|ip| !ip.is_empty()));
}

#[tokio::test]
async fn the_action_filter_is_a_list_of_titles_and_the_csv_follows_it() {
    let w = world().await;
    let app = &w.app;
    let admin = app.logged_in("admin@test.local").await;
    for name in ["=1+2", "Химия"] {
        app.post(
            &admin,
            &format!("/s/{}/subjects", w.s),
            &[("name", name), ("kind", "subject")],
        )
        .await;
    }
    let page = log_page(&w, &admin, "").await;
    let options = select_texts(&page, "select#action option");
    assert!(options.len() > 50, "{options:?}");
    assert!(options.iter().any(|o| o == "Предмет добавлен"));
    assert!(options.iter().all(|o| !o.contains('.')), "{options:?}");
    // «Вход» is logins only, not failed ones.
    let anon = app.client();
    app.login(&anon, "admin@test.local", "wrong password").await;
    let page = log_page(&w, &admin, "action=login").await;
    let rows = select_texts(&page, "main tbody tr");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.contains("Вход") && !r.contains("Неудачный"))
    );
    let selected = select_texts(&page, "select#action option[selected]");
    assert_eq!(selected, ["Вход"]);
    let csv_href = select_attr(&page, "a[href*='audit.csv']", "href");
    assert_eq!(
        csv_href,
        [format!(
            "/s/{}/audit.csv?person=&action=login&target=&from=&to=",
            w.s
        )]
    );

    // The CSV of a filter: the spreadsheet settings, titles, names, the formula guard.
    let res = app
        .get(
            &admin,
            &format!("/s/{}/audit.csv?action=subject.created", w.s),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-")
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "\u{feff}Когда;Кто;Действие;Объект;Подробности;IP;Код запроса"
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[1].contains("Предмет добавлен") && lines[1].contains("предмет «Химия»"));
    // The name as the details cell, guarded.
    assert!(lines[2].contains(";'=1+2;"), "{}", lines[2]);
    assert!(
        lines.iter().all(|l| !l.contains(";=")),
        "no cell starts a formula"
    );
    let exported: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'export.audit'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(exported, 1);

    // The same rights as the page.
    let teacher = app.logged_in("teacher@test.local").await;
    assert_eq!(
        app.get(&teacher, &format!("/s/{}/audit.csv", w.s))
            .await
            .status(),
        403
    );
    let other = app.logged_in("other@test.local").await;
    assert_eq!(
        app.get(&other, &format!("/s/{}/audit.csv", w.s))
            .await
            .status(),
        404
    );
}

/// Rows written before the log was made readable hold English details; they read in
/// Russian on the page (and in the CSV, which is built from the same rows).
#[tokio::test]
async fn old_english_details_read_in_russian() {
    let w = world().await;
    sqlx::query(
        "insert into audit_log (school_id, action, target, details) \
         values ($1, 'invite.slips_created', null, '23 slips; 30 days'), \
                ($1, 'invite.deactivated_unused', null, 'unused for 21 days: 4 revoked')",
    )
    .bind(w.s)
    .execute(&w.app.db)
    .await
    .unwrap();
    let admin = w.app.logged_in("admin@test.local").await;
    let page = log_page(&w, &admin, "").await;
    let rows = select_texts(&page, "main tbody tr").join("\n");
    assert!(rows.contains("листков: 23; дней: 30"), "{rows}");
    assert!(
        rows.contains("не использовались 21 день: отозвано 4"),
        "{rows}"
    );
    assert!(!rows.contains("slips"), "{rows}");
    assert!(!rows.contains("revoked"), "{rows}");
}
