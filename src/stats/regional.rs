//! The read-only regional role (issue 11, item 6): «специалист органа управления
//! образованием», appointed by the deployment operator for one municipality or for the
//! whole region. They see the region's view and each school's aggregates (never a person),
//! like the operator, limited to their municipality; they change nothing. The operator
//! appoints and revokes them here; both are audited. The proof of the role is
//! [`RegionViewer`](crate::auth::region::RegionViewer).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{Operator, RequestMeta};
use crate::error::AppResult;
use crate::ids::{AccountId, SpecialistId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub struct SpecialistRow {
    pub id: SpecialistId,
    pub name: String,
    pub email: String,
    pub municipality: String,
    pub appointed: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/specialists.html")]
struct Page {
    layout: Layout,
    rows: Vec<SpecialistRow>,
    form_key: FormKey,
    email: String,
    municipality: String,
    /// Under `email` and `municipality`, next to their fields; under `appoint`, the
    /// form's own (a revocation already made).
    errors: FormErrors,
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct AppointForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    email: String,
    #[serde(default)]
    municipality: String,
    /// Set to revoke that appointment instead.
    #[serde(default)]
    revoke: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

async fn render_page(
    state: &AppState,
    operator: &Operator,
    form: &AppointForm,
    errors: FormErrors,
    done: bool,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let rows = sqlx::query!(
        r#"select r.id, a.surname, a.given_name, a.patronymic, coalesce(a.email, '') as "email!",
                  coalesce(r.municipality, 'весь регион') as "municipality!", r.appointed_at
           from regional_specialists r join accounts a on a.id = r.account_id
           where r.revoked_at is null order by r.appointed_at"#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| SpecialistRow {
        id: SpecialistId(r.id),
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        email: r.email,
        municipality: r.municipality,
        appointed: format::datetime(r.appointed_at, "Europe/Moscow"),
    })
    .collect();
    Ok(Page {
        layout: Layout::for_actor(operator.actor()),
        rows,
        form_key: FormKey::default(),
        email: form.email.clone(),
        municipality: form.municipality.clone(),
        errors,
        done,
    }
    .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> AppResult<Response> {
    render_page(
        &state,
        &operator,
        &AppointForm::default(),
        FormErrors::none(),
        !q.done.is_empty(),
    )
    .await
}

pub async fn appoint(
    State(state): State<AppState>,
    operator: Operator,
    meta: RequestMeta,
    Form(form): Form<AppointForm>,
) -> AppResult<Response> {
    let revoke: Option<SpecialistId> = form.revoke.trim().parse().ok();
    let email = crate::web::form::normalize_email(&form.email);
    let municipality = form.municipality.trim().to_owned();
    if revoke.is_none() {
        let mut errors = FormErrors::none();
        if email.is_none() {
            errors.add(
                "email",
                "Укажите адрес электронной почты человека, у которого есть учётная запись.",
            );
        }
        if municipality.chars().count() > 200 {
            errors.add(
                "municipality",
                "Название муниципального образования — не длиннее 200 символов.",
            );
        }
        if !errors.is_empty() {
            return render_page(&state, &operator, &form, errors, false).await;
        }
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, operator.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let (action, target, details) = if let Some(id) = revoke {
        let n = sqlx::query!(
            "update regional_specialists set revoked_at = now() where id = $1 and revoked_at is null",
            id as SpecialistId
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return render_page(
                &state,
                &operator,
                &form,
                FormErrors::field("appoint", "Это назначение уже отменено."),
                false,
            )
            .await;
        }
        (
            "region.specialist_revoked",
            format!("specialist:{id}"),
            String::new(),
        )
    } else {
        let account = sqlx::query_scalar!(
            r#"select id as "id: AccountId" from accounts where email = $1 and deactivated_at is null
                 and not is_operator"#,
            email.as_deref()
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(account) = account else {
            drop(tx);
            return render_page(
                &state,
                &operator,
                &form,
                FormErrors::field("email", "Учётной записи с таким адресом нет: человек сначала регистрируется на портале."),
                false,
            )
            .await;
        };
        let id = SpecialistId::new();
        let n = sqlx::query!(
            r#"insert into regional_specialists (id, account_id, municipality, appointed_by)
               values ($1, $2, $3, $4) on conflict (account_id) where revoked_at is null do nothing"#,
            id as SpecialistId,
            account as AccountId,
            Some(municipality.as_str()).filter(|m| !m.is_empty()),
            operator.actor().id() as AccountId
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return render_page(
                &state,
                &operator,
                &form,
                FormErrors::field(
                    "email",
                    "Этот человек уже назначен специалистом: сначала отмените назначение.",
                ),
                false,
            )
            .await;
        }
        (
            "region.specialist_appointed",
            format!("account:{account}"),
            if municipality.is_empty() {
                "весь регион".to_owned()
            } else {
                municipality
            },
        )
    };
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(operator.actor().id()),
            school: None,
            action,
            target: Some(target),
            details: Some(details).filter(|d| !d.is_empty()),
        },
    )
    .await?;
    let url = "/operator/regional-specialists?done=1";
    form.form_key
        .done(&mut tx, operator.actor().id(), url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(url).into_response())
}

/// The start page of a regional specialist with no school of their own.
pub fn start() -> Response {
    Redirect::to("/region/stats").into_response()
}
