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

/// The student `login` leaves the school through «Выбытие ученика», as the administrator
/// records it.
async fn leave(w: &World, login: &str) {
    let admin = w.app.logged_in("admin@test.local").await;
    let res = crate::helpers::movements::student_leaves(
        &w.app,
        &admin,
        w.school.id,
        w.school.member(login),
        "77-о",
    )
    .await;
    assert_status(&res, 303);
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
    // A token the platform never gave is refused; an uploaded file's is taken.
    with_file.attachments = vec![serde_json::json!({"type": "file", "payload": {"token": "f1"}})];
    match client.send_message(-5, &with_file).await {
        Err(ApiError::Platform { code, .. }) => assert_eq!(code, "attachment.invalid"),
        other => panic!("{other:?}"),
    }
    let before = s.seen("POST", "/messages").len();
    let file = client
        .upload("file", "план.pdf", b"%PDF-1.4 plan".to_vec())
        .await
        .unwrap();
    assert_eq!(file["type"], "file");
    // The signed upload URL gets the file and never the token.
    let put = s.seen("POST", "/upload/0");
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].authorization, None);
    with_file.attachments = vec![file];
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

/// The 5А row's parents-in-chat cell on the compliance page, and whether the page explains
/// the platform's count.
async fn parents_in_chat(w: &World) -> (String, bool) {
    let admin = w.app.logged_in("admin@test.local").await;
    let res = w.app.get(&admin, &w.path("/compliance")).await;
    assert_status(&res, 200);
    let html = res.text().await.unwrap();
    let cell = select_texts(&html, "tr[data-class='5А'] td.parents-share").remove(0);
    (cell, !select_texts(&html, "#platform-hint").is_empty())
}

#[tokio::test]
async fn r2_1_l_the_compliance_page_counts_who_is_really_in_the_chat_while_the_bot_is_there() {
    let w = world().await;
    // Without the bot: the parents the portal put in the chat from the roster, all three.
    let before = parents_in_chat(&w).await;
    assert_eq!(before, ("3 из 3 (100 %)".to_owned(), false));
    assert_status(&w.configure().await, 303);
    everyone_binds(&w).await;
    // Bound, but the bot is not in the chat yet: still the portal's count.
    assert_eq!(parents_in_chat(&w).await, before);

    // The bot is in the chat and has read it: Anna and Boris are really there (the teacher
    // and the bot are not parents), Vera is not.
    w.standin.add_bot(
        PARENTS_CHAT,
        &["read_all_messages", "add_remove_members", "write"],
    );
    w.sync().await;
    let (cell, hint) = parents_in_chat(&w).await;
    assert_eq!(cell, "2 из 3 (66 %) по данным платформы");
    assert!(hint);
    // An outsider coming in by the link is no parent of 5А: the count stays.
    w.standin
        .join_by_link(PARENTS_CHAT, OUTSIDER_UID, "Посторонний Павел");
    w.sync().await;
    assert_eq!(
        parents_in_chat(&w).await.0,
        "2 из 3 (66 %) по данным платформы"
    );
    // Boris leaves the chat on the platform: the count follows.
    w.standin.leaves(PARENTS_CHAT, BORIS_UID);
    w.sync().await;
    assert_eq!(
        parents_in_chat(&w).await.0,
        "1 из 3 (33 %) по данным платформы"
    );
    let admin = w.app.logged_in("admin@test.local").await;
    let csv = w
        .app
        .get(&admin, &w.path("/compliance.csv"))
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].ends_with(";Светофор;По данным платформы"),
        "{}",
        lines[0]
    );
    let row = lines.iter().find(|l| l.starts_with("5А;")).unwrap();
    let fields: Vec<&str> = row.split(';').collect();
    assert_eq!(fields[10], "1", "parents in the chat: {row}");
    assert_eq!(fields[16], "чат родителей", "{row}");

    // The bot is removed from the chat: what it last saw is no longer the truth, the
    // portal's own count is back.
    w.standin.remove_bot(PARENTS_CHAT);
    w.sync().await;
    assert_eq!(parents_in_chat(&w).await, before);
}

/// The school's news channel in the portal and on the platform, the bot in it with the
/// right to write: (the portal's channel, the platform's id).
async fn news_channel(w: &World) -> (Uuid, i64) {
    let channel = Uuid::now_v7();
    sqlx::query(
        "insert into channels (school_id, id, title, address, created_by)
         values ($1, $2, 'Новости школы', 'https://max.ru/channel/school1-news', $3)",
    )
    .bind(w.school.id)
    .bind(channel)
    .bind(w.school.admin("admin@test.local"))
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
    (channel, news)
}

/// An approved post due a minute ago.
async fn due_post(w: &World, channel: Uuid, title: &str, body: &str) -> Uuid {
    let post = Uuid::now_v7();
    sqlx::query(
        "insert into posts (school_id, id, channel_id, author_id, title, body, state, publish_at)
         values ($1, $2, $3, $4, $5, $6, 'scheduled', now() - interval '1 minute')",
    )
    .bind(w.school.id)
    .bind(post)
    .bind(channel)
    .bind(w.school.admin("admin@test.local"))
    .bind(title)
    .bind(body)
    .execute(&w.app.db)
    .await
    .unwrap();
    post
}

async fn attach(w: &World, post: Uuid, name: &str, kind: &str, bytes: &[u8]) {
    sqlx::query(
        "insert into post_attachments (school_id, id, post_id, filename, content_type,
                                       size_bytes, content)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(w.school.id)
    .bind(Uuid::now_v7())
    .bind(post)
    .bind(name)
    .bind(kind)
    .bind(bytes.len() as i32)
    .bind(bytes)
    .execute(&w.app.db)
    .await
    .unwrap();
}

async fn publish_due(w: &World) -> usize {
    use school_portal::channels::publish::poll_once;
    use school_portal::connector::publishing::BotPublisher;
    poll_once(
        &w.app.db,
        &BotPublisher::new(Some(key(&w.app))),
        &w.app.base,
    )
    .await
    .unwrap()
    .due
}

const PNG_A: &[u8] = b"\x89PNG\r\n\x1a\nfirst picture";
const PNG_B: &[u8] = b"\x89PNG\r\n\x1a\nsecond picture";

#[tokio::test]
async fn r2_1_m_a_post_with_pictures_goes_out_with_its_uploads_even_when_the_platform_is_not_ready()
{
    let w = world().await;
    assert_status(&w.configure().await, 303);
    let (channel, news) = news_channel(&w).await;
    let post = due_post(&w, channel, "Ярмарка", "Фотографии с ярмарки.").await;
    attach(&w, post, "ярмарка-1.png", "image/png", PNG_A).await;
    attach(&w, post, "ярмарка-2.png", "image/png", PNG_B).await;
    // The platform has not processed the pictures when the message first comes.
    w.standin.attachment_not_ready_once();
    assert_eq!(publish_due(&w).await, 1);

    // Each picture: an upload slot, then the file to its signed URL (without the token).
    let slots = w.standin.seen("POST", "/uploads");
    assert_eq!(slots.len(), 2);
    assert!(slots.iter().all(|s| s.query == "type=image"));
    assert!(
        slots
            .iter()
            .all(|s| s.authorization.as_deref() == Some(w.token.as_str()))
    );
    let uploaded = w.standin.world.lock().unwrap().uploaded.clone();
    assert_eq!(uploaded.len(), 2);
    assert_eq!(uploaded[0].bytes, PNG_A);
    assert_eq!(uploaded[1].bytes, PNG_B);
    assert_eq!(uploaded[0].filename, "ярмарка-1.png");
    for n in 0..2 {
        let put = w.standin.seen("POST", &format!("/upload/{n}"));
        assert_eq!(put.len(), 1);
        assert_eq!(put[0].authorization, None);
    }
    // attachment.not.ready: the same message sent again, posted once, with both tokens.
    let sent = w.standin.seen("POST", "/messages");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, sent[1].body);
    assert_eq!(sent[1].query, format!("chat_id={news}"));
    let messages = w.standin.world.lock().unwrap().messages.clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["attachments"],
        serde_json::json!([
            {"type": "image", "payload": {"photos": {"photo0": {"token": "image-token-0"}}}},
            {"type": "image", "payload": {"photos": {"photo1": {"token": "image-token-1"}}}},
        ])
    );
    assert_eq!(
        messages[0]["text"],
        "<b>Ярмарка</b>\n\nФотографии с ярмарки."
    );
    let (state, mid): (String, Option<String>) =
        sqlx::query_as("select state, platform_mid from posts where id = $1")
            .bind(post)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(state, "published");
    assert!(mid.is_some());
}

#[tokio::test]
async fn r2_1_m_a_refused_publication_is_shown_to_the_administrator_in_the_platforms_words() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    let (channel, news) = news_channel(&w).await;
    let post = due_post(&w, channel, "Объявление", "Текст.").await;
    // The channel's owner took the bot's right to write.
    w.standin
        .world
        .lock()
        .unwrap()
        .chats
        .get_mut(&news)
        .unwrap()
        .bot_permissions
        .clear();
    assert_eq!(publish_due(&w).await, 1);
    let state: String = sqlx::query_scalar("select state from posts where id = $1")
        .bind(post)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(state, "scheduled", "left for the administrator to publish");
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path(&format!("/posts/{post}")))
        .await
        .text()
        .await
        .unwrap();
    let note = select_texts(&html, "#platform-error");
    assert_eq!(note.len(), 1, "{html}");
    assert!(
        note[0].contains("Бот школы не смог опубликовать её"),
        "{}",
        note[0]
    );
    assert!(
        note[0].contains("«Cannot write» (chat.denied)"),
        "{}",
        note[0]
    );
    assert!(!select_texts(&html, "#due-note").is_empty());
}

/// The post's page for the administrator; the form of `action` on it, its key.
async fn post_form(w: &World, post: Uuid, action: &str) -> (reqwest::Client, String) {
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path(&format!("/posts/{post}")))
        .await
        .text()
        .await
        .unwrap();
    let key = select_attr(
        &html,
        &format!(
            "form[action='{}'] input[name=form_key]",
            w.path(&format!("/posts/{post}/{action}"))
        ),
        "value",
    )
    .remove(0);
    (admin, key)
}

#[tokio::test]
async fn r2_1_m_a_published_post_is_corrected_and_withdrawn_on_the_platform_too() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    let (channel, _) = news_channel(&w).await;
    let first = due_post(&w, channel, "Собрание", "Собрание в 18:00.").await;
    let second = due_post(&w, channel, "Экскурсия", "Экскурсия в пятницу.").await;
    assert_eq!(publish_due(&w).await, 2);
    let mid_of = |post: Uuid| {
        let db = w.app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("select platform_mid from posts where id = $1")
                .bind(post)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let mid = mid_of(first).await;

    // The administrator corrects the time: PUT /messages with the message's id, the new
    // text as the platform's HTML; sent twice, sent once.
    let (admin, key) = post_form(&w, first, "edit").await;
    let edit = w.path(&format!("/posts/{first}/edit"));
    let form = [
        ("title", "Собрание"),
        ("body", "Собрание в 19:00 <в актовом зале>."),
        ("submit", "no"),
        ("form_key", key.as_str()),
    ];
    let (a, b) = tokio::join!(
        w.app.post(&admin, &edit, &form),
        w.app.post(&admin, &edit, &form)
    );
    assert_redirect(&a, &w.path(&format!("/posts/{first}")));
    assert_redirect(&b, &w.path(&format!("/posts/{first}")));
    let edits = w.standin.world.lock().unwrap().edits.clone();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].0, mid);
    assert_eq!(
        edits[0].1["text"],
        "<b>Собрание</b>\n\nСобрание в 19:00 &lt;в актовом зале&gt;."
    );
    assert_eq!(edits[0].1["format"], "html");
    let puts = w.standin.seen("PUT", "/messages");
    assert_eq!(puts[0].query, format!("message_id={mid}"));

    // The platform refuses the next correction: the text stays what the platform shows,
    // what was typed stays in the form, the platform's words are on the page.
    w.standin.refuse_next_change();
    let (admin, key) = post_form(&w, first, "edit").await;
    let res = w
        .app
        .post(
            &admin,
            &edit,
            &[
                ("title", "Собрание"),
                ("body", "Собрание в 20:00."),
                ("submit", "no"),
                ("form_key", key.as_str()),
            ],
        )
        .await;
    assert_status(&res, 409);
    let html = res.text().await.unwrap();
    assert!(select_texts(&html, "#message")[0].contains("Платформа не приняла изменение"));
    assert!(
        select_texts(&html, "#platform-error")[0]
            .contains("«Message is too old to be edited» (message.edit.denied)")
    );
    assert_eq!(select_texts(&html, "#body"), ["Собрание в 20:00."]);
    let body: String = sqlx::query_scalar("select body from posts where id = $1")
        .bind(first)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(body, "Собрание в 19:00 <в актовом зале>.");

    // Withdrawn in the portal: DELETE /messages, and the portal clears the refusal.
    let (admin, key) = post_form(&w, first, "withdraw").await;
    let res = w
        .app
        .post(
            &admin,
            &w.path(&format!("/posts/{first}/withdraw")),
            &[("reason", ""), ("form_key", key.as_str())],
        )
        .await;
    assert_redirect(&res, &w.path(&format!("/posts/{first}")));
    assert_eq!(w.standin.world.lock().unwrap().deleted, [mid.as_str()]);
    assert_eq!(
        w.standin.seen("DELETE", "/messages")[0].query,
        format!("message_id={mid}")
    );
    let html = w
        .app
        .get(&admin, &w.path(&format!("/posts/{first}")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&html, "#post-state"), ["снят"]);
    assert!(select_texts(&html, "#platform-error").is_empty());

    // The platform refuses to delete the second: the portal's withdrawal stands, and the
    // administrator is told to remove it there by hand, in the platform's words.
    w.standin.refuse_next_change();
    let (admin, key) = post_form(&w, second, "withdraw").await;
    let res = w
        .app
        .post(
            &admin,
            &w.path(&format!("/posts/{second}/withdraw")),
            &[("reason", ""), ("form_key", key.as_str())],
        )
        .await;
    assert_redirect(&res, &w.path(&format!("/posts/{second}")));
    let html = w
        .app
        .get(&admin, &w.path(&format!("/posts/{second}")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&html, "#post-state"), ["снят"]);
    let note = select_texts(&html, "#platform-error").remove(0);
    assert!(note.contains("удалите её там вручную"), "{note}");
    assert!(note.contains("«Message is too old to be deleted» (message.delete.denied)"));
    assert_eq!(w.standin.world.lock().unwrap().deleted.len(), 1);
}

#[tokio::test]
async fn a_chat_the_platform_made_itself_is_adopted_as_5as_students_chat() {
    let w = world().await;
    assert_status(&w.configure().await, 303);
    // 5А's students chat was made on the platform (the study profile's class chat, say);
    // the portal has none.
    let made = -70_000_000_000_888;
    w.standin.chat(
        made,
        "5А — ученики (Сферум)",
        "https://max.ru/join/5a-kids-Zq1",
        false,
    );
    w.standin.member(made, TEACHER_UID, "Ульяна У.", true);
    w.standin.member(made, 301, "Аня", false);
    w.standin
        .add_bot(made, &["read_all_messages", "add_remove_members"]);
    w.sync().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    let form = format!("#adopt form[data-platform-chat='{made}']");
    assert!(
        select_texts(&html, &format!("{form} legend"))[0]
            .contains("Принять «5А — ученики (Сферум)» как обязательный чат класса")
    );
    let kinds = select_texts(&html, &format!("{form} select[name=kind] option"));
    assert!(
        kinds.iter().any(|k| k == "чат учеников класса"),
        "{kinds:?}"
    );
    let key = select_attr(&html, &format!("{form} input[name=form_key]"), "value").remove(0);
    let class = w.school.class("5А").to_string();
    let platform = made.to_string();
    let path = w.path("/connector/chats/adopt");

    // Nothing chosen: the page again, with the message; 5А already has a parents chat.
    for (kind, message) in [
        ("", "Выберите класс и какой это чат."),
        (
            "class_parents",
            "У класса уже есть такой чат на портале: выберите его в списке «это…» выше.",
        ),
    ] {
        let res = w
            .app
            .post(
                &admin,
                &path,
                &[
                    ("platform_chat_id", platform.as_str()),
                    ("class_id", class.as_str()),
                    ("kind", kind),
                    ("form_key", key.as_str()),
                ],
            )
            .await;
        assert_status(&res, 200);
        assert_eq!(
            select_texts(&res.text().await.unwrap(), "#adopt-error"),
            [message]
        );
    }

    // Adopted as 5А's students chat; sent twice, one chat.
    let form = [
        ("platform_chat_id", platform.as_str()),
        ("class_id", class.as_str()),
        ("kind", "class_students"),
        ("form_key", key.as_str()),
    ];
    let (a, b) = tokio::join!(
        w.app.post(&admin, &path, &form),
        w.app.post(&admin, &path, &form)
    );
    assert_eq!(location(&a), location(&b));
    let (chat, title, url): (Uuid, String, Option<String>) =
        sqlx::query_as("select id, title, platform_url from chats where kind = 'class_students'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_redirect(&a, &w.path(&format!("/chats/{chat}")));
    assert_eq!(title, "5А — ученики (Сферум)");
    assert_eq!(url.as_deref(), Some("https://max.ru/join/5a-kids-Zq1"));
    let bound: Option<Uuid> =
        sqlx::query_scalar("select chat_id from connector_chats where platform_chat_id = $1")
            .bind(made)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(bound, Some(chat));
    let adopted: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'connector.chat_adopted'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(adopted, 1);

    // The chat is 5А's now: filled from the roster, and its page shows the platform's side
    // (the three pupils and their class teacher expected; nobody bound yet, so the
    // platform's Аня is not recognised).
    let teacher = w.app.logged_in("teacher@test.local").await;
    let html = w
        .app
        .get(&teacher, &w.path(&format!("/chats/{chat}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&html, "#platform-title")[0].contains("5А — ученики (Сферум)"));
    let absent = select_texts(&html, "#absent li");
    assert_eq!(absent.len(), 4, "{absent:?}");
    assert!(absent.iter().any(|a| a.contains("Учителева Ульяна")));
    // Nothing left to recognise on the bot's page.
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_texts(&html, "#adopt").is_empty());
}

async fn removal_state(w: &World, uid: i64) -> Option<(String, bool)> {
    sqlx::query_as("select state, automatic from connector_removals where user_id = $1")
        .bind(uid)
        .fetch_optional(&w.app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn r2_1_l_with_the_school_setting_on_those_who_left_are_removed_without_a_confirmation() {
    use school_portal::connector::leavers::remove_leavers;
    let w = world().await;
    assert_status(&w.configure().await, 303);
    everyone_binds(&w).await;
    w.standin.add_bot(
        PARENTS_CHAT,
        &["read_all_messages", "add_remove_members", "write"],
    );
    w.standin
        .join_by_link(PARENTS_CHAT, OUTSIDER_UID, "Посторонний Павел");
    w.sync().await;
    let members = format!("/chats/{PARENTS_CHAT}/members");

    // Off by default: Anya leaves, her mother is only proposed for removal.
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    assert!(select_attr(&html, "#remove-leavers", "checked").is_empty());
    leave(&w, "anya-kid@test.local").await;
    assert_eq!(
        remove_leavers(&w.app.db, Some(&key(&w.app))).await.unwrap(),
        0
    );
    assert!(w.standin.seen("DELETE", &members).is_empty());

    // The administrator turns it on.
    let key_value = select_attr(
        &html,
        &format!(
            "form[action='{}'] input[name=form_key]",
            w.path("/connector/leavers")
        ),
        "value",
    )
    .remove(0);
    // Sent twice: one change, audited once.
    let form = [("automatic", "yes"), ("form_key", key_value.as_str())];
    let path = w.path("/connector/leavers");
    let (a, b) = tokio::join!(
        w.app.post(&admin, &path, &form),
        w.app.post(&admin, &path, &form)
    );
    assert_redirect(&a, &w.path("/connector?saved=1"));
    assert_redirect(&b, &w.path("/connector?saved=1"));
    let changes: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'connector.leavers_setting'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(changes, 1);
    let html = w
        .app
        .get(&admin, &w.path("/connector"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_attr(&html, "#remove-leavers", "checked").len(), 1);

    // The worker removes Anna, who left the school with her only child; not the outsider
    // (who he is the portal does not know) nor anyone still at school. Twice: once.
    assert_eq!(
        remove_leavers(&w.app.db, Some(&key(&w.app))).await.unwrap(),
        1
    );
    assert_eq!(
        remove_leavers(&w.app.db, Some(&key(&w.app))).await.unwrap(),
        0
    );
    let deletes = w.standin.seen("DELETE", &members);
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].query, format!("user_id={ANNA_UID}"));
    assert_eq!(
        removal_state(&w, ANNA_UID).await,
        Some(("sent".to_owned(), true))
    );
    assert_eq!(removal_state(&w, OUTSIDER_UID).await, None);

    // The platform's user_removed closes it, as a confirmed removal.
    w.sync().await;
    assert_eq!(
        removal_state(&w, ANNA_UID).await,
        Some(("done".to_owned(), true))
    );
    let audit = w.app.audit_actions().await;
    for action in [
        "connector.leavers_setting",
        "connector.removal_automatic",
        "connector.removal_confirmed",
    ] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }
    let html = w.chat_page("teacher@test.local").await;
    let rows = select_texts(&html, "#present-unexpected tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("Посторонний Павел"));
}

#[tokio::test]
async fn the_token_never_appears_in_the_log_while_configuring_publishing_and_removing() {
    let w = world().await;
    let ((), log) = crate::helpers::log::logged(async {
        assert_status(&w.configure().await, 303);
        // A refused token is logged about too, if at all, without itself.
        let wrong = format!("{}-wrong", w.token);
        let c = school_portal::connector::client::MaxClient::new(
            &w.standin.base,
            school_portal::connector::config::Token::new(&wrong),
            None,
        )
        .unwrap();
        assert!(c.me().await.is_err());
        everyone_binds(&w).await;
        w.standin.add_bot(
            PARENTS_CHAT,
            &["read_all_messages", "add_remove_members", "write"],
        );
        w.sync().await;
        let (channel, _) = news_channel(&w).await;
        let post = due_post(&w, channel, "Новость", "Текст.").await;
        attach(&w, post, "фото.png", "image/png", PNG_A).await;
        assert_eq!(publish_due(&w).await, 1);
        leave(&w, "anya-kid@test.local").await;
        sqlx::query("update connector_bots set remove_leavers = true")
            .execute(&w.app.db)
            .await
            .unwrap();
        assert_eq!(
            school_portal::connector::leavers::remove_leavers(&w.app.db, Some(&key(&w.app)))
                .await
                .unwrap(),
            1
        );
        w.sync().await;
    })
    .await;
    // The log is there (requests, the platform's calls), and the token is not in it.
    assert!(log.contains("started processing request"), "{log}");
    assert!(log.contains("finished processing request"), "{log}");
    let standin = w.standin.base.trim_start_matches("http://");
    assert!(
        log.contains(&format!("connecting to {standin}")),
        "the calls to the platform are logged"
    );
    assert!(!log.contains(&w.token), "the token in the log");
    let secret_part = &w.token[w.token.len() - 12..];
    assert!(!log.contains(secret_part), "a part of the token in the log");
}
