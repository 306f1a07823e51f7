//! Journeys in a real browser: headless Chromium driven through chromedriver (WebDriver).
//! The harness starts chromedriver on a free port; later journeys add themselves here.
//! Without chromedriver the journeys are skipped locally, and fail under CI (`CI=true`),
//! where `.ci/run` installs Debian's chromium and chromium-driver.

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
    /// A fresh headless Chromium, or `None` (skip) when chromedriver is not installed
    /// outside CI.
    pub async fn start() -> Option<Browser> {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(driver_path) = driver_path else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("chromedriver is missing under CI: .ci/run must install chromium-driver");
            }
            eprintln!(
                "skipping browser journey: chromedriver not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
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
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
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
async fn administrator_logs_in_sees_the_school_summary_and_logs_out() {
    let app = TestApp::spawn().await;
    let school = app.school("МБОУ СОШ № 12").await;
    app.class(school, 5, "А").await;
    app.admin(school, "admin@school12.ru").await;
    let Some(browser) = Browser::start().await else {
        return;
    };

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
