//! The school's profile (R2.1.c): everyone in the school reads it; the administrator
//! edits it, and each edit is written to the audit log with what changed.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::{self, TIMEZONES};
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/profile",
        Access::School(Action::ViewSchoolProfile),
        show,
    )
    .get(
        "/s/{school_id}/profile/edit",
        Access::School(Action::EditSchoolProfile),
        edit_page,
    )
    .post(
        "/s/{school_id}/profile",
        Access::School(Action::EditSchoolProfile),
        update,
    )
}

/// The profile's fields, as the form carries them.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
pub struct ProfileForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub short_name: String,
    #[serde(default)]
    pub inn: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub director_name: String,
    #[serde(default)]
    pub timezone: String,
    /// The municipality, for the region's statistics (issue 11).
    #[serde(default)]
    pub municipality: String,
}

impl ProfileForm {
    /// Field name, Russian label, value: for the page and for the audit of changes.
    fn fields(&self) -> [(&'static str, &'static str, &str); 10] {
        [
            ("name", "Полное название", &self.name),
            ("short_name", "Краткое название", &self.short_name),
            ("inn", "ИНН", &self.inn),
            ("address", "Адрес", &self.address),
            ("phone", "Телефон", &self.phone),
            ("email", "Электронная почта", &self.email),
            ("website", "Сайт", &self.website),
            ("director_name", "Директор", &self.director_name),
            ("timezone", "Часовой пояс", &self.timezone),
            (
                "municipality",
                "Муниципальное образование",
                &self.municipality,
            ),
        ]
    }
}

async fn load(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<ProfileForm> {
    let school = tenant.id();
    let r = sqlx::query!(
        r#"select name, short_name, inn, address, phone, email, website, director_name, timezone,
                  municipality
           from schools where id = $1"#,
        school as SchoolId
    )
    .fetch_one(conn)
    .await?;
    Ok(ProfileForm {
        name: r.name,
        short_name: r.short_name.unwrap_or_default(),
        inn: r.inn.unwrap_or_default(),
        address: r.address.unwrap_or_default(),
        phone: r.phone.as_deref().map(format::phone).unwrap_or_default(),
        email: r.email.unwrap_or_default(),
        website: r.website.unwrap_or_default(),
        director_name: r.director_name.unwrap_or_default(),
        timezone: r.timezone,
        municipality: r.municipality.unwrap_or_default(),
    })
}

fn timezone_label(tz: &str) -> &'static str {
    TIMEZONES
        .iter()
        .find(|(name, _, _)| *name == tz)
        .map(|(_, _, label)| *label)
        .unwrap_or("Москва (МСК)")
}

#[derive(Template, WebTemplate)]
#[template(path = "schools/profile.html")]
struct ShowPage {
    layout: Layout,
    school_id: SchoolId,
    rows: Vec<(&'static str, String)>,
    can_edit: bool,
    saved: bool,
    /// The registration application's state (R2.1.a), for the administrator.
    registration: Option<&'static str>,
    /// The school's bot on the platform, for the administrator (issue 15): its state, or
    /// the offer to set one up.
    bot: Option<crate::connector::pages::BotState>,
    can_bot: bool,
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<SavedQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewSchoolProfile)?;
    let mut conn = state.db.acquire().await?;
    let profile = load(&mut conn, scope.tenant()).await?;
    let rows = profile
        .fields()
        .iter()
        .map(|(field, label, value)| {
            let shown = if *field == "timezone" {
                timezone_label(value).to_owned()
            } else if value.is_empty() {
                "—".to_owned()
            } else {
                (*value).to_owned()
            };
            (*label, shown)
        })
        .collect();
    Ok(ShowPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        rows,
        can_edit: scope.can(Action::EditSchoolProfile),
        saved: q.saved.is_some(),
        registration: match scope.can(Action::EditSchoolProfile) {
            true => Some(crate::registration::latest_state(&mut conn, &scope).await?),
            false => None,
        },
        bot: match scope.can(Action::ManageConnector) {
            true => {
                crate::connector::pages::state_of(&mut conn, scope.tenant(), scope.timezone())
                    .await?
            }
            false => None,
        },
        can_bot: scope.can(Action::ManageConnector),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "schools/profile_edit.html")]
struct EditPage {
    layout: Layout,
    school_id: SchoolId,
    form: ProfileForm,
    errors: FormErrors,
    timezones: &'static [(&'static str, i8, &'static str)],
}

async fn edit_page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::EditSchoolProfile)?;
    let mut conn = state.db.acquire().await?;
    let form = load(&mut conn, scope.tenant()).await?;
    Ok(EditPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form,
        errors: FormErrors::default(),
        timezones: TIMEZONES,
    }
    .into_response())
}

/// Checks and normalises the form; errors are by field, in Russian.
fn validate(form: &ProfileForm) -> Result<ProfileForm, FormErrors> {
    let mut errors = FormErrors::default();
    let t = |s: &str| s.trim().to_owned();
    let mut out = ProfileForm {
        name: t(&form.name),
        short_name: t(&form.short_name),
        inn: t(&form.inn),
        address: t(&form.address),
        phone: t(&form.phone),
        email: t(&form.email),
        website: t(&form.website),
        director_name: t(&form.director_name),
        timezone: t(&form.timezone),
        municipality: t(&form.municipality),
    };
    if out.name.is_empty() {
        errors.add("name", "Укажите полное название школы.");
    }
    for (field, _, value) in out.fields() {
        if value.chars().count() > 300 {
            errors.add(field, "Не длиннее 300 символов.");
        }
    }
    let inn_ok = out.inn.len() == 10 && out.inn.chars().all(|c| c.is_ascii_digit());
    if !out.inn.is_empty() && !inn_ok {
        errors.add("inn", "ИНН школы — 10 цифр.");
    }
    if !out.phone.is_empty() {
        match normalize_phone(&out.phone) {
            Some(p) => out.phone = p,
            None => errors.add("phone", "Телефон в формате +7 (912) 345-67-89."),
        }
    }
    if !out.email.is_empty() {
        match normalize_email(&out.email) {
            Some(e) => out.email = e,
            None => errors.add("email", "Адрес электронной почты, например school@mail.ru."),
        }
    }
    let web_ok = out.website.starts_with("https://") || out.website.starts_with("http://");
    if !out.website.is_empty() && !web_ok {
        errors.add("website", "Адрес сайта начинается с https://");
    }
    if out.municipality.chars().count() > 200 {
        errors.add("municipality", "Не длиннее 200 символов.");
    }
    if !TIMEZONES.iter().any(|(tz, _, _)| *tz == out.timezone) {
        errors.add("timezone", "Выберите часовой пояс из списка.");
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn opt(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

async fn update(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ProfileForm>,
) -> AppResult<Response> {
    scope.require(Action::EditSchoolProfile)?;
    let new = match validate(&form) {
        Ok(new) => new,
        Err(errors) => {
            return Ok(EditPage {
                layout: Layout::for_scope(&scope),
                school_id: scope.school_id(),
                form,
                errors,
                timezones: TIMEZONES,
            }
            .into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let mut old = load(&mut tx, scope.tenant()).await?;
    // Compare like with like: the stored phone, not its display form.
    old.phone = normalize_phone(&old.phone).unwrap_or(old.phone);
    let changes: Vec<String> = old
        .fields()
        .iter()
        .zip(new.fields().iter())
        .filter(|(a, b)| a.2 != b.2)
        .map(|(a, b)| format!("{}: «{}» → «{}»", a.1, a.2, b.2))
        .collect();
    if !changes.is_empty() {
        sqlx::query!(
            r#"update schools set name = $2, short_name = $3, inn = $4, address = $5, phone = $6,
                 email = $7, website = $8, director_name = $9, timezone = $10, municipality = $11,
                 updated_at = now()
               where id = $1"#,
            scope.school_id() as SchoolId,
            new.name,
            opt(&new.short_name),
            opt(&new.inn),
            opt(&new.address),
            opt(&new.phone),
            opt(&new.email),
            opt(&new.website),
            opt(&new.director_name),
            new.timezone,
            opt(&new.municipality)
        )
        .execute(&mut *tx)
        .await?;
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "school.profile_updated",
            Some(format!("school:{}", scope.school_id())),
            Some(changes.join("; ")),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/profile?saved=1", scope.school_id())).into_response())
}
