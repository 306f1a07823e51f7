//! Issue 14, "What it must show": every page fits a phone. Headless Chromium at 360×780
//! logs in as each demo role and walks every page the navigation reaches and the pages
//! those reach (a class, a chat, a person, an invite…), one address of each kind; on each
//! the page does not pan sideways (`scrollWidth <= innerWidth`) and its heading is on the
//! first screen. The same addresses at 1366 px: no table is clipped inside its box.

use std::collections::{BTreeSet, VecDeque};

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Browser;
use crate::helpers::*;

const DEMO_PASSWORD: &str = "demo password 123";

pub const DEMO_LOGINS: [&str; 7] = [
    "operator@demo.local",
    "admin@demo.local",
    "director@demo.local",
    "deputy@demo.local",
    "teacher@demo.local",
    "student@demo.local",
    "parent@demo.local",
];

/// An address's kind: the path with its ids and tokens replaced, no query.
fn kind_of(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let id_like = seg.len() >= 16
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if id_like { "{}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Addresses that are files or feeds, not pages.
fn is_page(path: &str) -> bool {
    let files = [
        ".csv",
        ".xlsx",
        "/pdf",
        "/ics",
        "/template/",
        "/attachments/",
        "/calendar/",
        "/static/",
    ];
    !files.iter().any(|f| path.contains(f))
        && path != "/my-data"
        && !path.starts_with("/join/")
        && !path.starts_with("/j/")
}

/// Logs in through the login form (the window's size stays as it is).
pub async fn log_in(browser: &Browser, app: &TestApp, login: &str, password: &str) {
    browser.client.delete_all_cookies().await.unwrap();
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("input[name=login]", login).await;
    browser.fill("input[name=password]", password).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap_or_else(|_| panic!("{login} did not get logged in"));
}

const MEASURE: &str = r#"
const h = document.querySelector('main h1') || document.querySelector('h1');
const r = h ? h.getBoundingClientRect() : null;
const iw = window.innerWidth;
const wide = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > iw + 1 && !e.closest('.table-wrap, .menu-panel'))
  .slice(0, 4)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' (' +
       Math.round(e.getBoundingClientRect().right) + '): ' + (e.textContent || '').trim().slice(0, 50));
const clipped = [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => (w.querySelector('table') || w).className || 'table');
const links = [...document.querySelectorAll('a[href]')]
  .filter(a => !a.hasAttribute('download'))
  .map(a => a.href);
return {
  sw: document.documentElement.scrollWidth, iw: iw, ih: window.innerHeight,
  heading: r ? r.bottom + window.scrollY : -1, title: document.title,
  wide: wide, clipped: clipped, links: links
};
"#;

struct Seen {
    url: String,
    title: String,
    sw: i64,
    iw: i64,
    ih: i64,
    heading: f64,
    wide: Vec<String>,
    clipped: Vec<String>,
    links: Vec<String>,
}

async fn measure(browser: &Browser, url: &str) -> Seen {
    browser.client.goto(url).await.unwrap();
    let v = browser.client.execute(MEASURE, vec![]).await.unwrap();
    let strings = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Seen {
        url: url.to_owned(),
        title: v["title"].as_str().unwrap_or_default().to_owned(),
        sw: v["sw"].as_i64().unwrap_or(i64::MAX),
        iw: v["iw"].as_i64().unwrap_or(0),
        ih: v["ih"].as_i64().unwrap_or(0),
        heading: v["heading"].as_f64().unwrap_or(-1.0),
        wide: strings("wide"),
        clipped: strings("clipped"),
        links: strings("links"),
    }
}

async fn resize(browser: &Browser, width: u32, height: u32) {
    browser.client.set_window_size(width, height).await.unwrap();
    let inner = browser
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap();
    // The window's frame takes nothing in headless Chromium: the page is as wide as asked.
    assert_eq!(inner.as_i64(), Some(i64::from(width)), "viewport width");
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn every_page_each_demo_role_reaches_fits_a_phone_and_shows_its_heading_first() {
    let app = TestApp::spawn().await;
    school_portal::demo::create(&app.db, Some(DEMO_PASSWORD.into()))
        .await
        .unwrap();
    let browser = Browser::start().await;
    let origin = app.url("");
    let mut failures = Vec::new();
    let mut walked = 0;
    for login in DEMO_LOGINS {
        resize(&browser, 360, 780).await;
        log_in(&browser, &app, login, DEMO_PASSWORD).await;
        let start = browser.client.current_url().await.unwrap().to_string();
        // Breadth first from the start page: the navigation, then what it reaches.
        let mut queue = VecDeque::from([(start.clone(), 0)]);
        let mut kinds = BTreeSet::from([kind_of(&start.replace(&origin, ""))]);
        let mut visited = Vec::new();
        while let Some((url, depth)) = queue.pop_front() {
            let seen = measure(&browser, &url).await;
            walked += 1;
            let path = url.replace(&origin, "");
            if seen.title.starts_with("Внутренняя ошибка")
                || seen.title.starts_with("Страница не найдена")
                || seen.title.starts_with("Доступ запрещён")
            {
                failures.push(format!("{login} {path}: «{}»", seen.title));
            }
            if seen.sw > seen.iw {
                failures.push(format!(
                    "{login} {path}: {} px wide on a {} px phone; too wide: {:?}",
                    seen.sw, seen.iw, seen.wide
                ));
            }
            if seen.heading < 0.0 || seen.heading > seen.ih as f64 {
                failures.push(format!(
                    "{login} {path}: the heading ends at {} px, below the first screen ({} px)",
                    seen.heading, seen.ih
                ));
            }
            if depth < 2 {
                for link in &seen.links {
                    let Some(rest) = link.strip_prefix(&origin) else {
                        continue;
                    };
                    let rest = rest.split('#').next().unwrap_or_default();
                    let path_only = rest.split('?').next().unwrap_or_default();
                    if !is_page(path_only) {
                        continue;
                    }
                    if kinds.insert(kind_of(path_only)) {
                        queue.push_back((format!("{origin}{rest}"), depth + 1));
                    }
                }
            }
            visited.push(seen.url);
        }
        assert!(
            visited.len() >= 4,
            "{login} reached only {visited:?}: the walk did not find the navigation"
        );
        // The same pages on a laptop: nothing clipped.
        resize(&browser, 1366, 900).await;
        for url in &visited {
            let seen = measure(&browser, url).await;
            let path = url.replace(&origin, "");
            if seen.sw > seen.iw || !seen.clipped.is_empty() {
                failures.push(format!(
                    "{login} {path} at 1366 px: page {} px, tables scrolled: {:?}, too wide: {:?}",
                    seen.sw, seen.clipped, seen.wide
                ));
            }
        }
    }
    browser.close().await;
    assert!(walked > 60, "walked only {walked} pages");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The phone shell on every page (issue 14): the menu behind «Меню» (a `<details>`, no
/// script), the current page marked, the school's short name in the header, and an error
/// page keeps the logged-in frame (the menu, «Выйти», not «Войти»).
#[tokio::test]
async fn the_menu_marks_the_current_page_and_error_pages_keep_the_logged_in_frame() {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .named("Муниципальное бюджетное общеобразовательное учреждение «Средняя школа № 7»")
        .class("5А")
        .admin("admin@test.local")
        .class_teacher("5А", "teacher@test.local")
        .build()
        .await;
    let (school, class) = (w.id, w.class("5А"));
    sqlx::query("update schools set short_name = 'Школа № 7' where id = $1")
        .bind(school)
        .execute(&app.db)
        .await
        .unwrap();
    let admin = app.logged_in("admin@test.local").await;

    let page = app
        .get(&admin, &format!("/s/{school}/classes/{class}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&page, ".brand-school"), vec!["Школа № 7"]);
    assert_eq!(
        select_texts(&page, "details.menu-phone > summary"),
        vec!["Меню"]
    );
    // One item marked, in the wide menu and the phone one alike: «Классы».
    assert_eq!(
        select_texts(&page, "a[aria-current=page]"),
        vec!["Классы", "Классы"]
    );
    assert!(
        !select_attr(&page, ".menu-panel a", "href")
            .iter()
            .all(|h| !h.ends_with("/join-requests")),
        "«Заявки на вступление» is in the menu"
    );

    for (path, status) in [
        (format!("/s/{school}/no-such-page"), 404),
        (format!("/s/{school}/classes/{}", uuid::Uuid::now_v7()), 404),
    ] {
        let res = app.get(&admin, &path).await;
        assert_eq!(res.status(), status, "{path}");
        let body = res.text().await.unwrap();
        assert!(
            !select_texts(&body, "details.menu-phone a").is_empty(),
            "{path}: the menu"
        );
        assert!(
            !select_texts(&body, "form[action='/logout'] button").is_empty(),
            "{path}: «Выйти»"
        );
        assert!(
            select_texts(&body, "header a[href='/login']").is_empty(),
            "{path}: no «Войти» for a logged-in person"
        );
    }
    // A teacher refused a page keeps her frame too.
    let t = app.logged_in("teacher@test.local").await;
    let res = app.get(&t, &format!("/s/{school}/audit")).await;
    assert_eq!(res.status(), 403);
    let body = res.text().await.unwrap();
    assert!(select_texts(&body, ".brand-school").contains(&"Школа № 7".to_owned()));
    assert!(!select_texts(&body, "form[action='/logout'] button").is_empty());
    // Anonymous: the plain frame with «Войти».
    let res = app.get(&app.client(), "/no-such-page").await;
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(!select_texts(&body, "header a[href='/login']").is_empty());
}
