//! The year-end rollover (R2.1.k): [`rollover_plan`] says what would happen now (and what
//! stands in the way), [`rollover_apply`] does it in the caller's transaction, one named
//! step after another on a [`Rollover`] that carries the state between them.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use time::{Date, Month};
use uuid::Uuid;

use super::students::release_parents;
use super::{By, Order, RolloverId, school_today};
use crate::audit::{self, Entry};
use crate::auth::permissions::Role;
use crate::auth::tenant::Tenant;
use crate::ids::{AcademicYearId, AccountId, ClassId, MembershipId, SchoolId};
use crate::web::format;

/// «2025/2026».
pub fn year_label(starts_on: Date) -> String {
    format!("{}/{}", starts_on.year(), starts_on.year() + 1)
}

/// A student in the rollover plan.
#[derive(Debug, Clone)]
pub struct PlanStudent {
    pub id: MembershipId,
    pub name: String,
    pub conditional: bool,
}

/// A class of the current year and what the rollover does to it.
#[derive(Debug, Clone)]
pub struct PlanClass {
    pub id: ClassId,
    pub grade: i16,
    pub letter: String,
    pub title: String,
    /// The title in the new year; `None` for an 11th class, which graduates.
    pub new_title: Option<String>,
    /// Where this class's repeaters go when the admin picks nothing: the class that will
    /// have this grade and letter in the new year.
    pub repeat_target: Option<(ClassId, String)>,
    pub students: Vec<PlanStudent>,
}

impl PlanClass {
    pub fn graduates(&self) -> bool {
        self.new_title.is_none()
    }
}

/// What the rollover would do now.
#[derive(Debug, Clone)]
pub struct Plan {
    pub from_year: AcademicYearId,
    pub from_label: String,
    pub from_starts: Date,
    pub to_starts: Date,
    pub to_ends: Date,
    pub to_label: String,
    /// The next year's row, if someone created it already (its classes stay).
    pub existing_next: Option<AcademicYearId>,
    pub classes: Vec<PlanClass>,
    /// Classes the new year will have, by their new titles: repeaters' possible targets.
    pub targets: Vec<(ClassId, String)>,
    /// Why the rollover cannot be applied now (Russian, for the page).
    pub blockers: Vec<String>,
    /// The current year started less than six months ago: ask again before applying.
    pub early: bool,
    pub today: Date,
}

impl Plan {
    /// The classes that move up a grade (1–10).
    fn moving(&self) -> Vec<&PlanClass> {
        self.classes.iter().filter(|c| !c.graduates()).collect()
    }

    /// The classes that graduate (the 11th).
    fn graduating(&self) -> Vec<&PlanClass> {
        self.classes.iter().filter(|c| c.graduates()).collect()
    }
}

/// Adds `months` calendar months to a date (the day clamped to the month's end).
fn add_months(d: Date, months: i32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = Month::try_from(u8::try_from(month0 + 1).unwrap_or(1)).unwrap_or(Month::January);
    let mut day = d.day();
    loop {
        if let Ok(x) = Date::from_calendar_date(year, month, day) {
            return x;
        }
        if day <= 28 {
            return d;
        }
        day -= 1;
    }
}

/// The plan of the year-end rollover for the school's current year.
pub async fn rollover_plan(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Plan> {
    let school = tenant.id();
    let today = school_today(conn, tenant).await?;
    let year = sqlx::query!(
        r#"select id as "id: AcademicYearId", starts_on from academic_years
           where school_id = $1 and is_current"#,
        school as SchoolId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let mut blockers = Vec::new();
    let (from_year, starts_on) = match year {
        Some(y) => (y.id, y.starts_on),
        None => {
            // A school always has a current year; without one there is nothing to roll over.
            blockers.push("У школы нет текущего учебного года.".to_owned());
            let (starts, _, _) = format::academic_year_of(today);
            (AcademicYearId(Uuid::nil()), starts)
        }
    };
    let next_start_year = starts_on.year() + 1;
    let to_starts =
        Date::from_calendar_date(next_start_year, Month::September, 1).unwrap_or(starts_on);
    let to_ends =
        Date::from_calendar_date(next_start_year + 1, Month::August, 31).unwrap_or(starts_on);
    let from_label = year_label(starts_on);
    let to_label = year_label(to_starts);
    if starts_on > today {
        blockers.push(format!(
            "Учебный год {from_label} ещё не начался: перевод в него уже выполнен. \
             Следующий перевод — в конце учебного года {from_label}."
        ));
    }
    let early = add_months(starts_on, 6) > today;

    let existing_next = sqlx::query_scalar!(
        r#"select id as "id: AcademicYearId" from academic_years
           where school_id = $1 and starts_on = $2"#,
        school as SchoolId,
        to_starts
    )
    .fetch_optional(&mut *conn)
    .await?;

    let class_rows = sqlx::query!(
        r#"select c.id as "id: ClassId", c.grade as "grade!", c.letter as "letter!", c.title
           from classes c
           where c.school_id = $1 and c.academic_year_id = $2 and c.kind = 'class'
             and c.archived_at is null
           order by c.grade, c.letter"#,
        school as SchoolId,
        from_year as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?;
    let student_rows = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.class_id as "class_id!: ClassId",
                  m.conditional_promotion, a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.role = 'student' and m.status <> 'left'
             and c.academic_year_id = $2 and c.kind = 'class' and c.archived_at is null
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu",
                    a.patronymic collate "ru-RU-x-icu", m.id"#,
        school as SchoolId,
        from_year as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut students: HashMap<ClassId, Vec<PlanStudent>> = HashMap::new();
    for r in student_rows {
        students.entry(r.class_id).or_default().push(PlanStudent {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            conditional: r.conditional_promotion,
        });
    }

    // Classes the next year already has (created ahead of the rollover).
    let existing_classes = match existing_next {
        Some(next) => {
            sqlx::query!(
                r#"select c.id as "id: ClassId", c.grade as "grade!", c.letter as "letter!",
                          c.title
                   from classes c
                   where c.school_id = $1 and c.academic_year_id = $2 and c.kind = 'class'
                     and c.archived_at is null
                   order by c.grade, c.letter"#,
                school as SchoolId,
                next as AcademicYearId
            )
            .fetch_all(&mut *conn)
            .await?
        }
        None => Vec::new(),
    };

    // The new year's classes by (grade, letter): the moving ones and those already there.
    let mut new_year: HashMap<(i16, String), (ClassId, String)> = HashMap::new();
    let mut targets: Vec<(i16, String, ClassId, String)> = Vec::new();
    for c in &existing_classes {
        new_year.insert((c.grade, c.letter.clone()), (c.id, c.title.clone()));
        targets.push((c.grade, c.letter.clone(), c.id, c.title.clone()));
    }
    let mut classes = Vec::new();
    for c in &class_rows {
        let new_title = (c.grade < 11).then(|| {
            let old_prefix = format!("{}{}", c.grade, c.letter);
            let new_prefix = format!("{}{}", c.grade + 1, c.letter);
            match c.title.strip_prefix(&old_prefix) {
                Some(rest) => format!("{new_prefix}{rest}"),
                None => new_prefix,
            }
        });
        if let Some(t) = &new_title {
            let key = (c.grade + 1, c.letter.clone());
            if let Some((_, existing)) = new_year.get(&key) {
                blockers.push(format!(
                    "В учебном году {to_label} уже есть класс {existing}: класс {} не может \
                     стать {t}. Переименуйте или удалите один из них.",
                    c.title
                ));
            }
            new_year.insert(key, (c.id, t.clone()));
            targets.push((c.grade + 1, c.letter.clone(), c.id, t.clone()));
        }
        classes.push(PlanClass {
            id: c.id,
            grade: c.grade,
            letter: c.letter.clone(),
            title: c.title.clone(),
            new_title,
            repeat_target: None,
            students: students.remove(&c.id).unwrap_or_default(),
        });
    }
    for c in &mut classes {
        c.repeat_target = new_year.get(&(c.grade, c.letter.clone())).cloned();
    }
    targets.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(Plan {
        from_year,
        from_label,
        from_starts: starts_on,
        to_starts,
        to_ends,
        to_label,
        existing_next,
        classes,
        targets: targets.into_iter().map(|t| (t.2, t.3)).collect(),
        blockers,
        early,
        today,
    })
}

/// What the administrator marked on the rollover form.
#[derive(Debug, Clone, Default)]
pub struct RolloverInput {
    pub order: Option<Order>,
    /// Students to keep in the same grade, with the class picked for them (if any).
    pub repeat: HashMap<MembershipId, Option<ClassId>>,
    /// Students promoted conditionally («условно переведён»).
    pub conditional: HashSet<MembershipId>,
    /// The administrator confirmed a rollover early in the year.
    pub early_confirmed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The rollover cannot be applied now (the reasons, in Russian).
    #[error("refused")]
    Refused(Vec<String>),
    /// The current year started less than six months ago and that was not confirmed,
    /// and/or marks that do not fit (per student, in Russian).
    #[error("invalid input")]
    Invalid {
        unconfirmed_early: bool,
        marks: MarkErrors,
    },
}

/// What an applied rollover did.
#[derive(Debug, Clone)]
pub struct RolloverDone {
    pub id: RolloverId,
    pub summary: String,
}

/// Per student, what is wrong with their marks (Russian).
pub type MarkErrors = HashMap<MembershipId, &'static str>;

/// Checks the marks against the plan: the repeaters' classes (picked or automatic).
fn resolve_marks(
    plan: &Plan,
    input: &RolloverInput,
) -> Result<HashMap<MembershipId, (ClassId, String)>, MarkErrors> {
    let mut errors = HashMap::new();
    let mut where_is: HashMap<MembershipId, &PlanClass> = HashMap::new();
    for c in &plan.classes {
        for s in &c.students {
            where_is.insert(s.id, c);
        }
    }
    let mut out = HashMap::new();
    for (student, picked) in &input.repeat {
        let Some(class) = where_is.get(student) else {
            errors.insert(
                *student,
                "Этого ученика уже нет в списке: откройте страницу заново.",
            );
            continue;
        };
        if input.conditional.contains(student) {
            errors.insert(
                *student,
                "Отметьте что-то одно: повторное обучение или условный перевод.",
            );
            continue;
        }
        let target = match picked {
            Some(id) => plan.targets.iter().find(|(c, _)| c == id).cloned(),
            None => class.repeat_target.clone(),
        };
        match target {
            Some(t) => {
                out.insert(*student, t);
            }
            None if picked.is_some() => {
                errors.insert(*student, "Выберите класс из списка.");
            }
            None => {
                errors.insert(
                    *student,
                    "Выберите класс, в котором ученик будет учиться повторно.",
                );
            }
        }
    }
    for student in &input.conditional {
        match where_is.get(student) {
            None => {
                errors.insert(
                    *student,
                    "Этого ученика уже нет в списке: откройте страницу заново.",
                );
            }
            Some(c) if c.graduates() => {
                errors.insert(*student, "Выпускников не переводят условно.");
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies the year-end rollover in the caller's transaction: the next academic year
/// becomes current; classes 1–10 move up a grade into it keeping their id, letter and
/// class teacher (5А → 6А); 11th classes graduate (students leave, the class is archived,
/// its class teacher's assignment ends); repeaters go to their class of the same grade;
/// the conditional-promotion flag is set for the marked and cleared for the rest. Every
/// student gets a movement (in bulk). Nothing is committed here: any error leaves the
/// caller's transaction to roll back whole.
pub async fn rollover_apply(
    conn: &mut PgConnection,
    by: &By<'_>,
    input: &RolloverInput,
) -> Result<RolloverDone, RolloverError> {
    let mut run = Rollover::start(conn, by, input).await?;
    run.open_new_year(conn).await?;
    run.move_repeaters(conn).await?;
    run.promote(conn).await?;
    let parents = run.graduate(conn).await?;
    run.mark_conditional(conn).await?;
    Ok(run.finish(conn, &parents).await?)
}

/// A rollover being applied: the plan read under the lock, the checked marks, and what the
/// steps before have made. Each step is one method, called in order by [`rollover_apply`].
struct Rollover<'a, 'b> {
    by: &'a By<'b>,
    input: &'a RolloverInput,
    plan: Plan,
    /// Each repeater with the class they stay in (picked or automatic).
    repeaters: HashMap<MembershipId, (ClassId, String)>,
    id: RolloverId,
    /// The new academic year: its id once [`Rollover::open_new_year`] made or found it.
    new_year: AcademicYearId,
    /// The movements' date: the order's, or today.
    on: Date,
    order_number: Option<String>,
    order_date: Option<Date>,
    /// The rollover's summary, as stored and audited.
    summary: String,
    /// The repeaters' memberships (set by [`Rollover::move_repeaters`]): they take no
    /// part in promotion or graduation.
    repeater_ids: Vec<MembershipId>,
}

impl<'a, 'b> Rollover<'a, 'b> {
    /// Takes the school's rollover lock, reads the plan after it and checks the marks:
    /// refused while the plan has blockers, invalid with an unconfirmed early rollover or
    /// marks that do not fit.
    async fn start(
        conn: &mut PgConnection,
        by: &'a By<'b>,
        input: &'a RolloverInput,
    ) -> Result<Self, RolloverError> {
        // One rollover at a time per school; the plan is read after the lock.
        sqlx::query!(
            "select pg_advisory_xact_lock(hashtextextended('rollover:' || $1::text, 0))",
            by.school().to_string()
        )
        .execute(&mut *conn)
        .await?;
        let plan = rollover_plan(conn, by.tenant()).await?;
        if !plan.blockers.is_empty() {
            return Err(RolloverError::Refused(plan.blockers));
        }
        let unconfirmed_early = plan.early && !input.early_confirmed;
        let repeaters = match resolve_marks(&plan, input) {
            Ok(r) if !unconfirmed_early => r,
            Ok(_) => {
                return Err(RolloverError::Invalid {
                    unconfirmed_early,
                    marks: HashMap::new(),
                });
            }
            Err(marks) => {
                return Err(RolloverError::Invalid {
                    unconfirmed_early,
                    marks,
                });
            }
        };
        let summary = summary(&plan, input, &repeaters);
        Ok(Rollover {
            by,
            input,
            on: input.order.as_ref().map_or(plan.today, |o| o.date),
            order_number: input.order.as_ref().map(|o| o.number.clone()),
            order_date: input.order.as_ref().map(|o| o.date),
            plan,
            repeaters,
            id: RolloverId::new(),
            new_year: AcademicYearId::new(),
            summary,
            repeater_ids: Vec::new(),
        })
    }

    /// The new year: the old one stops being current first (one current year per school),
    /// then the next one is made (or found) current, and the rollover's row is written.
    async fn open_new_year(&mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let by = self.by;
        sqlx::query!(
            "update academic_years set is_current = false where school_id = $1 and id = $2",
            by.school() as SchoolId,
            self.plan.from_year as AcademicYearId
        )
        .execute(&mut *conn)
        .await?;
        self.new_year = sqlx::query_scalar!(
            r#"insert into academic_years (school_id, id, starts_on, ends_on, is_current)
           values ($1, $2, $3, $4, true)
           on conflict (school_id, starts_on) do update set is_current = true
           returning id as "id: AcademicYearId""#,
            by.school() as SchoolId,
            self.new_year as AcademicYearId,
            self.plan.to_starts,
            self.plan.to_ends
        )
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query!(
            r#"insert into rollovers (school_id, id, from_year_id, to_year_id, order_number,
                                  order_date, performed_by, summary)
           values ($1, $2, $3, $4, $5, $6, $7, $8)"#,
            by.school() as SchoolId,
            self.id as RolloverId,
            self.plan.from_year as AcademicYearId,
            self.new_year as AcademicYearId,
            self.order_number.as_deref(),
            self.order_date,
            by.actor() as AccountId,
            self.summary
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Repeaters first: they change class and take no part in promotion or graduation.
    async fn move_repeaters(&mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let by = self.by;
        let mut r_member = Vec::new();
        let mut r_from = Vec::new();
        let mut r_from_title = Vec::new();
        let mut r_to = Vec::new();
        let mut r_to_title = Vec::new();
        for c in &self.plan.classes {
            for s in &c.students {
                if let Some((to, to_title)) = self.repeaters.get(&s.id) {
                    r_member.push(s.id);
                    r_from.push(c.id.0);
                    r_from_title.push(c.title.clone());
                    r_to.push(to.0);
                    r_to_title.push(to_title.clone());
                }
            }
        }
        sqlx::query!(
            r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                  from_class_title, to_class_title, order_number, order_date,
                                  happened_on, rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'repeat', x.m, x.f, x.t, x.ft, x.tt, $7, $8, $9, $10, $11
           from unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[])
             as x(m, f, ft, t, tt)"#,
            by.school() as SchoolId,
            &r_member[..] as &[MembershipId],
            &r_from[..],
            &r_from_title[..],
            &r_to[..],
            &r_to_title[..],
            self.order_number.as_deref(),
            self.order_date,
            self.on,
            self.id as RolloverId,
            by.actor() as AccountId
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"update memberships m set class_id = x.t
           from unnest($2::uuid[], $3::uuid[]) as x(m, t)
           where m.school_id = $1 and m.id = x.m"#,
            by.school() as SchoolId,
            &r_member[..] as &[MembershipId],
            &r_to[..]
        )
        .execute(&mut *conn)
        .await?;
        self.repeater_ids = r_member;
        Ok(())
    }

    /// Promotion: every other student of classes 1–10, then the classes move up (and
    /// their chats are renamed with them).
    async fn promote(&self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let by = self.by;
        let moving = self.plan.moving();
        let m_ids: Vec<ClassId> = moving.iter().map(|c| c.id).collect();
        let m_titles: Vec<String> = moving
            .iter()
            .map(|c| c.new_title.clone().unwrap_or_default())
            .collect();
        sqlx::query!(
            r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                  from_class_title, to_class_title, order_number, order_date,
                                  happened_on, rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'promotion', m.id, c.id, c.id, c.title, n.title,
                  $5, $6, $7, $8, $9
           from unnest($2::uuid[], $3::text[]) as n(id, title)
           join classes c on c.school_id = $1 and c.id = n.id
           join memberships m on m.school_id = c.school_id and m.class_id = c.id
           where m.role = 'student' and m.status <> 'left' and not (m.id = any($4))"#,
            by.school() as SchoolId,
            &m_ids[..] as &[ClassId],
            &m_titles[..],
            &self.repeater_ids[..] as &[MembershipId],
            self.order_number.as_deref(),
            self.order_date,
            self.on,
            self.id as RolloverId,
            by.actor() as AccountId
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"update classes c set grade = c.grade + 1, title = n.title, academic_year_id = $2
           from unnest($3::uuid[], $4::text[]) as n(id, title)
           where c.school_id = $1 and c.id = n.id"#,
            by.school() as SchoolId,
            self.new_year as AcademicYearId,
            &m_ids[..] as &[ClassId],
            &m_titles[..]
        )
        .execute(&mut *conn)
        .await?;

        let m_old_titles: Vec<String> = moving.iter().map(|c| c.title.clone()).collect();
        crate::chats::sync::retitle_class_chats(
            conn,
            by.tenant(),
            &m_ids,
            &m_old_titles,
            &m_titles,
        )
        .await?;
        Ok(())
    }

    /// Graduation: the 11th classes' students leave (and their parents with no other child
    /// here), the classes' chats and the classes are archived, their class teachers'
    /// assignments end; the repeaters' chats follow them. Returns the parents who left.
    async fn graduate(&self, conn: &mut PgConnection) -> sqlx::Result<Vec<AccountId>> {
        let by = self.by;
        let g_ids: Vec<ClassId> = self.plan.graduating().iter().map(|c| c.id).collect();
        sqlx::query!(
            r#"insert into movements (school_id, id, kind, membership_id, from_class_id,
                                  from_class_title, order_number, order_date, happened_on,
                                  rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'graduation', m.id, c.id, c.title, $4, $5, $6, $7, $8
           from classes c
           join memberships m on m.school_id = c.school_id and m.class_id = c.id
           where c.school_id = $1 and c.id = any($2) and m.role = 'student'
             and m.status <> 'left' and not (m.id = any($3))"#,
            by.school() as SchoolId,
            &g_ids[..] as &[ClassId],
            &self.repeater_ids[..] as &[MembershipId],
            self.order_number.as_deref(),
            self.order_date,
            self.on,
            self.id as RolloverId,
            by.actor() as AccountId
        )
        .execute(&mut *conn)
        .await?;
        let graduates = sqlx::query!(
            r#"update memberships m set status = 'left', left_at = now(),
                                    conditional_promotion = false
           where m.school_id = $1 and m.class_id = any($2) and m.role = 'student'
             and m.status <> 'left' and not (m.id = any($3))
           returning m.id, m.account_id"#,
            by.school() as SchoolId,
            &g_ids[..] as &[ClassId],
            &self.repeater_ids[..] as &[MembershipId]
        )
        .fetch_all(&mut *conn)
        .await?;
        let graduate_ids: Vec<MembershipId> =
            graduates.iter().map(|r| MembershipId(r.id)).collect();
        let parents = release_parents(conn, by, &graduate_ids, false).await?;
        // The chats keep step: graduated classes' chats are archived, repeaters change chats.
        crate::chats::sync::archive_class_chats(conn, by.tenant(), &g_ids).await?;
        crate::chats::sync::sync_people(
            conn,
            by.meta(),
            by.tenant(),
            by.actor(),
            &self.repeater_ids,
        )
        .await?;
        sqlx::query!(
            "update classes set archived_at = now() where school_id = $1 and id = any($2)",
            by.school() as SchoolId,
            &g_ids[..] as &[ClassId]
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"update class_teacher_assignments set ended_at = now()
           where school_id = $1 and class_id = any($2) and ended_at is null"#,
            by.school() as SchoolId,
            &g_ids[..] as &[ClassId]
        )
        .execute(&mut *conn)
        .await?;
        Ok(parents)
    }

    /// Conditional promotion: set for the marked, cleared for everyone else.
    async fn mark_conditional(&self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let conditional: Vec<Uuid> = self.input.conditional.iter().map(|m| m.0).collect();
        sqlx::query!(
            r#"update memberships set conditional_promotion = (id = any($2))
           where school_id = $1 and role = 'student'
             and (conditional_promotion or id = any($2))"#,
            self.by.school() as SchoolId,
            &conditional[..]
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The summary names the parents who left with the graduates; the audit row.
    async fn finish(
        mut self,
        conn: &mut PgConnection,
        parents: &[AccountId],
    ) -> sqlx::Result<RolloverDone> {
        let by = self.by;
        if !parents.is_empty() {
            self.summary.push_str(&format!(
                "; выбыли родители (законные представители) выпускников без других детей в школе: {}",
                parents.len()
            ));
            sqlx::query!(
                "update rollovers set summary = $2 where id = $1",
                self.id as RolloverId,
                self.summary
            )
            .execute(&mut *conn)
            .await?;
        }
        audit::record(
            conn,
            by.meta(),
            Entry {
                actor: Some(by.actor()),
                school: Some(by.school()),
                action: "rollover.applied",
                target: Some(format!("rollover:{}", self.id)),
                details: Some(self.summary.clone()),
            },
        )
        .await?;
        Ok(RolloverDone {
            id: self.id,
            summary: self.summary,
        })
    }
}

/// The rollover's summary, from the plan: «2025/2026 → 2026/2027: переведено …».
fn summary(
    plan: &Plan,
    input: &RolloverInput,
    repeaters: &HashMap<MembershipId, (ClassId, String)>,
) -> String {
    let moving = plan.moving();
    let graduating = plan.graduating();
    let count_students = |cs: &[&PlanClass]| -> i64 {
        cs.iter()
            .flat_map(|c| c.students.iter())
            .filter(|s| !repeaters.contains_key(&s.id))
            .count() as i64
    };
    let promoted = count_students(&moving);
    let graduated = count_students(&graduating);
    let mut summary = format!(
        "{} → {}: переведено {} ({}), выпущено {} ({}), оставлено на повторное обучение: {}, \
         условно переведено: {}",
        plan.from_label,
        plan.to_label,
        format::count(moving.len() as i64, "класс", "класса", "классов"),
        Role::Student.count(promoted),
        format::count(graduating.len() as i64, "класс", "класса", "классов"),
        Role::Student.count(graduated),
        repeaters.len(),
        input.conditional.len()
    );
    if let Some(o) = &input.order {
        summary.push_str(&format!("; {}", o.text()));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months_are_added_by_the_calendar() {
        assert_eq!(add_months(date!(2026 - 09 - 01), 6), date!(2027 - 03 - 01));
        assert_eq!(add_months(date!(2026 - 08 - 31), 6), date!(2027 - 02 - 28));
        assert_eq!(add_months(date!(2026 - 01 - 15), 12), date!(2027 - 01 - 15));
    }
}
