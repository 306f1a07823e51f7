//! Test helpers: the application on a real socket against a fresh database, clients that
//! keep cookies, fixtures (schools, people, roles), and HTML assertions.

#![allow(dead_code)]

pub mod db;
pub mod log;
pub mod max_standin;
pub mod movements;
pub mod school;
pub mod smtp;

pub use school::School;

use std::net::SocketAddr;
use std::sync::OnceLock;

use reqwest::header::HeaderMap;
use school_portal::AppState;
use school_portal::config::{Config, WebConfig};
use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};
use scraper::{Html, Selector};
use sqlx::PgPool;
use uuid::Uuid;

/// The password every fixture person has.
pub const PASSWORD: &str = "correct horse battery staple";

/// Its hash, computed once per test process.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| school_portal::auth::password::hash_blocking(PASSWORD).expect("hash"))
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db: PgPool,
    pub db_url: String,
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
    /// Keeps the test's database alive while this application runs (dropped after the
    /// last one: `db::TestDb`).
    _database: Option<db::TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn db_config(url: &str) -> Config {
    Config {
        database_url: Some(url.to_owned()),
        data_dir: "./data".into(),
        db_max_connections: 5,
        db_acquire_timeout_secs: 3,
        db_statement_timeout_secs: 15,
        db_lock_timeout_secs: 5,
        db_plan_cache_mode: "force_generic_plan".to_owned(),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(WebConfig::default()).await
    }

    pub async fn spawn_with(config: WebConfig) -> Self {
        let database = db::fresh_database().await;
        Self::spawn_on(&database, config).await
    }

    /// Another application process on the same database (a restart, or a second node
    /// behind a load balancer).
    pub async fn spawn_on(url: &str, config: WebConfig) -> Self {
        Self::spawn_on_with(url, &db_config(url), config).await
    }

    /// An application on `url` with its own pool settings (timeouts, pool size).
    pub async fn spawn_on_with(url: &str, db: &Config, config: WebConfig) -> Self {
        // The capturing subscriber is there before any server runs (see `log`).
        log::install();
        let pool = school_portal::db::connect(db, url)
            .await
            .expect("connect test database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let state = AppState::new(pool.clone(), config, &base);
        let app =
            school_portal::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestApp {
            addr,
            base,
            db: pool,
            db_url: url.to_owned(),
            state,
            server,
            _database: db::holder_of(url),
        }
    }

    /// A browser-like client: keeps cookies, does not follow redirects (tests assert them).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Logs in; returns the login response (a 303 on success).
    pub async fn login(
        &self,
        client: &reqwest::Client,
        login: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post(
            client,
            "/login",
            &[("login", login), ("password", password), ("next", "/")],
        )
        .await
    }

    /// A client logged in as `login` with the fixture password.
    pub async fn logged_in(&self, login: &str) -> reqwest::Client {
        let client = self.client();
        let res = self.login(&client, login, PASSWORD).await;
        assert_eq!(res.status(), 303, "login as {login} failed");
        client
    }

    // ---- fixtures ----------------------------------------------------------------------

    pub async fn school(&self, name: &str) -> SchoolId {
        let id = SchoolId::new();
        let mut conn = self.db.acquire().await.expect("conn");
        school_portal::schools::create_school(
            &mut conn,
            school_portal::auth::tenant::Tenant::for_tests(id),
            name,
            None,
            "Europe/Moscow",
        )
        .await
        .expect("create school");
        id
    }

    pub async fn account(&self, email: &str, surname: &str, given: &str) -> AccountId {
        let id = AccountId::new();
        sqlx::query(
            "insert into accounts (id, surname, given_name, patronymic, email, password_hash, security_stamp)
             values ($1, $2, $3, 'Иванович', $4, $5, gen_random_uuid())",
        )
        .bind(id)
        .bind(surname)
        .bind(given)
        .bind(email)
        .bind(password_hash())
        .execute(&self.db)
        .await
        .expect("account");
        id
    }

    pub async fn operator(&self, email: &str) -> AccountId {
        let id = self.account(email, "Операторов", "Олег").await;
        sqlx::query("update accounts set is_operator = true where id = $1")
            .bind(id)
            .execute(&self.db)
            .await
            .expect("operator");
        id
    }

    /// A class of the school's current year.
    pub async fn class(&self, school: SchoolId, grade: i16, letter: &str) -> ClassId {
        let id = ClassId::new();
        sqlx::query(
            "insert into classes (school_id, id, kind, academic_year_id, grade, letter, title)
             select $1, $2, 'class', y.id, $3, $4, $3::text || $4 from academic_years y
             where y.school_id = $1 and y.is_current",
        )
        .bind(school)
        .bind(id)
        .bind(grade)
        .bind(letter)
        .execute(&self.db)
        .await
        .expect("class");
        id
    }

    /// A member with a role; staff roles go to the «Учительская», students to `class`.
    pub async fn member(
        &self,
        school: SchoolId,
        account: AccountId,
        role: &str,
        class: Option<ClassId>,
    ) -> MembershipId {
        let id = MembershipId::new();
        let staff = ["director", "deputy", "teacher", "staff"].contains(&role);
        sqlx::query(
            "insert into memberships (school_id, id, account_id, role, class_id, verification)
             values ($1, $2, $3, $4,
                     coalesce($5, case when $6 then (select id from classes where school_id = $1 and kind = 'staffroom') end),
                     case when $6 then 'verified' end)",
        )
        .bind(school)
        .bind(id)
        .bind(account)
        .bind(role)
        .bind(class)
        .bind(staff)
        .execute(&self.db)
        .await
        .expect("membership");
        id
    }

    /// A person with an account and a role, in one step.
    pub async fn person(
        &self,
        school: SchoolId,
        email: &str,
        role: &str,
        class: Option<ClassId>,
    ) -> (AccountId, MembershipId) {
        let account = self.account(email, "Петров", "Пётр").await;
        let m = self.member(school, account, role, class).await;
        (account, m)
    }

    /// A platform administrator of the school (staff member with an approved grant).
    pub async fn admin(&self, school: SchoolId, email: &str) -> AccountId {
        let (account, _) = self.person(school, email, "staff", None).await;
        let op = self
            .operator(&format!("op-{}@test.local", Uuid::new_v4()))
            .await;
        let mut conn = self.db.acquire().await.expect("conn");
        school_portal::schools::grant_admin(
            &mut conn,
            school_portal::auth::tenant::Tenant::for_tests(school),
            account,
            op,
            "1-о",
            time::macros::date!(2025 - 09 - 01),
        )
        .await
        .expect("grant");
        account
    }

    pub async fn class_teacher(&self, school: SchoolId, class: ClassId, teacher: MembershipId) {
        sqlx::query(
            "insert into class_teacher_assignments (school_id, id, class_id, teacher_id, order_number, order_date)
             values ($1, gen_random_uuid(), $2, $3, '5-о', date '2025-08-30')",
        )
        .bind(school)
        .bind(class)
        .bind(teacher)
        .execute(&self.db)
        .await
        .expect("class teacher");
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_scalar("select action from audit_log order by id")
            .fetch_all(&self.db)
            .await
            .expect("audit")
    }
}

/// id, surname, given name, e-mail, phone, role, child, position.
type OfferRow = (
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<Uuid>,
    Option<String>,
);

/// Every pending offer of the school answered «Принять», as the people themselves would
/// (SECURITY.md 35: an import invites, the person joins): a fixture for tests that need the
/// invited people to be members.
pub async fn everyone_accepts(app: &TestApp, school: SchoolId) {
    let offers: Vec<OfferRow> = sqlx::query_as(
        "select id, surname, given_name, email, phone, role, child_id, position from offers
             where school_id = $1 and status = 'pending' order by created_at, id",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap();
    for (id, surname, given, email, phone, role, child, position) in offers {
        let account: Uuid = match sqlx::query_scalar(
            "select id from accounts where (email = $1 and $1 is not null) or (phone = $2 and $2 is not null)",
        )
        .bind(&email)
        .bind(&phone)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        {
            Some(a) => a,
            None => sqlx::query_scalar(
                "insert into accounts (id, surname, given_name, email, phone, security_stamp)
                 values (gen_random_uuid(), $1, $2, $3, $4, gen_random_uuid()) returning id",
            )
            .bind(&surname)
            .bind(&given)
            .bind(&email)
            .bind(&phone)
            .fetch_one(&app.db)
            .await
            .unwrap(),
        };
        let staff = role != "parent";
        let member: Uuid = sqlx::query_scalar(
            "insert into memberships (school_id, id, account_id, role, class_id, verification, position)
             values ($1, gen_random_uuid(), $2, $3,
                     case when $4 then (select id from classes where school_id = $1 and kind = 'staffroom') end,
                     case when $4 then 'unverified' end, $5)
             on conflict (school_id, account_id, role) do update set status = 'active'
             returning id",
        )
        .bind(school)
        .bind(account)
        .bind(&role)
        .bind(staff)
        .bind(&position)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if let Some(child) = child {
            sqlx::query("insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3) on conflict do nothing")
                .bind(school)
                .bind(member)
                .bind(child)
                .execute(&app.db)
                .await
                .unwrap();
        }
        sqlx::query("update offers set status = 'accepted', decided_at = now(), decided_by = $2 where id = $1")
            .bind(id)
            .bind(account)
            .execute(&app.db)
            .await
            .unwrap();
    }
}

// ---- assertions ----------------------------------------------------------------------

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The response has this status (the body is not read, so the response stays usable).
#[track_caller]
pub fn assert_status(res: &reqwest::Response, status: u16) {
    assert_eq!(
        res.status().as_u16(),
        status,
        "{} {}: expected {status}",
        res.status(),
        res.url().path()
    );
}

/// The response is a 303 to exactly `to` (a path with its query).
#[track_caller]
pub fn assert_redirect(res: &reqwest::Response, to: &str) {
    assert_status(res, 303);
    assert_eq!(location(res), to, "redirect from {}", res.url().path());
}

/// The response is the not-found page: another school's or a missing object is a 404,
/// never a 403 that would tell it exists.
#[track_caller]
pub fn assert_not_found(res: &reqwest::Response) {
    assert_status(res, 404);
}

#[track_caller]
pub fn assert_login_redirect(res: &reqwest::Response) {
    assert_eq!(res.status(), 303, "expected a redirect to login");
    assert!(
        location(res).starts_with("/login"),
        "redirected to {}",
        location(res)
    );
}

/// Texts of the elements a CSS selector finds.
pub fn select_texts(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn select_attr(html: &str, selector: &str, attr: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}
