//! The platform connector (issue 15; R2.1.l, R2.4.d, R2.1.m) against the MAX bot API's
//! stand-in (`helpers::max_standin`: the platform itself cannot be reached from here).

use base64::Engine;
use school_portal::config::{ConnectorConfig, WebConfig};
use school_portal::connector::ConnectorKey;
use school_portal::connector::worker;
use uuid::Uuid;

use crate::helpers::max_standin::{Delivery, MaxStandin};
use crate::helpers::school::SchoolFixture;
use crate::helpers::*;

/// The parents' chat of 5А on the platform.
const PARENTS_CHAT: i64 = -70_000_000_000_501;
const PARENTS_LINK: &str = "https://max.ru/join/5a-parents-Hq8xZ";
// Platform accounts.
const TEACHER_UID: i64 = 101;
const ANNA_UID: i64 = 201;
const BORIS_UID: i64 = 202;
const VERA_UID: i64 = 203;
const OUTSIDER_UID: i64 = 900;

fn config() -> WebConfig {
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    WebConfig {
        connector: ConnectorConfig {
            connector_key: Some(key),
            ..ConnectorConfig::default()
        },
        ..WebConfig::default()
    }
}

fn key(app: &TestApp) -> ConnectorKey {
    ConnectorKey::from_config(&app.state.config.connector).unwrap()
}

struct World {
    app: TestApp,
    school: SchoolFixture,
    standin: MaxStandin,
    token: String,
    chat: Uuid,
}

impl World {
    fn path(&self, p: &str) -> String {
        format!("/s/{}{p}", self.school.id)
    }

    async fn process(&self) -> usize {
        worker::process_pending(&self.app.db, Some(&key(&self.app)))
            .await
            .unwrap()
    }

    /// The stand-in delivers what happened; the portal's worker processes it.
    async fn sync(&self) {
        let statuses = self.standin.deliver().await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        self.process().await;
    }

    async fn chat_page(&self, login: &str) -> String {
        let c = self.app.logged_in(login).await;
        let res = self
            .app
            .get(&c, &self.path(&format!("/chats/{}", self.chat)))
            .await;
        assert_status(&res, 200);
        res.text().await.unwrap()
    }

    /// The person's deep link, as their own page shows it; its payload.
    async fn payload_of(&self, login: &str) -> String {
        let c = self.app.logged_in(login).await;
        let html = self
            .app
            .get(&c, &self.path("/connector/link"))
            .await
            .text()
            .await
            .unwrap();
        let link = select_attr(&html, "#deep-link", "href").remove(0);
        assert!(
            link.starts_with("https://max.ru/school1_bot?start="),
            "{link}"
        );
        link.rsplit('=').next().unwrap().to_owned()
    }

    async fn configure(&self) -> reqwest::Response {
        let admin = self.app.logged_in("admin@test.local").await;
        let page = self.app.get(&admin, &self.path("/connector")).await;
        assert_status(&page, 200);
        let html = page.text().await.unwrap();
        let key = select_attr(
            &html,
            "form[action$='/connector'] input[name=form_key]",
            "value",
        )
        .remove(0);
        let form = [
            ("token", self.token.as_str()),
            ("api_base", self.standin.base.as_str()),
            ("root_cert", ""),
            ("form_key", &key),
        ];
        // Sent twice at once: one bot, one check.
        let path = self.path("/connector");
        let (a, b) = tokio::join!(
            self.app.post(&admin, &path, &form),
            self.app.post(&admin, &path, &form)
        );
        assert_eq!(location(&a), location(&b));
        a
    }

    /// Sends a key-only form of `page` (found by its action) twice at once.
    async fn twice(&self, login: &str, page: &str, action: &str) -> reqwest::Response {
        let c = self.app.logged_in(login).await;
        let html = self
            .app
            .get(&c, &self.path(page))
            .await
            .text()
            .await
            .unwrap();
        let key = select_attr(
            &html,
            &format!("form[action='{}'] input[name=form_key]", self.path(action)),
            "value",
        )
        .remove(0);
        let form = [("form_key", key.as_str())];
        let path = self.path(action);
        let (a, b) = tokio::join!(
            self.app.post(&c, &path, &form),
            self.app.post(&c, &path, &form)
        );
        assert_eq!(location(&a), location(&b));
        a
    }
}

/// 5А with its class teacher, three pupils' parents, the parents' chat made in one click
/// and its platform link recorded; a stand-in platform where that chat exists with the
/// teacher and two parents in it.
async fn world() -> World {
    let app = TestApp::spawn_with(config()).await;
    let school = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .class_teacher("5А", "teacher@test.local")
        .called("Учителева", "Ульяна")
        .student("5А", "anya-kid@test.local")
        .student("5А", "borya-kid@test.local")
        .student("5А", "vera-kid@test.local")
        .parent_of("anna@test.local", "anya-kid@test.local")
        .called("Аннина", "Анна")
        .parent_of("boris@test.local", "borya-kid@test.local")
        .called("Борисов", "Борис")
        .parent_of("vera@test.local", "vera-kid@test.local")
        .called("Верина", "Вера")
        .build()
        .await;
    let teacher = app.logged_in("teacher@test.local").await;
    let res = app
        .post(
            &teacher,
            &format!(
                "/s/{}/classes/{}/chats/class_parents",
                school.id,
                school.class("5А")
            ),
            &[],
        )
        .await;
    assert_status(&res, 303);
    let chat: Uuid = sqlx::query_scalar(
        "update chats set platform_url = $2 where school_id = $1 and kind = 'class_parents'
         returning id",
    )
    .bind(school.id)
    .bind(PARENTS_LINK)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let token = format!("max-token-{}", Uuid::new_v4().simple());
    let standin = MaxStandin::start(&token).await;
    standin.chat(PARENTS_CHAT, "5А — родители", PARENTS_LINK, false);
    standin.member(PARENTS_CHAT, TEACHER_UID, "Ульяна У.", true);
    standin.member(PARENTS_CHAT, ANNA_UID, "Анна А.", false);
    standin.member(PARENTS_CHAT, BORIS_UID, "Борис Б.", false);
    World {
        app,
        school,
        standin,
        token,
        chat,
    }
}

/// Everyone binds their platform account by their deep link.
async fn everyone_binds(w: &World) {
    for (login, uid, name) in [
        ("teacher@test.local", TEACHER_UID, "Ульяна У."),
        ("anna@test.local", ANNA_UID, "Анна А."),
        ("boris@test.local", BORIS_UID, "Борис Б."),
        ("vera@test.local", VERA_UID, "Вера В."),
    ] {
        let payload = w.payload_of(login).await;
        w.standin.bot_started(uid, name, &payload);
    }
    w.sync().await;
}

#[tokio::test]
async fn r2_1_l_r2_4_d_the_bot_shows_who_is_really_in_5as_parents_chat_and_removes_who_left() {
    let w = world().await;

    // The administrator configures the school's bot: checked with GET /me, the raw token
    // in Authorization, the webhook subscribed to the school's own unguessable address.
    let res = w.configure().await;
    assert_redirect(&res, &w.path("/connector?saved=1"));
    let me = w.standin.seen("GET", "/me");
    assert_eq!(me.len(), 1);
    assert_eq!(me[0].authorization.as_deref(), Some(w.token.as_str()));
    let urls = w.standin.subscribed_urls();
    assert_eq!(urls.len(), 1);
    assert!(urls[0].starts_with(&format!("{}/hooks/max/", w.app.base)));
    assert!(urls[0].rsplit('/').next().unwrap().len() >= 32);
    let sub = &w.standin.seen("POST", "/subscriptions")[0];
    let body: serde_json::Value = serde_json::from_str(&sub.body).unwrap();
    assert!(
        body["update_types"]
            .as_array()
            .unwrap()
            .contains(&"user_removed".into())
    );

    everyone_binds(&w).await;

    // The bot is added to 5А's parents chat: the portal reads the chat, finds it by its
    // link and reads its members.
    w.standin.add_bot(
        PARENTS_CHAT,
        &["read_all_messages", "add_remove_members", "write"],
    );
    w.sync().await;
    let matched: Option<Uuid> =
        sqlx::query_scalar("select chat_id from connector_chats where platform_chat_id = $1")
            .bind(PARENTS_CHAT)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(matched, Some(w.chat));
    assert!(
        !w.standin
            .seen("GET", &format!("/chats/{PARENTS_CHAT}/members"))
            .is_empty()
    );

    // Someone nobody invited comes in by the chat's link.
    w.standin
        .join_by_link(PARENTS_CHAT, OUTSIDER_UID, "Посторонний Павел");
    w.sync().await;

    let html = w.chat_page("teacher@test.local").await;
    let expected = select_texts(&html, "#present-expected li");
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert!(expected.iter().any(|e| e.contains("Аннина Анна")));
    assert!(expected.iter().any(|e| e.contains("Борисов Борис")));
    let outsiders = select_texts(&html, "#present-unexpected tbody tr");
    assert_eq!(outsiders.len(), 1, "{outsiders:?}");
    assert!(outsiders[0].contains("Посторонний Павел"));
    assert!(outsiders[0].contains("не знаком порталу"));
    assert!(outsiders[0].contains("вошёл по ссылке"));
    let absent = select_texts(&html, "#absent li");
    assert_eq!(absent.len(), 1, "{absent:?}");
    assert!(absent[0].contains("Верина Вера"));
    assert!(select_texts(&html, "#missing-rights").is_empty());

    // Anya leaves the school: her mother is no longer expected, and the page proposes
    // removing her.
    leave(&w, "anya-kid@test.local").await;
    let html = w.chat_page("teacher@test.local").await;
    let proposed = select_texts(&html, "#present-unexpected tbody tr");
    assert_eq!(proposed.len(), 2, "{proposed:?}");
    let anna = proposed.iter().find(|r| r.contains("Анна А.")).unwrap();
    assert!(anna.contains("Аннина Анна"), "bound: who she is");
    assert!(anna.contains("предлагается удалить"));
    let key = select_attr(
        &html,
        &format!("tr[data-user-id='{ANNA_UID}'] input[name=form_key]"),
        "value",
    )
    .remove(0);

    // Without the confirmation nothing is sent.
    let teacher = w.app.logged_in("teacher@test.local").await;
    let remove = w.path(&format!("/chats/{}/platform/remove", w.chat));
    let uid = ANNA_UID.to_string();
    let res = w
        .app
        .post(&teacher, &remove, &[("user_id", &uid), ("form_key", &key)])
        .await;
    assert_status(&res, 200);
    assert_eq!(
        select_texts(&res.text().await.unwrap(), "#platform-error"),
        ["Подтвердите удаление галочкой."]
    );
    assert!(
        w.standin
            .seen("DELETE", &format!("/chats/{PARENTS_CHAT}/members"))
            .is_empty()
    );

    // The class teacher confirms; sent twice, it is sent once.
    let form = [
        ("user_id", uid.as_str()),
        ("confirm", "yes"),
        ("form_key", &key),
    ];
    let (a, b) = tokio::join!(
        w.app.post(&teacher, &remove, &form),
        w.app.post(&teacher, &remove, &form)
    );
    assert_redirect(&a, &w.path(&format!("/chats/{}", w.chat)));
    assert_redirect(&b, &w.path(&format!("/chats/{}", w.chat)));
    let deletes = w
        .standin
        .seen("DELETE", &format!("/chats/{PARENTS_CHAT}/members"));
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].query, format!("user_id={ANNA_UID}"));
    assert_eq!(deletes[0].authorization.as_deref(), Some(w.token.as_str()));
    let html = w.chat_page("teacher@test.local").await;
    assert!(
        select_texts(&html, &format!("tr[data-user-id='{ANNA_UID}']"))[0]
            .contains("удаление отправлено")
    );

    // The platform's user_removed (the bot as admin_id) closes it.
    w.sync().await;
    let (state, done): (String, bool) = sqlx::query_as(
        "select state, done_at is not null from connector_removals where user_id = $1",
    )
    .bind(ANNA_UID)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), done), ("done", true));
    let html = w.chat_page("teacher@test.local").await;
    let rows = select_texts(&html, "#present-unexpected tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("Посторонний Павел"));
    let audit = w.app.audit_actions().await;
    for action in [
        "connector.configured",
        "connector.chat_matched",
        "connector.account_bound",
        "connector.removal_requested",
        "connector.removal_confirmed",
    ] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }
}

async fn leave(w: &World, login: &str) {
    use school_portal::auth::extract::RequestMeta;
    use school_portal::auth::tenant::{By, Tenant};
    use school_portal::movements::domain::{self, MovementId, Order};
    let meta = RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    let by = By::for_tests(
        Tenant::for_tests(w.school.id),
        w.school.admin("admin@test.local"),
        &meta,
    );
    let order = Order {
        number: "77-о".into(),
        date: time::macros::date!(2026 - 11 - 20),
    };
    let mut tx = w.app.db.begin().await.unwrap();
    domain::leave(
        &mut tx,
        &by,
        MovementId::new(),
        w.school.member(login),
        &order,
        order.date,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The picture of the chat on the platform as the portal stores it.
async fn picture(w: &World) -> Vec<(i64, bool, bool)> {
    sqlx::query_as(
        "select user_id, present, by_link from connector_members
         where platform_chat_id = $1 order by user_id",
    )
    .bind(PARENTS_CHAT)
    .fetch_all(&w.app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_webhook_twice_and_out_of_order_changes_the_picture_once_and_a_wrong_secret_nothing() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    w.standin
        .add_bot(PARENTS_CHAT, &["read_all_messages", "add_remove_members"]);
    w.sync().await;
    let before = picture(&w).await;

    // Pavel comes in by the link and leaves again; the platform delivers both twice, the
    // later first; an unknown event type comes too.
    w.standin
        .join_by_link(PARENTS_CHAT, OUTSIDER_UID, "Посторонний Павел");
    w.standin.leaves(PARENTS_CHAT, OUTSIDER_UID);
    w.standin.unknown_event();
    let statuses = w
        .standin
        .deliver_with(Delivery {
            twice: true,
            reversed: true,
        })
        .await;
    assert_eq!(statuses, [200; 6]);
    let stored: i64 =
        sqlx::query_scalar("select count(*) from connector_updates where processed_at is null")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(stored, 3, "each event stored once");
    w.process().await;
    let mut after = before.clone();
    after.push((OUTSIDER_UID, false, false));
    assert_eq!(picture(&w).await, after, "the later leaving wins");
    // Processing again changes nothing.
    assert_eq!(w.process().await, 0);
    assert_eq!(picture(&w).await, after);

    // A wrong, missing or Bearer secret, or an unknown hook: 401, nothing stored.
    let url = w.standin.subscribed_urls().remove(0);
    let secret: String = sqlx::query_scalar("select webhook_secret from connector_bots")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    let forged = serde_json::json!({
        "update_type": "user_added", "timestamp": i64::MAX - 1, "chat_id": PARENTS_CHAT,
        "user": {"user_id": 666, "name": "Подделка"}, "inviter_id": null
    })
    .to_string();
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from connector_updates")
            .fetch_one(&w.app.db)
            .await
            .unwrap()
    };
    let stored = count().await;
    for s in [
        Some("wrong-secret"),
        None,
        Some(&format!("Bearer {secret}")[..]),
    ] {
        assert_eq!(MaxStandin::push_raw(&url, s, &forged).await, 401);
    }
    let unknown_hook = format!("{}/hooks/max/{}", w.app.base, "x".repeat(40));
    assert_eq!(
        MaxStandin::push_raw(&unknown_hook, Some(&secret), &forged).await,
        401
    );
    assert_eq!(count().await, stored);
    w.process().await;
    assert_eq!(picture(&w).await, after);
    // The right secret is taken.
    assert_eq!(
        MaxStandin::push_raw(&url, Some(&secret), &forged).await,
        200
    );
    assert_eq!(count().await, stored + 1);
}

#[tokio::test]
async fn the_platform_dropping_the_subscription_is_noticed_and_repaired() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    let url = w.standin.subscribed_urls().remove(0);
    let key = key(&w.app);
    // In place: nothing to repair.
    assert_eq!(
        worker::check_subscriptions(&w.app.db, Some(&key), &w.app.base)
            .await
            .unwrap(),
        0
    );
    w.standin.drop_subscriptions();
    assert_eq!(
        worker::check_subscriptions(&w.app.db, Some(&key), &w.app.base)
            .await
            .unwrap(),
        1
    );
    assert_eq!(w.standin.subscribed_urls(), [url]);
    assert_eq!(w.standin.seen("POST", "/subscriptions").len(), 2);
    assert!(
        w.app
            .audit_actions()
            .await
            .iter()
            .any(|a| a == "connector.subscribed")
    );
    // Events flow again.
    w.standin.add_bot(PARENTS_CHAT, &["read_all_messages"]);
    assert_eq!(w.standin.deliver().await, [200]);
}

#[tokio::test]
async fn the_token_never_appears_in_pages_or_the_audit_log_and_another_schools_bot_is_invisible() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    w.standin.add_bot(PARENTS_CHAT, &["read_all_messages"]);
    w.sync().await;
    let admin = w.app.logged_in("admin@test.local").await;
    for page in ["/connector", "/profile", &format!("/chats/{}", w.chat)] {
        let html = w.app.get(&admin, &w.path(page)).await.text().await.unwrap();
        assert!(!html.contains(&w.token), "the token on {page}");
    }
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&html, "#bot-name")[0].contains("Бот школы № 1"));
    // Missing rights are shown with what to grant.
    let chat = w.chat_page("admin@test.local").await;
    assert!(select_texts(&chat, "#missing-rights")[0].contains("Добавлять и удалять участников"));
    // The health check and the full read on demand, each sent twice: done once.
    let me = w.standin.seen("GET", "/me").len();
    let res = w
        .twice("admin@test.local", "/connector", "/connector/check")
        .await;
    assert_redirect(&res, &w.path("/connector"));
    assert_eq!(w.standin.seen("GET", "/me").len(), me + 1);
    let members = format!("/chats/{PARENTS_CHAT}/members");
    let reads = w.standin.seen("GET", &members).len();
    let chat_path = format!("/chats/{}", w.chat);
    let res = w
        .twice(
            "teacher@test.local",
            &chat_path,
            &format!("{chat_path}/platform/refresh"),
        )
        .await;
    assert_redirect(&res, &w.path(&chat_path));
    assert_eq!(w.standin.seen("GET", &members).len(), reads + 1);
    let audit: Vec<String> = sqlx::query_scalar(
        "select coalesce(target, '') || ' ' || coalesce(details, '') from audit_log",
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert!(audit.iter().all(|a| !a.contains(&w.token)));
    let stored: Vec<u8> = sqlx::query_scalar("select token_cipher from connector_bots")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert!(
        !stored
            .windows(w.token.len())
            .any(|x| x == w.token.as_bytes())
    );
    let bot = school_portal::connector::config::load(
        &mut w.app.db.acquire().await.unwrap(),
        school_portal::auth::tenant::Tenant::for_tests(w.school.id),
        Some(&key(&w.app)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!format!("{bot:?} {:?}", bot.client().unwrap()).contains(&w.token));

    // Another school: no bot on its profile, its chats show nothing of the platform, our
    // connector pages are not found for its administrator.
    let other = School::new(&w.app)
        .named("Школа № 2")
        .admin("admin2@test.local")
        .build()
        .await;
    let admin2 = w.app.logged_in("admin2@test.local").await;
    let html = w
        .app
        .get(&admin2, &format!("/s/{}/profile", other.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Бот не подключён"));
    assert!(!html.contains("Бот школы № 1"));
    let html = w
        .app
        .get(&admin2, &format!("/s/{}/connector", other.id))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&html, "#no-bot"), ["Бот не подключён."]);
    assert_not_found(&w.app.get(&admin2, &w.path("/connector")).await);
    assert_not_found(
        &w.app
            .get(&admin2, &w.path(&format!("/chats/{}", w.chat)))
            .await,
    );
}

#[tokio::test]
async fn without_a_bot_only_the_school_profile_offers_to_set_one_up() {
    let app = TestApp::spawn().await;
    let school = School::new(&app)
        .class("5А")
        .admin("admin@test.local")
        .class_teacher("5А", "teacher@test.local")
        .build()
        .await;
    let admin = app.logged_in("admin@test.local").await;
    let res = app
        .post(
            &admin,
            &format!(
                "/s/{}/classes/{}/chats/class_parents",
                school.id,
                school.class("5А")
            ),
            &[],
        )
        .await;
    assert_status(&res, 303);
    let chat: Uuid = sqlx::query_scalar("select id from chats")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let profile = app
        .get(&admin, &format!("/s/{}/profile", school.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&profile, "#platform-bot")[0].contains("Подключить бота"));
    for page in [
        format!("/s/{}/chats/{chat}", school.id),
        format!("/s/{}", school.id),
    ] {
        let html = app.get(&admin, &page).await.text().await.unwrap();
        assert!(select_texts(&html, "#platform").is_empty(), "{page}");
        assert!(!html.contains("Бот"), "{page} mentions the bot");
    }
    // The teacher's profile view offers nothing.
    let teacher = app.logged_in("teacher@test.local").await;
    let html = app
        .get(&teacher, &format!("/s/{}/profile", school.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&html, "#platform-bot").is_empty());
    // Without the deployment's key the setup says so and stores nothing.
    let html = app
        .get(&admin, &format!("/s/{}/connector", school.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!select_texts(&html, "#no-key").is_empty());
    let key = select_attr(
        &html,
        "form[action$='/connector'] input[name=form_key]",
        "value",
    )
    .remove(0);
    let res = app
        .post(
            &admin,
            &format!("/s/{}/connector", school.id),
            &[
                ("token", "t"),
                ("api_base", "https://platform-api2.max.ru"),
                ("form_key", &key),
            ],
        )
        .await;
    assert_status(&res, 200);
    let bots: i64 = sqlx::query_scalar("select count(*) from connector_bots")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(bots, 0);
}

#[tokio::test]
async fn a_refused_token_is_named_in_russian_and_nothing_is_saved() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    let key = select_attr(
        &html,
        "form[action$='/connector'] input[name=form_key]",
        "value",
    )
    .remove(0);
    let res = w
        .app
        .post(
            &admin,
            &w.path("/connector"),
            &[
                ("token", "wrong-token"),
                ("api_base", &w.standin.base),
                ("form_key", &key),
            ],
        )
        .await;
    assert_status(&res, 200);
    let html = res.text().await.unwrap();
    assert!(select_texts(&html, "#platform-message")[0].contains("verify.token"));
    assert!(!html.contains("wrong-token"));
    let bots: i64 = sqlx::query_scalar("select count(*) from connector_bots")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(bots, 0);
}

#[tokio::test]
async fn a_chat_the_link_does_not_find_is_matched_by_the_administrators_choice() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    // The platform made this chat itself: its link is not the one the portal stores.
    let made_by_platform = -70_000_000_000_777;
    w.standin.chat(
        made_by_platform,
        "5А класс — родители",
        "https://max.ru/join/other",
        false,
    );
    w.standin
        .member(made_by_platform, ANNA_UID, "Анна А.", false);
    w.standin.add_bot(
        made_by_platform,
        &["read_all_messages", "add_remove_members"],
    );
    sqlx::query("update chats set platform_url = null")
        .execute(&w.app.db)
        .await
        .unwrap();
    w.sync().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    let question = select_texts(&html, "#unmatched label");
    assert_eq!(question.len(), 1);
    assert!(question[0].contains("Чат на платформе: «5А класс — родители»"));
    let key = select_attr(&html, "#unmatched input[name=form_key]", "value").remove(0);
    let chat = w.chat.to_string();
    let platform = made_by_platform.to_string();
    let form = [
        ("platform_chat_id", platform.as_str()),
        ("chat_id", chat.as_str()),
        ("form_key", key.as_str()),
    ];
    let path = w.path("/connector/chats/match");
    let (a, b) = tokio::join!(
        w.app.post(&admin, &path, &form),
        w.app.post(&admin, &path, &form)
    );
    assert_redirect(&a, &w.path(&format!("/chats/{chat}")));
    assert_redirect(&b, &w.path(&format!("/chats/{chat}")));
    let matched: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'connector.chat_matched'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(matched, 1);
    let html = w.chat_page("teacher@test.local").await;
    assert_eq!(select_texts(&html, "#present-unexpected tbody tr").len(), 1);
    assert!(select_texts(&html, "#platform-title")[0].contains("5А класс — родители"));
}

#[tokio::test]
async fn r2_1_m_an_approved_post_is_published_through_the_bot_at_its_time_once_with_two_processes()
{
    use school_portal::channels::publish::poll_once;
    use school_portal::connector::publishing::BotPublisher;
    let w = world().await;
    assert_status(&w.configure().await, 303);
    let channel = Uuid::now_v7();
    let admin = w.school.admin("admin@test.local");
    sqlx::query(
        "insert into channels (school_id, id, title, address, created_by)
         values ($1, $2, 'Новости школы', 'https://max.ru/channel/school1-news', $3)",
    )
    .bind(w.school.id)
    .bind(channel)
    .bind(admin)
    .execute(&w.app.db)
    .await
    .unwrap();
    let post = Uuid::now_v7();
    sqlx::query(
        "insert into posts (school_id, id, channel_id, author_id, title, body, state, publish_at)
         values ($1, $2, $3, $4, 'Собрание 5 декабря', 'Приходите <всей> семьёй & вовремя.',
                 'scheduled', now() - interval '1 minute')",
    )
    .bind(w.school.id)
    .bind(post)
    .bind(channel)
    .bind(admin)
    .execute(&w.app.db)
    .await
    .unwrap();
    let news = -80_000_000_000_001;
    w.standin.chat(
        news,
        "Новости школы",
        "https://max.ru/channel/school1-news",
        true,
    );
    w.standin.add_bot(news, &["write"]);
    w.sync().await;

    // Two portal processes poll at once: one posts it.
    let second = TestApp::spawn_on(&w.app.db_url, config()).await;
    let publisher = BotPublisher::new(Some(key(&w.app)));
    let (a, b) = tokio::join!(
        poll_once(&w.app.db, &publisher, &w.app.base),
        poll_once(&second.db, &publisher, &second.base)
    );
    assert_eq!(a.unwrap().due + b.unwrap().due, 1);
    let sent = w.standin.seen("POST", "/messages");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].query, format!("chat_id={news}"));
    let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["format"], "html");
    assert_eq!(body["notify"], true);
    assert_eq!(
        body["text"],
        "<b>Собрание 5 декабря</b>\n\nПриходите &lt;всей&gt; семьёй &amp; вовремя."
    );
    let (state, url, mid): (String, Option<String>, Option<String>) =
        sqlx::query_as("select state, platform_url, platform_mid from posts where id = $1")
            .bind(post)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(state, "published");
    let mid = mid.unwrap();
    assert_eq!(url.unwrap(), format!("https://max.ru/c/{news}/{mid}"));
    // A third pass finds nothing due.
    assert_eq!(
        poll_once(&w.app.db, &publisher, &w.app.base)
            .await
            .unwrap()
            .due,
        0
    );
    assert_eq!(w.standin.seen("POST", "/messages").len(), 1);
}

#[tokio::test]
async fn the_client_speaks_the_protocol_errors_limits_retries_and_a_big_seq() {
    use school_portal::connector::client::{ApiError, MaxClient, NewMessage};
    use school_portal::connector::config::Token;
    let token = format!("t-{}", Uuid::new_v4().simple());
    let s = MaxStandin::start(&token).await;
    s.chat(-5, "Чат", "https://max.ru/join/x", false);
    s.chat(-6, "Канал", "https://max.ru/channel/y", true);
    s.add_bot(-5, &["read_all_messages", "add_remove_members", "write"]);
    s.add_bot(-6, &["write"]);
    for i in 0..45 {
        s.member(-5, 1000 + i, &format!("Участник {i}"), false);
    }
    let client = MaxClient::new(&s.base, Token::new(&token), None).unwrap();

    // Wrong or Bearer tokens: 401 verify.token.
    for bad in [format!("Bearer {token}"), "nope".to_owned()] {
        let c = MaxClient::new(&s.base, Token::new(&bad), None).unwrap();
        match c.me().await {
            Err(ApiError::Platform {
                status: 401, code, ..
            }) => assert_eq!(code, "verify.token"),
            other => panic!("{other:?}"),
        }
    }
    // Members paged by the opaque marker until it ends (100 a page asked).
    assert_eq!(client.all_members(-5).await.unwrap().len(), 45);
    // A read answered 429 is repeated.
    s.throttle(1);
    assert_eq!(client.me().await.unwrap().user_id, 7_000_001);
    // 200 {success:false} is an error too.
    match client.add_members(-5, &[1, 2]).await {
        Err(ApiError::Platform {
            status: 200, code, ..
        }) => assert_eq!(code, "add.participant.privacy"),
        other => panic!("{other:?}"),
    }
    // A message's seq beyond 2^53 comes back exact.
    let msg = |text: &str, notify: bool| NewMessage {
        text: text.to_owned(),
        format: "html",
        attachments: Vec::new(),
        notify,
    };
    let sent = client.send_message(-5, &msg("Привет", true)).await.unwrap();
    assert_eq!(sent.seq, 9_007_199_254_740_993);
    // A channel refuses notify:false; nothing over 4000 characters leaves the portal.
    assert!(client.send_message(-6, &msg("Тихо", false)).await.is_err());
    let before = s.seen("POST", "/messages").len();
    assert!(
        client
            .send_message(-5, &msg(&"я".repeat(4001), true))
            .await
            .is_err()
    );
    assert_eq!(s.seen("POST", "/messages").len(), before);
    // attachment.not.ready: sent again, posted once.
    s.attachment_not_ready_once();
    let mut with_file = msg("Файл", true);
    with_file.attachments = vec![serde_json::json!({"type": "file", "payload": {"token": "f1"}})];
    assert!(client.send_message(-5, &with_file).await.is_ok());
    assert_eq!(s.seen("POST", "/messages").len(), before + 2);
    // A bad count is the platform's 400; GET /chats is gone.
    assert!(
        s.requests()
            .iter()
            .all(|r| r.query.is_empty() || !r.query.contains("v="))
    );
    assert!(s.requests().iter().filter(|r| r.path == "/me").all(|r| {
        r.authorization
            .as_deref()
            .is_some_and(|a| !a.starts_with("Bearer"))
            || r.authorization.as_deref() != Some(token.as_str())
    }));
}
