//! `school-portal demo`: the demo school «Школа № 1 (демо)» with realistic Russian names:
//! classes 1–11 with two or three letters each, about 600 students, 900 parents linked to
//! their children, 50 teachers (class teachers assigned), staff, a director and a deputy,
//! and one login per role. Idempotent: a second run only resets the demo passwords.
//! Everything is inserted in bulk in one transaction, and the password is hashed once.

pub mod names;
pub mod region;

use std::fmt::Write;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::password;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};

/// The demo school's fixed id, so that a second run finds it.
pub const DEMO_SCHOOL: SchoolId =
    SchoolId(Uuid::from_u128(0x0190_0000_0000_7000_8000_00de_0000_0001));

pub const LOGINS: &[(&str, &str)] = &[
    ("operator@demo.local", "оператор развёртывания"),
    ("admin@demo.local", "администратор платформы школы"),
    ("director@demo.local", "директор"),
    ("deputy@demo.local", "заместитель директора (по ИТ)"),
    ("teacher@demo.local", "учитель, классный руководитель 5А"),
    ("student@demo.local", "ученик 5А"),
    ("parent@demo.local", "родитель ученика 5А"),
];

#[derive(Default)]
struct Accounts {
    id: Vec<Uuid>,
    surname: Vec<String>,
    given: Vec<String>,
    patronymic: Vec<Option<String>>,
    email: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    hash: Vec<Option<String>>,
    operator: Vec<bool>,
}

#[derive(Default)]
struct Members {
    id: Vec<Uuid>,
    account: Vec<Uuid>,
    role: Vec<String>,
    class: Vec<Option<Uuid>>,
    verification: Vec<Option<String>>,
    it_deputy: Vec<bool>,
}

struct Gen {
    rng: StdRng,
    accounts: Accounts,
    members: Members,
    phone_seq: u64,
    /// `+7999` and seven digits in the demo school, `+79NNNN` and five in region school N.
    phone_prefix: String,
    phone_digits: usize,
}

/// Which school `populate` fills: the demo school (number 0) or the region's school N,
/// which differ only in ids, names, logins and phone numbers.
pub(crate) struct Shape {
    pub school: SchoolId,
    pub number: u32,
    /// The deployment operator, when it exists already (region schools).
    pub operator: Option<AccountId>,
}

impl Shape {
    fn demo() -> Self {
        Shape {
            school: DEMO_SCHOOL,
            number: 0,
            operator: None,
        }
    }
    /// A login's e-mail: `admin@demo.local` in the demo school, `admin.N@region.local` in
    /// the region's school N.
    pub fn login(&self, who: &str) -> String {
        format!("{who}{}", self.email_suffix())
    }
    pub fn email_suffix(&self) -> String {
        if self.number == 0 {
            "@demo.local".to_owned()
        } else {
            format!(".{}@region.local", self.number)
        }
    }
    /// The school's number as people see it: «Школа № 1» is the demo school.
    fn title(&self) -> u32 {
        self.number + 1
    }
}

impl Gen {
    /// A random person; `female` decides the name forms.
    fn name(&mut self, female: bool, surname: Option<&str>) -> (String, String, String) {
        let base = surname.map(str::to_owned).unwrap_or_else(|| {
            (*names::SURNAMES.choose(&mut self.rng).unwrap_or(&"Иванов")).to_owned()
        });
        let surname = if female { names::feminine(&base) } else { base };
        let given = if female {
            names::FEMALE.choose(&mut self.rng)
        } else {
            names::MALE.choose(&mut self.rng)
        }
        .unwrap_or(&"Иван");
        let father = names::FATHERS.choose(&mut self.rng).unwrap_or(&"Иван");
        (
            surname,
            (*given).to_owned(),
            names::patronymic(father, female),
        )
    }

    fn account(
        &mut self,
        (surname, given, patronymic): (String, String, String),
        email: Option<&str>,
        hash: Option<&str>,
        with_phone: bool,
    ) -> AccountId {
        let id = AccountId::new();
        self.accounts.id.push(id.0);
        self.accounts.surname.push(surname);
        self.accounts.given.push(given);
        self.accounts.patronymic.push(Some(patronymic));
        self.accounts.email.push(email.map(str::to_owned));
        self.phone_seq += 1;
        let (prefix, digits, seq) = (&self.phone_prefix, self.phone_digits, self.phone_seq);
        self.accounts
            .phone
            .push(with_phone.then(|| format!("{prefix}{seq:0digits$}")));
        self.accounts.hash.push(hash.map(str::to_owned));
        self.accounts.operator.push(false);
        id
    }

    fn member(
        &mut self,
        account: AccountId,
        role: &str,
        class: Option<ClassId>,
        verification: Option<&str>,
    ) -> MembershipId {
        let id = MembershipId::new();
        self.members.id.push(id.0);
        self.members.account.push(account.0);
        self.members.role.push(role.to_owned());
        self.members.class.push(class.map(|c| c.0));
        self.members
            .verification
            .push(verification.map(str::to_owned));
        self.members.it_deputy.push(false);
        id
    }
}

/// Creates the demo school (or, if it exists, resets the demo passwords) and returns the
/// text to print: the logins and the password.
pub async fn create(pool: &PgPool, password: Option<String>) -> anyhow::Result<String> {
    create_region(pool, password, 1).await
}

/// [`create`], then the region's schools 2..=`schools` ([`region::create`]).
pub async fn create_region(
    pool: &PgPool,
    password: Option<String>,
    schools: u32,
) -> anyhow::Result<String> {
    let password = match password {
        Some(p) => p,
        None => random_password(),
    };
    // Hashed once for every demo login: the demo takes seconds, not minutes.
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash_blocking(&pw)).await??;

    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("select exists(select 1 from schools where id = $1)")
        .bind(DEMO_SCHOOL)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        let emails: Vec<String> = LOGINS.iter().map(|(e, _)| (*e).to_owned()).collect();
        sqlx::query(
            "update accounts set password_hash = $2, security_stamp = gen_random_uuid() where email = any($1)",
        )
        .bind(&emails)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from login_throttle where key like 'account:%' and substr(key, 9)::uuid in (select id from accounts where email = any($1))")
            .bind(&emails)
            .execute(&mut *tx)
            .await?;
    } else {
        populate(&mut tx, &hash, &Shape::demo())
            .await
            .context("creating the demo school")?;
    }
    tx.commit().await?;
    crate::db::maintenance::analyze(pool, crate::db::maintenance::DEMO_TABLES).await;
    let region = region::create(pool, &hash, schools).await?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Демо-школа «Школа № 1 (демо)» {}.",
        if exists {
            "уже была: пароли обновлены"
        } else {
            "создана"
        }
    );
    let _ = writeln!(out, "Логины (пароль у всех один):");
    for (email, who) in LOGINS {
        let _ = writeln!(out, "  {email:<22} {who}");
    }
    out.push_str(&region);
    let _ = writeln!(out, "Пароль: {password}");
    Ok(out)
}

/// The rest of a lived-in school: subjects and who teaches them, the regulation in force,
/// last year's rollover and a few movements with their orders.
#[allow(clippy::too_many_arguments)]
async fn history(
    tx: &mut sqlx::PgConnection,
    year: Uuid,
    year_start: time::Date,
    classes: &[(ClassId, i16, &str)],
    teachers: &[MembershipId],
    members: &Members,
    operator: AccountId,
    admin: AccountId,
    tenant: crate::auth::tenant::Tenant,
) -> anyhow::Result<()> {
    let school = tenant.id();
    let subjects = [
        ("subject", "Русский язык"),
        ("subject", "Литература"),
        ("subject", "Математика"),
        ("subject", "Алгебра"),
        ("subject", "Геометрия"),
        ("subject", "История"),
        ("subject", "Обществознание"),
        ("subject", "География"),
        ("subject", "Биология"),
        ("subject", "Физика"),
        ("subject", "Химия"),
        ("subject", "Информатика"),
        ("subject", "Английский язык"),
        ("subject", "Физическая культура"),
        ("subject", "Музыка"),
        ("subject", "Изобразительное искусство"),
        ("subject", "Труд (технология)"),
        ("subject", "Окружающий мир"),
        ("activity", "Разговоры о важном"),
        ("activity", "Шахматы"),
        ("activity", "Робототехника"),
        ("activity", "Школьный театр"),
    ];
    let (kinds, names): (Vec<&str>, Vec<&str>) = subjects.iter().copied().unzip();
    let subject_ids: Vec<Uuid> = sqlx::query_scalar(
        r#"insert into subjects (school_id, id, kind, name)
           select $1, gen_random_uuid(), k, n from unnest($2::text[], $3::text[]) with ordinality as x(k, n, o)
           order by o returning id"#,
    )
    .bind(school)
    .bind(&kinds)
    .bind(&names)
    .fetch_all(&mut *tx)
    .await?;
    // Math, Russian and English in every 5th–9th class, taught by teachers in turn.
    let (mut t_subject, mut t_class, mut t_teacher) = (vec![], vec![], vec![]);
    let mut next = 0usize;
    for (class, grade, _) in classes {
        if !(5..=9).contains(grade) {
            continue;
        }
        for subject in [0usize, 2, 12] {
            if let (Some(s), Some(t)) = (
                subject_ids.get(subject),
                teachers.get(next % teachers.len().max(1)),
            ) {
                t_subject.push(*s);
                t_class.push(class.0);
                t_teacher.push(t.0);
            }
            next += 1;
        }
    }
    sqlx::query(
        r#"insert into teaching_assignments (school_id, id, subject_id, class_id, teacher_id)
           select $1, gen_random_uuid(), s, c, t from unnest($2::uuid[], $3::uuid[], $4::uuid[]) as x(s, c, t)"#,
    )
    .bind(school)
    .bind(&t_subject)
    .bind(&t_class)
    .bind(&t_teacher)
    .execute(&mut *tx)
    .await?;

    // The regulation in force (R1.3).
    sqlx::query(
        r#"insert into regulation_editions (school_id, id, edition, order_number, order_date, effective_from, body, created_by)
           values ($1, gen_random_uuid(), 'редакция № 1', '98-о', $2, $2, $3, $4)"#,
    )
    .bind(school)
    .bind(year_start - time::Duration::days(10))
    .bind(include_str!("../../docs/regulation.ru.txt"))
    .bind(admin)
    .execute(&mut *tx)
    .await?;

    // Last year, and its rollover into this one.
    let last_year: Uuid = sqlx::query_scalar(
        r#"insert into academic_years (school_id, id, starts_on, ends_on, is_current)
           values ($1, gen_random_uuid(), $2, $3, false) returning id"#,
    )
    .bind(school)
    .bind(year_start.replace_year(year_start.year() - 1)?)
    .bind(year_start - time::Duration::days(1))
    .fetch_one(&mut *tx)
    .await?;
    let rollover: Uuid = sqlx::query_scalar(
        r#"insert into rollovers (school_id, id, from_year_id, to_year_id, order_number, order_date,
                                  performed_by, performed_at, summary)
           values ($1, gen_random_uuid(), $2, $3, '90-о', $4, $5, $4::timestamptz,
                   'классы 1–10 переведены в следующий класс; 11-е классы выпущены') returning id"#,
    )
    .bind(school)
    .bind(last_year)
    .bind(year)
    .bind(year_start - time::Duration::days(2))
    .bind(admin)
    .fetch_one(&mut *tx)
    .await?;

    // A few movements of this year, each with its order (R2.1.k): enrolments and a
    // transfer. The students are the first ones of some classes.
    let students: Vec<(usize, Uuid, Uuid)> = members
        .role
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_str() == "student")
        .filter_map(|(i, _)| Some((i, members.id[i], members.class[i]?)))
        .step_by(97)
        .collect();
    for (n, (_, membership, class)) in students.iter().enumerate() {
        let kind = if n == 0 { "transfer" } else { "enrolment" };
        let from = classes
            .iter()
            .find(|(c, _, _)| c.0 != *class && n == 0)
            .map(|(c, _, _)| c.0);
        sqlx::query(
            r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                      order_number, order_date, happened_on, recorded_by, recorded_at)
               values ($1, gen_random_uuid(), $2, $3, $4, $5, $6, $7, $7, $8, $7::timestamptz)"#,
        )
        .bind(school)
        .bind(kind)
        .bind(membership)
        .bind(from)
        .bind(class)
        .bind(format!("{}-у", 120 + n))
        .bind(year_start + time::Duration::days(14 + 7 * n as i64))
        .bind(admin)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "insert into audit_log (actor_id, school_id, action, target, details) values ($1, $2, 'rollover.applied', $3, 'demo history')",
    )
    .bind(operator)
    .bind(school)
    .bind(format!("rollover:{rollover}"))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn populate(tx: &mut sqlx::PgConnection, hash: &str, shape: &Shape) -> anyhow::Result<()> {
    let school = shape.school;
    let tenant = crate::auth::tenant::Tenant::for_job(school);
    let n = shape.title();
    let demo = if shape.number == 0 { " (демо)" } else { "" };
    crate::schools::create_school(
        &mut *tx,
        tenant,
        &format!("Школа № {n}{demo}"),
        Some(&format!("Школа № {n}")),
        "Europe/Moscow",
    )
    .await?;
    sqlx::query(
        r#"update schools set name = 'Муниципальное бюджетное общеобразовательное учреждение «Средняя общеобразовательная школа № ' || $2 || '»' || $3,
             short_name = 'Школа № ' || $2 || $3, address = 'г. Демо, ул. Школьная, д. ' || $2,
             phone = '+7495' || lpad($2, 7, '0'), email = 'school' || $2 || $4,
             director_name = 'Орлова Татьяна Викторовна', inn = '77' || lpad($2, 8, '0')
           where id = $1"#,
    )
    .bind(school)
    .bind(n.to_string())
    .bind(demo)
    .bind(if shape.number == 0 { "@demo.local" } else { "@region.local" })
    .execute(&mut *tx)
    .await?;
    let year: Uuid =
        sqlx::query_scalar("select id from academic_years where school_id = $1 and is_current")
            .bind(school)
            .fetch_one(&mut *tx)
            .await?;
    let staffroom = crate::schools::staffroom(&mut *tx, tenant).await?;

    // Classes: 1–11, three letters in the younger and middle grades, two in the senior.
    let mut class_ids = Vec::new();
    let (mut c_id, mut c_grade, mut c_letter, mut c_title) = (vec![], vec![], vec![], vec![]);
    for grade in 1i16..=11 {
        let letters: &[&str] = if grade <= 5 || grade == 7 {
            &["А", "Б", "В"]
        } else {
            &["А", "Б"]
        };
        for letter in letters {
            let id = ClassId::new();
            class_ids.push((id, grade, *letter));
            c_id.push(id.0);
            c_grade.push(grade);
            c_letter.push((*letter).to_owned());
            c_title.push(format!("{grade}{letter}"));
        }
    }
    sqlx::query(
        r#"insert into classes (school_id, id, kind, academic_year_id, grade, letter, title)
           select $1, id, 'class', $2, g, l, t from unnest($3::uuid[], $4::int2[], $5::text[], $6::text[]) as x(id, g, l, t)"#,
    )
    .bind(school)
    .bind(year)
    .bind(&c_id)
    .bind(&c_grade)
    .bind(&c_letter)
    .bind(&c_title)
    .execute(&mut *tx)
    .await?;

    let mut g = Gen {
        rng: StdRng::seed_from_u64(2025 + u64::from(shape.number)),
        accounts: Accounts::default(),
        members: Members::default(),
        phone_seq: 0,
        phone_prefix: if shape.number == 0 {
            "+7999".to_owned()
        } else {
            format!("+79{:04}", shape.number)
        },
        phone_digits: if shape.number == 0 { 7 } else { 5 },
    };

    // The operator (the region's schools share the demo's).
    let op = match shape.operator {
        Some(op) => op,
        None => {
            let op = g.account(
                ("Операторов".into(), "Олег".into(), "Петрович".into()),
                Some("operator@demo.local"),
                Some(hash),
                false,
            );
            if let Some(last) = g.accounts.operator.last_mut() {
                *last = true;
            }
            op
        }
    };
    let login = |who: &str| shape.login(who);

    // Leadership and staff.
    let director = g.account(
        ("Орлова".into(), "Татьяна".into(), "Викторовна".into()),
        Some(login("director").as_str()),
        Some(hash),
        true,
    );
    g.member(director, "director", Some(staffroom), Some("verified"));
    let deputy = g.account(
        ("Соколов".into(), "Андрей".into(), "Игоревич".into()),
        Some(login("deputy").as_str()),
        Some(hash),
        true,
    );
    g.member(deputy, "deputy", Some(staffroom), Some("verified"));
    if let Some(last) = g.members.it_deputy.last_mut() {
        *last = true;
    }
    let name = g.name(true, None);
    let deputy2 = g.account(name, None, None, true);
    g.member(deputy2, "deputy", Some(staffroom), Some("verified"));
    let admin = g.account(
        ("Лебедева".into(), "Ирина".into(), "Сергеевна".into()),
        Some(login("admin").as_str()),
        Some(hash),
        true,
    );
    g.member(admin, "staff", Some(staffroom), Some("verified"));
    for i in 0..8 {
        let female = i % 3 != 0;
        let name = g.name(female, None);
        let person = g.account(name, None, None, true);
        let verification = if i < 6 { "verified" } else { "unverified" };
        g.member(person, "staff", Some(staffroom), Some(verification));
    }

    // Teachers: 50, the first one is teacher@demo.local; mostly verified.
    let mut teachers = Vec::new();
    let t0 = g.account(
        ("Морозова".into(), "Елена".into(), "Александровна".into()),
        Some(login("teacher").as_str()),
        Some(hash),
        true,
    );
    teachers.push(g.member(t0, "teacher", Some(staffroom), Some("verified")));
    for i in 1..50 {
        let female = i % 5 != 0;
        let name = g.name(female, None);
        let person = g.account(name, None, None, true);
        let verification = if i % 12 == 0 {
            "unverified"
        } else {
            "verified"
        };
        teachers.push(g.member(person, "teacher", Some(staffroom), Some(verification)));
    }

    // Class teachers: 5А gets teacher@demo.local, the others verified teachers in turn.
    let five_a = class_ids
        .iter()
        .find(|(_, grade, letter)| *grade == 5 && *letter == "А")
        .map(|(id, _, _)| *id)
        .context("class 5А")?;
    let mut ct_class = vec![five_a.0];
    let mut ct_teacher = vec![teachers[0].0];
    let mut next_teacher = 1;
    for (id, _, _) in &class_ids {
        if *id == five_a {
            continue;
        }
        while g.members.verification[g
            .members
            .id
            .iter()
            .position(|m| *m == teachers[next_teacher].0)
            .unwrap_or(0)]
        .as_deref()
            != Some("verified")
        {
            next_teacher += 1;
        }
        ct_class.push(id.0);
        ct_teacher.push(teachers[next_teacher].0);
        next_teacher += 1;
    }
    // Two classes are left without a class teacher, so the summary has something to show.
    ct_class.truncate(ct_class.len() - 2);
    ct_teacher.truncate(ct_teacher.len() - 2);

    // Students: about 600; 5А's first is student@demo.local with parent@demo.local.
    let (mut link_parent, mut link_child) = (Vec::new(), Vec::new());
    // 600 students spread over the classes, sizes varying a little around the mean.
    let total = 600;
    let (base, extra) = (total / class_ids.len(), total % class_ids.len());
    let mut n = 0usize;
    for (i, (class, grade, _)) in class_ids.iter().enumerate() {
        // Neighbouring classes trade two students: sizes vary, the total stays 600.
        let mut size = base + usize::from(i < extra);
        if i % 2 == 0 && i + 1 < class_ids.len() {
            size += 2;
        } else if i % 2 == 1 {
            size -= 2;
        }
        for k in 0..size {
            let female = g.rng.random_bool(0.5);
            let family = (*names::SURNAMES.choose(&mut g.rng).unwrap_or(&"Иванов")).to_owned();
            let demo_child = *class == five_a && k == 0;
            let child_name = if demo_child {
                ("Морозов".into(), "Артём".into(), "Дмитриевич".into())
            } else {
                g.name(female, Some(&family))
            };
            let student_login = login("student");
            let child = g.account(
                child_name,
                demo_child.then_some(student_login.as_str()),
                demo_child.then_some(hash),
                *grade >= 7,
            );
            let child_m = g.member(child, "student", Some(*class), None);
            // Half the students have two parents, half one: 900 parents for 600 students.
            let parents = if n % 2 == 0 { 2 } else { 1 };
            for p in 0..parents {
                let demo_parent = demo_child && p == 0;
                let mother = p == 0;
                let parent_name = if demo_parent {
                    ("Морозова".into(), "Ольга".into(), "Николаевна".into())
                } else {
                    g.name(mother, Some(&family))
                };
                let parent_login = login("parent");
                let parent = g.account(
                    parent_name,
                    demo_parent.then_some(parent_login.as_str()),
                    demo_parent.then_some(hash),
                    true,
                );
                let parent_m = g.member(parent, "parent", None, None);
                link_parent.push(parent_m.0);
                link_child.push(child_m.0);
            }
            n += 1;
        }
    }

    let a = &g.accounts;
    sqlx::query(
        r#"insert into accounts (id, surname, given_name, patronymic, email, phone, password_hash,
                                 is_operator, security_stamp)
           select id, s, gn, p, e, ph, h, op, gen_random_uuid()
           from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::bool[]) as x(id, s, gn, p, e, ph, h, op)"#,
    )
    .bind(&a.id)
    .bind(&a.surname)
    .bind(&a.given)
    .bind(&a.patronymic)
    .bind(&a.email)
    .bind(&a.phone)
    .bind(&a.hash)
    .bind(&a.operator)
    .execute(&mut *tx)
    .await?;
    let m = &g.members;
    sqlx::query(
        r#"insert into memberships (school_id, id, account_id, role, class_id, verification, is_it_deputy,
                                    joined_at)
           select $1, id, acc, r, c, v, it, now() - interval '60 days'
           from unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::bool[])
             as x(id, acc, r, c, v, it)"#,
    )
    .bind(school)
    .bind(&m.id)
    .bind(&m.account)
    .bind(&m.role)
    .bind(&m.class)
    .bind(&m.verification)
    .bind(&m.it_deputy)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into parent_links (school_id, parent_id, child_id) select $1, p, c from unnest($2::uuid[], $3::uuid[]) as x(p, c)",
    )
    .bind(school)
    .bind(&link_parent)
    .bind(&link_child)
    .execute(&mut *tx)
    .await?;
    // The director's distribution of class leadership for this year (R2.1.h).
    let (year_start, _, _) =
        crate::web::format::academic_year_of(time::OffsetDateTime::now_utc().date());
    let order_date = year_start - time::Duration::days(3);
    let order: Uuid = sqlx::query_scalar(
        r#"insert into class_leadership_orders (school_id, id, academic_year_id, order_number, order_date)
           values ($1, gen_random_uuid(), $2, '112-о', $3) returning id"#,
    )
    .bind(school)
    .bind(year)
    .bind(order_date)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        r#"insert into class_teacher_assignments (school_id, id, class_id, teacher_id, order_id, order_number, order_date,
                                                  assigned_at)
           select $1, gen_random_uuid(), c, t, $4, '112-о', $5, $5::timestamptz
           from unnest($2::uuid[], $3::uuid[]) as x(c, t)"#,
    )
    .bind(school)
    .bind(&ct_class)
    .bind(&ct_teacher)
    .bind(order)
    .bind(order_date)
    .execute(&mut *tx)
    .await?;
    history(
        &mut *tx, year, year_start, &class_ids, &teachers, &g.members, op, admin, tenant,
    )
    .await?;
    // The administrator, appointed by the director's order (R2.2).
    crate::schools::grant_admin(
        &mut *tx,
        tenant,
        admin,
        op,
        "15-о",
        time::macros::date!(2025 - 09 - 01),
    )
    .await?;
    sqlx::query(
        "insert into audit_log (actor_id, school_id, action, target, details) values ($1, $2, 'demo.created', $3, 'demo data')",
    )
    .bind(op)
    .bind(school)
    .bind(format!("school:{school}"))
    .execute(&mut *tx)
    .await?;
    crate::invites::demo::populate(&mut *tx, tenant, admin, &shape.email_suffix()).await?;
    // The chats' members come from the roster views, planned here for rows this
    // transaction has just written and the statistics have not seen (they say «one row»):
    // nested loops over them take seconds per school, hash joins milliseconds (and the
    // cost the planner then adds to the cross join must not start the JIT compiler).
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    sqlx::query("set local enable_nestloop = off")
        .execute(&mut *tx)
        .await?;
    crate::chats::demo::populate(&mut *tx, tenant).await?;
    crate::stats::demo::populate(&mut *tx, tenant).await?;
    crate::channels::demo::populate(&mut *tx, tenant).await?;
    crate::broadcasts::demo::populate(&mut *tx, tenant).await?;
    sqlx::query("set local enable_nestloop = on")
        .execute(&mut *tx)
        .await?;
    Ok(())
}
