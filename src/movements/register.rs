//! The movements register (R2.1.k): every movement with its order, newest first, filtered
//! by kind, class and date, in pages of 50 (keyset: recorded time and id), and exported as
//! CSV for a spreadsheet (the export is audited).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::Date;

use super::domain::{Kind, MovementId};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppResult, urlencode};
use crate::ids::{ClassId, SchoolId};
use crate::web::clock::SchoolClock;
use crate::web::csv::Csv;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;

const PAGE_SIZE: i64 = 50;

/// The register's filters as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FilterQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    recorded: String,
}

/// Filters checked: what is unusable is reported next to its field and not applied.
struct Filters {
    kind: Option<Kind>,
    class: Option<ClassId>,
    from: Option<Date>,
    to: Option<Date>,
    errors: FormErrors,
}

impl Filters {
    fn parse(q: &FilterQuery) -> Self {
        let mut errors = FormErrors::default();
        let kind = match q.kind.trim() {
            "" => None,
            k => {
                let kind = Kind::from_code(k);
                if kind.is_none() {
                    errors.add("kind", "Выберите вид движения из списка.");
                }
                kind
            }
        };
        let class = match q.class.trim() {
            "" => None,
            c => {
                let class = c.parse().ok();
                if class.is_none() {
                    errors.add("class", "Выберите класс из списка.");
                }
                class
            }
        };
        let mut date = |value: &str, field: &'static str| match value.trim() {
            "" => None,
            v => {
                let d = crate::web::form::parse_date(v);
                if d.is_none() {
                    errors.add(field, "Дата в формате ДД.ММ.ГГГГ.");
                }
                d
            }
        };
        let from = date(&q.from, "from");
        let to = date(&q.to, "to");
        Filters {
            kind,
            class,
            from,
            to,
            errors,
        }
    }

    /// The filters as a query string (without `after`), for links.
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(k) = self.kind {
            parts.push(format!("kind={}", k.code()));
        }
        if let Some(c) = self.class {
            parts.push(format!("class={c}"));
        }
        if let Some(d) = self.from {
            parts.push(format!("from={}", urlencode(&iso(d))));
        }
        if let Some(d) = self.to {
            parts.push(format!("to={}", urlencode(&iso(d))));
        }
        parts.join("&")
    }

    /// In words, for the audit row of an export.
    fn describe(&self, classes: &[FilterClass]) -> String {
        let mut parts = Vec::new();
        if let Some(k) = self.kind {
            parts.push(format!("вид: {}", k.title()));
        }
        if let Some(c) = self.class {
            let title = classes
                .iter()
                .find(|x| x.id == c)
                .map_or_else(|| c.to_string(), |x| x.label.clone());
            parts.push(format!("класс: {title}"));
        }
        if let Some(d) = self.from {
            parts.push(format!("с {}", format::date(d)));
        }
        if let Some(d) = self.to {
            parts.push(format!("по {}", format::date(d)));
        }
        if parts.is_empty() {
            "все движения".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// One line of the register, as shown.
pub(super) struct RegisterRow {
    pub id: MovementId,
    pub date: String,
    pub kind: &'static str,
    pub person: String,
    pub from: String,
    pub to: String,
    pub order: String,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A class in the register's filter: every class the school has had.
struct FilterClass {
    id: ClassId,
    label: String,
}

async fn filter_classes(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<FilterClass>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title, y.starts_on, y.is_current,
                  c.archived_at is not null as "archived!"
           from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class'
           order by y.is_current desc, y.starts_on desc, c.grade, c.letter"#,
        school as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let label = if r.is_current && !r.archived {
                r.title
            } else if r.archived {
                format!(
                    "{} ({}, выпуск или архив)",
                    r.title,
                    super::domain::year_label(r.starts_on)
                )
            } else {
                format!("{} ({})", r.title, super::domain::year_label(r.starts_on))
            };
            FilterClass { id: r.id, label }
        })
        .collect())
}

/// The register's rows for the filters, newest first, after the cursor; `limit` None for
/// all of them (the export).
async fn fetch(
    conn: &mut PgConnection,
    tenant: Tenant,
    tz: &str,
    f: &Filters,
    after: Option<MovementId>,
    limit: Option<i64>,
) -> sqlx::Result<Vec<RegisterRow>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select m.id as "id: MovementId", m.kind, m.happened_on, m.order_number, m.order_date,
                  m.reason, m.recorded_at,
                  a.surname, a.given_name, a.patronymic,
                  coalesce(m.from_class_title, fc.title) as from_title,
                  coalesce(m.to_class_title, tc.title) as to_title,
                  r.surname as "by_surname?", r.given_name as "by_given?",
                  r.patronymic as by_patronymic
           from movements m
           join memberships ms on ms.school_id = m.school_id and ms.id = m.membership_id
           join accounts a on a.id = ms.account_id
           left join classes fc on fc.school_id = m.school_id and fc.id = m.from_class_id
           left join classes tc on tc.school_id = m.school_id and tc.id = m.to_class_id
           left join accounts r on r.id = m.recorded_by
           where m.school_id = $1
             and ($2::text is null or m.kind = $2)
             and ($3::uuid is null or m.from_class_id = $3 or m.to_class_id = $3)
             and ($4::date is null or m.happened_on >= $4)
             and ($5::date is null or m.happened_on <= $5)
             and ($6::uuid is null
                  or (m.recorded_at, m.id) < (select c.recorded_at, c.id from movements c
                                               where c.school_id = $1 and c.id = $6))
           order by m.recorded_at desc, m.id desc
           limit $7"#,
        school as SchoolId,
        f.kind.map(Kind::code),
        f.class as Option<ClassId>,
        f.from,
        f.to,
        after as Option<MovementId>,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let kind = Kind::from_code(&r.kind);
            let order = match (&r.order_number, r.order_date) {
                (Some(n), Some(d)) => format::order(n, d),
                (Some(n), None) => format!("приказ № {n}"),
                _ => "—".to_owned(),
            };
            let recorded_by = match (&r.by_surname, &r.by_given) {
                (Some(s), Some(g)) => format::full_name(s, g, r.by_patronymic.as_deref()),
                _ => "—".to_owned(),
            };
            RegisterRow {
                id: r.id,
                date: format::date(r.happened_on),
                kind: kind.map_or("—", Kind::title),
                person: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                from: r.from_title.unwrap_or_else(|| "—".to_owned()),
                to: match (kind, r.to_title) {
                    (_, Some(t)) => t,
                    (Some(Kind::Graduation), None) => "выпуск".to_owned(),
                    (Some(Kind::Leaving | Kind::StaffLeaving), None) => "выбыл(а)".to_owned(),
                    _ => "—".to_owned(),
                },
                order,
                reason: r.reason.unwrap_or_default(),
                recorded_by,
                recorded_at: format::datetime(r.recorded_at, tz),
            }
        })
        .collect())
}

/// The notice after a movement is recorded: what was written (and, for a student who
/// left, the parents who left with them).
async fn recorded_notice(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: MovementId,
) -> sqlx::Result<Option<(String, Vec<String>)>> {
    let school = tenant.id();
    let row = sqlx::query!(
        r#"select m.kind, m.membership_id, m.recorded_at, m.order_number, m.order_date,
                  a.surname, a.given_name, a.patronymic,
                  coalesce(m.from_class_title, fc.title) as from_title,
                  coalesce(m.to_class_title, tc.title) as to_title
           from movements m
           join memberships ms on ms.school_id = m.school_id and ms.id = m.membership_id
           join accounts a on a.id = ms.account_id
           left join classes fc on fc.school_id = m.school_id and fc.id = m.from_class_id
           left join classes tc on tc.school_id = m.school_id and tc.id = m.to_class_id
           where m.school_id = $1 and m.id = $2"#,
        school as SchoolId,
        id as MovementId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let kind = Kind::from_code(&r.kind).map_or("движение", Kind::title);
    let mut text = format!(
        "Записано: {kind} — {}",
        format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref())
    );
    match (&r.from_title, &r.to_title) {
        (Some(f), Some(t)) => text.push_str(&format!(", {f} → {t}")),
        (None, Some(t)) => text.push_str(&format!(", {t}")),
        (Some(f), None) => text.push_str(&format!(", из {f}")),
        (None, None) => {}
    }
    if let (Some(n), Some(d)) = (&r.order_number, r.order_date) {
        text.push_str(&format!(", {}", format::order(n, d)));
    }
    text.push('.');
    // Parents released in the same transaction carry the movement's time exactly.
    let parents = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic
           from parent_links l
           join memberships p on p.school_id = l.school_id and p.id = l.parent_id
           join accounts a on a.id = p.account_id
           where l.school_id = $1 and l.child_id = $2 and p.status = 'left' and p.left_at = $3
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId,
        r.membership_id,
        r.recorded_at
    )
    .fetch_all(&mut *conn)
    .await?;
    let parents = parents
        .into_iter()
        .map(|p| format::full_name(&p.surname, &p.given_name, p.patronymic.as_deref()))
        .collect();
    Ok(Some((text, parents)))
}

#[derive(Template, WebTemplate)]
#[template(path = "movements/register.html")]
struct RegisterPage {
    layout: Layout,
    school_id: SchoolId,
    rows: Vec<RegisterRow>,
    kinds: Vec<(&'static str, &'static str)>,
    classes: Vec<FilterClass>,
    kind: String,
    class: String,
    from: String,
    to: String,
    errors: FormErrors,
    filtered: bool,
    first_page: bool,
    first_href: String,
    next_href: Option<String>,
    csv_href: String,
    notice: Option<(String, Vec<String>)>,
    can_record: bool,
    can_rollover: bool,
}

pub(super) async fn list(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<FilterQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewMovements)?;
    let school = scope.school_id();
    let f = Filters::parse(&q);
    let after: Option<MovementId> = q.after.parse().ok();
    let mut conn = state.db.acquire().await?;
    let classes = filter_classes(&mut conn, scope.tenant()).await?;
    let mut rows = fetch(
        &mut conn,
        scope.tenant(),
        scope.timezone(),
        &f,
        after,
        Some(PAGE_SIZE + 1),
    )
    .await?;
    let base = format!("/s/{school}/movements");
    let qs = f.query_string();
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next_href = match (has_next, rows.last()) {
        (true, Some(last)) => Some(if qs.is_empty() {
            format!("{base}?after={}", last.id)
        } else {
            format!("{base}?{qs}&after={}", last.id)
        }),
        _ => None,
    };
    let with_qs = |path: &str| {
        if qs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{qs}")
        }
    };
    let notice = match q.recorded.parse::<MovementId>() {
        Ok(id) => recorded_notice(&mut conn, scope.tenant(), id).await?,
        Err(_) => None,
    };
    Ok(RegisterPage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        kinds: Kind::ALL.iter().map(|k| (k.code(), k.title())).collect(),
        classes,
        kind: q.kind.trim().to_owned(),
        class: q.class.trim().to_owned(),
        from: q.from.trim().to_owned(),
        to: q.to.trim().to_owned(),
        filtered: !qs.is_empty(),
        first_page: after.is_none(),
        first_href: with_qs(&base),
        next_href,
        csv_href: with_qs(&format!("{base}.csv")),
        errors: f.errors,
        rows,
        notice,
        can_record: scope.can(Action::RecordMovements),
        can_rollover: scope.can(Action::Rollover),
    }
    .into_response())
}

pub(super) async fn csv(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Query(q): Query<FilterQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewMovements)?;
    let school = scope.school_id();
    let f = Filters::parse(&q);
    let mut conn = state.db.acquire().await?;
    let classes = filter_classes(&mut conn, scope.tenant()).await?;
    let rows = fetch(&mut conn, scope.tenant(), scope.timezone(), &f, None, None).await?;
    let mut out = Csv::new();
    out.row([
        "Дата",
        "Движение",
        "ФИО",
        "Из класса",
        "В класс",
        "Приказ",
        "Причина",
        "Кто записал",
        "Когда записано",
    ])?;
    for r in &rows {
        out.row([
            r.date.as_str(),
            r.kind,
            r.person.as_str(),
            r.from.as_str(),
            r.to.as_str(),
            r.order.as_str(),
            r.reason.as_str(),
            r.recorded_by.as_str(),
            r.recorded_at.as_str(),
        ])?;
    }
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(school),
            action: "export.movements",
            target: Some(format!("school:{school}")),
            details: Some(format!("{}; строк: {}", f.describe(&classes), rows.len())),
        },
    )
    .await?;
    let name = format!("movements-{}.csv", SchoolClock::of(&scope).file_date());
    Ok(crate::web::csv::attachment(&name, out.finish()?))
}
