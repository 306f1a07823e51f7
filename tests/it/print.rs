//! Printed sheets (UI.md: print styles, A4): the parent slips, eight to an A4 page with a
//! link short enough to type (issue 14): `host/j/TOKEN`, the `/j/` route leading on to the
//! invitation's landing page.

use fantoccini::wd::{PrintConfiguration, WebDriverCompatibleCommand};
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::*;

/// A class teacher's class of `n` students (long names, as real lists have).
async fn class_of(app: &TestApp, n: usize) -> (school_portal::ids::SchoolId, String) {
    let mut school = School::new(app)
        .named("МБОУ «Средняя общеобразовательная школа № 8 имени А. С. Пушкина»")
        .class("5А")
        .class_teacher("5А", "ct@test.local");
    for i in 0..n {
        school = school.student("5А", &format!("kid{i}@test.local")).called(
            &format!("Константинопольская-Преображенская{i}"),
            "Александра",
        );
    }
    let w = school.build().await;
    (w.id, w.class("5А").to_string())
}

#[tokio::test]
async fn the_printed_short_link_leads_to_the_invitation() {
    let app = TestApp::spawn().await;
    let (school, class) = class_of(&app, 2).await;
    let ct = app.logged_in("ct@test.local").await;
    let new = app
        .get(&ct, &format!("/s/{school}/invites/slips/new"))
        .await
        .text()
        .await
        .unwrap();
    let form_id = select_attr(&new, "input[name=form_id]", "value")[0].clone();
    let sheet = app
        .post(
            &ct,
            &format!("/s/{school}/invites/slips"),
            &[("form_id", &form_id), ("class_id", &class), ("days", "30")],
        )
        .await
        .text()
        .await
        .unwrap();
    let links = select_texts(&sheet, ".slip-link code");
    assert_eq!(links.len(), 2);
    // No scheme, the short route, one word (the groups are set apart by the style only).
    let host = app.url("").trim_start_matches("http://").to_owned();
    let link = &links[0];
    assert!(link.starts_with(&format!("{host}/j/")), "{link}");
    assert!(!link.contains(char::is_whitespace), "{link}");
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(
        select_texts(&sheet, ".slip-link code span").len(),
        2 * token.len().div_ceil(4)
    );
    // Typed into a phone: on to the landing page of this very invitation.
    let phone = app.client();
    let res = app.get(&phone, &format!("/j/{token}")).await;
    assert_redirect(&res, &format!("/join/{token}"));
    let landing = app.get(&phone, &format!("/join/{token}")).await;
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("5А"));
    // Anything that is no token's characters is no link.
    for bad in ["a%0Db", "a%20b", "a.b"] {
        assert_eq!(
            app.get(&phone, &format!("/j/{bad}")).await.status(),
            404,
            "{bad}"
        );
    }
}

/// Chrome's DevTools command through chromedriver (print media for the page).
#[derive(Debug)]
struct Cdp(serde_json::Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.0.to_string()))
    }
}

/// The pages of a PDF: its page objects (`/Type /Page`, not the tree's `/Type /Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    let needle = "/Type /Page";
    text.match_indices(needle)
        .filter(|(i, _)| !text[i + needle.len()..].starts_with('s'))
        .count()
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn twenty_three_slips_print_on_at_most_four_a4_pages_each_whole() {
    let app = TestApp::spawn().await;
    let (school, _) = class_of(&app, 23).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("input[name=login]", "ct@test.local").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}")))
        .await;
    browser
        .client
        .goto(&app.url(&format!("/s/{school}/invites/slips/new")))
        .await
        .unwrap();
    // The sheet opens in this window (the form asks for a new one).
    browser
        .client
        .execute(
            "document.querySelector(\"form[action$='/invites/slips']\").removeAttribute('target')",
            vec![],
        )
        .await
        .unwrap();
    browser
        .click("form[action$='/invites/slips'] button[type=submit]")
        .await;
    browser.text(".slip-link").await;
    let slips = browser
        .client
        .execute("return document.querySelectorAll('.slip').length", vec![])
        .await
        .unwrap();
    assert_eq!(slips, json!(23));

    let pdf = browser
        .client
        .print(PrintConfiguration::default())
        .await
        .unwrap();

    // As printed (the width of an A4 page inside its margins): nothing of a slip is cut
    // off, and the link is there in full.
    browser.client.set_window_size(700, 1000).await.unwrap();
    browser
        .client
        .issue_cmd(Cdp(json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": {"media": "print"}
        })))
        .await
        .unwrap();
    let clipped = browser
        .client
        .execute(
            "return [...document.querySelectorAll('.slip')].filter(s => {
               const box = s.getBoundingClientRect();
               return [...s.querySelectorAll('p, .slip-qr')].some(e => {
                 const r = e.getBoundingClientRect();
                 return r.bottom > box.bottom + 0.5 || r.right > box.right + 0.5;
               });
             }).length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(clipped, json!(0), "slips with a part cut off");
    let pages = pdf_pages(&pdf);
    // Six to a page: 6 + 6 + 6 + 5.
    assert_eq!(pages, 4, "{pages} pages");
    browser.close().await;
}
