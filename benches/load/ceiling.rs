//! The bare ceiling page for `benches/load.sh` (issue 10): the same crates as the portal
//! (axum, sqlx, askama) and nothing else — one query of 50 rows (a school's first 50 memberships by the
//! (school_id, id) index with their accounts, from the tables the people list reads), rendered by a template.
//! Whatever the portal costs on top of this (sessions, scope, layout, its own queries) is
//! the ratio the benchmark prints.
//!
//! `DATABASE_URL=… CEILING_ADDR=127.0.0.1:18081 CEILING_SCHOOL=<uuid>
//!  cargo run --release --bin ceiling`

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Люди</title></head>
<body><main><h1>Люди</h1>
<table><thead><tr><th>ФИО</th><th>Роль</th><th>E-mail</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.surname }} {{ r.given_name }}{% if let Some(p) = r.patronymic %} {{ p }}{% endif %}</td><td>{{ r.role }}</td><td>{% if let Some(e) = r.email %}{{ e }}{% endif %}</td></tr>
{% endfor %}</tbody></table></main></body></html>"#
)]
struct Page {
    rows: Vec<Row>,
}

#[derive(sqlx::FromRow)]
struct Row {
    surname: String,
    given_name: String,
    patronymic: Option<String>,
    role: String,
    email: Option<String>,
}

#[derive(Clone)]
struct AppState {
    db: PgPool,
    school: Uuid,
}

async fn page(State(state): State<AppState>) -> Response {
    let rows = sqlx::query_as::<_, Row>(
        r#"select a.surname, a.given_name, a.patronymic, m.role, a.email
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1
           order by m.id
           limit 50"#,
    )
    .bind(state.school)
    .fetch_all(&state.db)
    .await;
    match rows.map(|rows| Page { rows }.render()) {
        Ok(Ok(html)) => Html(html).into_response(),
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let addr: SocketAddr = std::env::var("CEILING_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:18081".into())
        .parse()?;
    let school: Uuid = std::env::var("CEILING_SCHOOL")
        .unwrap_or_else(|_| "01900000-0000-7000-8000-00de00000001".into())
        .parse()?;
    let db = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/", get(page))
        .with_state(AppState { db, school });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
