//! Journeys in a real browser: headless Chromium driven through chromedriver (WebDriver).
//! The harness starts chromedriver on a free port; later journeys add themselves here.
//! Every journey is `#[ignore = "needs chromedriver"]`: a plain `cargo test` reports them as
//! ignored (skipped, not passed), and the README's command (the one `.ci/run` runs,
//! `cargo test -- --include-ignored`) runs them, failing when chromedriver is missing.
//! The harness sets the locale the browser needs itself (a UTF-8 one, for Cyrillic file
//! names), so the journeys pass with no locale in the environment.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless Chromium. Panics when chromedriver is not installed: a journey
    /// that runs (`--include-ignored`) must not pass without a browser.
    pub async fn start() -> Browser {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("browser journeys need chromedriver: apt-get install chromium chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            // chromedriver turns a typed file path into a native one through the locale:
            // under `C`/`POSIX` a Cyrillic name becomes «File not found».
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // chromedriver says when it listens; wait for that line, not for a fixed time.
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
            driver.stdout.take().expect("stdout"),
        ));
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("chromedriver did not start in 30 s")
                .expect("chromedriver output")
                .expect("chromedriver exited");
            if line.contains("started successfully") {
                break;
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("chromedriver did not open a Chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let el = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .expect(css);
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .expect(css)
            .text()
            .await
            .expect("text")
    }

    /// Waits until the browser is at `url` (a full address), then checks it.
    pub async fn wait_for_url(&self, url: &str) {
        let expected = url::Url::parse(url).expect("url");
        let _ = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_url(&expected)
            .await;
        let now = self.client.current_url().await.unwrap();
        assert_eq!(now.as_str(), expected.as_str(), "browser is at {now}");
    }
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn administrator_logs_in_sees_the_school_summary_and_logs_out() {
    let app = TestApp::spawn().await;
    let school = School::new(&app)
        .named("МБОУ СОШ № 12")
        .class("5А")
        .admin("admin@school12.ru")
        .build()
        .await
        .id;
    let browser = Browser::start().await;

    browser.client.goto(&app.url("/")).await.unwrap();
    browser.wait_for_url(&app.url("/login?next=/")).await;
    browser.fill("input[name=login]", "admin@school12.ru").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;

    browser
        .wait_for_url(&app.url(&format!("/s/{school}")))
        .await;
    let main = browser.text("main").await;
    assert!(main.contains("1 класс"), "summary: {main}");
    assert!(main.contains("5А"), "5А has no class teacher yet: {main}");
    let header = browser.text("header").await;
    assert!(header.contains("МБОУ СОШ № 12"));

    browser.click("form[action='/logout'] button").await;
    browser.wait_for_url(&app.url("/login")).await;
    browser
        .client
        .goto(&app.url(&format!("/s/{school}")))
        .await
        .unwrap();
    browser
        .wait_for_url(&app.url(&format!("/login?next=/s/{school}")))
        .await;
    browser.close().await;
}

/// R2.1.k in a browser: the administrator imports a class list, sees it in the class,
/// transfers one student with an order number, and finds the transfer in the movements
/// register and in the audit log.
#[tokio::test]
#[ignore = "needs chromedriver"]
async fn administrator_imports_a_class_transfers_a_student_and_finds_it_in_the_register_r2_1_k() {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .named("МБОУ СОШ № 8")
        .class("5А")
        .class("5Б")
        .admin("admin@school8.ru")
        .build()
        .await;
    let (school, five_a) = (w.id, w.class("5А"));
    let browser = Browser::start().await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("5А.csv");
    std::fs::write(
        &file,
        "Класс;Фамилия;Имя;Отчество;Дата рождения\n\
         5А;Алексеев;Иван;Петрович;01.03.2015\n\
         5А;Борисова;Анна;Сергеевна;12.05.2015\n\
         5А;Васильев;Денис;Олегович;30.11.2014\n",
    )
    .unwrap();

    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("input[name=login]", "admin@school8.ru").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}")))
        .await;

    // Import the list.
    browser.click("nav a[href$='/import']").await;
    browser.fill("#students-file", file.to_str().unwrap()).await;
    browser
        .click("form:has(#students-file) button[type=submit]")
        .await;
    assert!(browser.text("#count-create").await.contains('3'));
    browser
        .click("form[action$='/apply'] button[type=submit]")
        .await;
    assert!(browser.text(".notice").await.contains("Импорт выполнен"));
    let imported: i64 = sqlx::query_scalar(
        "select count(*) from memberships where role = 'student' and class_id = $1",
    )
    .bind(five_a)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(imported, 3);

    // The class shows them.
    browser
        .client
        .goto(&app.url(&format!("/s/{school}/classes/{five_a}")))
        .await
        .unwrap();
    let students = browser.text("#students-title").await;
    assert!(students.contains("3 ученика"), "{students}");
    assert!(
        browser
            .text("main table")
            .await
            .contains("Борисова Анна Сергеевна")
    );

    // Transfer Борисова to 5Б under an order.
    let link = browser
        .client
        .find(Locator::Css(
            "main tr:nth-child(2) a[href*='/movements/transfer?student=']",
        ))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    link.click().await.unwrap();
    browser.wait_for_url(&app.url(&href)).await;
    let form = browser.text(".student-card").await;
    assert!(form.contains("Борисова Анна Сергеевна"), "{form}");
    browser
        .client
        .execute(
            "const s = document.querySelector('#to_class');
             s.value = [...s.options].find(o => o.text.trim() === '5Б').value;
             document.querySelector('#order_date').value = '2026-11-20';",
            vec![],
        )
        .await
        .unwrap();
    browser.fill("#order_number", "45-у").await;
    browser
        .click("form[action$='/movements/transfer'] button[type=submit]")
        .await;

    // The register has it, with the order (the page notes what was just recorded).
    let note = browser.text(".notice").await;
    assert!(note.contains("Борисова"), "{note}");
    let at = browser.client.current_url().await.unwrap();
    assert_eq!(at.path(), format!("/s/{school}/movements"));
    let register = browser.text("main table").await;
    assert!(register.contains("Борисова Анна Сергеевна"), "{register}");
    assert!(register.contains("перевод"), "{register}");
    assert!(
        register.contains("приказ № 45-у от 20.11.2026"),
        "{register}"
    );
    assert!(
        register.contains("5А") && register.contains("5Б"),
        "{register}"
    );

    // And the audit log.
    browser.click("nav a[href$='/audit']").await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}/audit")))
        .await;
    let log = browser.text("main table").await;
    assert!(log.contains("Перевод"), "{log}");
    assert!(log.contains("импорт"), "{log}");
    browser.close().await;
}

/// R2.4.c in a browser: the class teacher of 5А logs in, sees the parents chat red in the
/// class's compliance row, creates it in one click, sees its members, and the row's
/// parents-chat cell turns green.
#[tokio::test]
#[ignore = "needs chromedriver"]
async fn class_teacher_creates_the_parents_chat_in_one_click_and_compliance_turns_green_r2_4_c() {
    let w = crate::chats::world().await;
    let browser = Browser::start().await;
    let app = &w.app;
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser
        .fill("input[name=login]", "teacher@test.local")
        .await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.wait_for_url(&app.url(&w.path(""))).await;

    browser
        .client
        .goto(&app.url(&w.path("/compliance")))
        .await
        .unwrap();
    let cell = "tr[data-class='5А'] td.chat-class_parents .light";
    assert_eq!(browser.text(cell).await, "нет");
    let class = browser
        .client
        .find(Locator::Css(cell))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(class.contains("light-red"), "{class}");

    browser.click("a[href$='/chats']").await;
    browser.wait_for_url(&app.url(&w.path("/chats"))).await;
    browser.click("button[data-kind=class_parents]").await;
    let members = browser.text("table.members").await;
    assert!(members.contains("Аникина"), "{members}");
    assert!(members.contains("Борисова"), "{members}");
    assert!(members.contains("владелец"), "{members}");
    let chat = w.chat_of(w.five_a, "class_parents").await;
    browser
        .wait_for_url(&app.url(&w.path(&format!("/chats/{chat}?done=chat-created"))))
        .await;
    assert_eq!(browser.text(".flash").await, "Чат создан.");

    browser
        .client
        .goto(&app.url(&w.path("/compliance")))
        .await
        .unwrap();
    assert_eq!(browser.text(cell).await, "есть");
    let class = browser
        .client
        .find(Locator::Css(cell))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(class.contains("light-green"), "{class}");
    browser.close().await;
}
