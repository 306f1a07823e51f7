//! What the school has, as far as a file needs it: its current classes, students with
//! their parents, pending parent offers, the members with a contact the file mentions,
//! and the staff — loaded in a handful of queries, whatever the file's size.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::check::col;
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::imports::parse::{self, Field, Kind, Table};
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::full_name;

#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) account: AccountId,
    pub(super) surname: String,
    pub(super) given: String,
    pub(super) patronymic: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
}

impl Person {
    pub(super) fn name(&self) -> String {
        full_name(&self.surname, &self.given, self.patronymic.as_deref())
    }
    pub(super) fn key(&self) -> String {
        person_key(&self.surname, &self.given, self.patronymic.as_deref())
    }
}

pub(super) struct ExistingStudent {
    pub(super) membership: MembershipId,
    pub(super) account: AccountId,
    pub(super) class: Option<ClassId>,
}

pub(super) struct ExistingStaff {
    pub(super) person: Person,
    pub(super) role: String,
    pub(super) position: Option<String>,
}

/// The school's people and classes, as far as the file needs them.
pub struct Snapshot {
    /// Current-year classes by (grade, letter).
    pub(super) classes: HashMap<(i16, String), ClassId>,
    pub(super) class_titles: HashMap<ClassId, String>,
    pub(super) students: HashMap<String, Vec<ExistingStudent>>,
    pub(super) parents_of: HashMap<MembershipId, Vec<Person>>,
    /// (contact, child) of the school's parent offers waiting for an answer.
    pub(super) offered: HashSet<(String, MembershipId)>,
    /// The school's members with an e-mail or phone the file mentions.
    pub(super) by_email: HashMap<String, Person>,
    pub(super) by_phone: HashMap<String, Person>,
    pub(super) staff: Vec<ExistingStaff>,
}

pub(super) fn person_key(surname: &str, given: &str, patronymic: Option<&str>) -> String {
    format!(
        "{}|{}|{}",
        parse::name_key(surname),
        parse::name_key(given),
        parse::name_key(patronymic.unwrap_or(""))
    )
}

pub(super) fn student_key(name_key: &str, birth: Option<time::Date>) -> String {
    match birth {
        Some(d) => format!("{name_key}|{d}"),
        None => format!("{name_key}|-"),
    }
}

/// The e-mails and phones a file mentions, normalised.
fn contacts(table: &Table) -> (Vec<String>, Vec<String>) {
    let mut emails = HashSet::new();
    let mut phones = HashSet::new();
    let prefixes: Vec<Option<u8>> = match table.kind {
        Kind::Students => vec![Some(1), Some(2)],
        Kind::Staff => vec![None],
    };
    for row in &table.rows {
        for p in &prefixes {
            if let Some(e) = normalize_email(row.get(col(*p, Field::Email))) {
                emails.insert(e);
            }
            if let Some(ph) = normalize_phone(row.get(col(*p, Field::Phone))) {
                phones.insert(ph);
            }
        }
    }
    (emails.into_iter().collect(), phones.into_iter().collect())
}

/// Loads what the file will be checked against: a handful of queries, whatever its size.
pub async fn load(
    conn: &mut PgConnection,
    tenant: Tenant,
    table: &Table,
) -> sqlx::Result<Snapshot> {
    let school = tenant.id();
    let classes = sqlx::query!(
        r#"select c.id as "id: ClassId", c.grade as "grade!", c.letter as "letter!"
           from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class' and y.is_current and c.archived_at is null"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut snap = Snapshot {
        classes: HashMap::new(),
        class_titles: HashMap::new(),
        students: HashMap::new(),
        parents_of: HashMap::new(),
        offered: HashSet::new(),
        by_email: HashMap::new(),
        by_phone: HashMap::new(),
        staff: Vec::new(),
    };
    for c in classes {
        let letter = c.letter.to_uppercase().replace('Ё', "Е");
        snap.class_titles
            .insert(c.id, format!("{}{}", c.grade, c.letter));
        snap.classes.insert((c.grade, letter), c.id);
    }

    let (emails, phones) = contacts(table);
    if !emails.is_empty() || !phones.is_empty() {
        let found = sqlx::query!(
            r#"select id as "id: AccountId", surname, given_name, patronymic, email, phone
               from accounts a where (email = any($1) or phone = any($2))
                 and exists(select 1 from memberships m where m.account_id = a.id and m.school_id = $3)"#,
            &emails,
            &phones,
            school as SchoolId
        )
        .fetch_all(&mut *conn)
        .await?;
        for a in found {
            let p = Person {
                account: a.id,
                surname: a.surname,
                given: a.given_name,
                patronymic: a.patronymic,
                email: a.email,
                phone: a.phone,
            };
            if let Some(e) = &p.email {
                snap.by_email.insert(e.clone(), p.clone());
            }
            if let Some(ph) = &p.phone {
                snap.by_phone.insert(ph.clone(), p.clone());
            }
        }
    }

    match table.kind {
        Kind::Students => {
            let students = sqlx::query!(
                r#"select m.id as "membership: MembershipId", a.id as "account: AccountId",
                          m.class_id as "class_id: ClassId",
                          a.surname, a.given_name, a.patronymic, a.birth_date
                   from memberships m join accounts a on a.id = m.account_id
                   where m.school_id = $1 and m.role = 'student' and m.status = 'active'"#,
                school as SchoolId
            )
            .fetch_all(&mut *conn)
            .await?;
            for s in students {
                let key = student_key(
                    &person_key(&s.surname, &s.given_name, s.patronymic.as_deref()),
                    s.birth_date,
                );
                snap.students.entry(key).or_default().push(ExistingStudent {
                    membership: s.membership,
                    account: s.account,
                    class: s.class_id,
                });
            }
            let parents = sqlx::query!(
                r#"select l.child_id as "child: MembershipId", a.id as "account: AccountId",
                          a.surname, a.given_name, a.patronymic, a.email, a.phone
                   from parent_links l
                   join memberships pm on pm.school_id = l.school_id and pm.id = l.parent_id
                   join accounts a on a.id = pm.account_id
                   where l.school_id = $1 and pm.status = 'active'"#,
                school as SchoolId
            )
            .fetch_all(&mut *conn)
            .await?;
            let offered = sqlx::query!(
                r#"select email, phone, child_id as "child!: MembershipId" from offers
                   where school_id = $1 and role = 'parent' and status = 'pending'
                     and expires_at > now() and child_id is not null"#,
                school as SchoolId
            )
            .fetch_all(&mut *conn)
            .await?;
            for o in offered {
                for contact in [o.email, o.phone].into_iter().flatten() {
                    snap.offered.insert((contact, o.child));
                }
            }
            for p in parents {
                snap.parents_of.entry(p.child).or_default().push(Person {
                    account: p.account,
                    surname: p.surname,
                    given: p.given_name,
                    patronymic: p.patronymic,
                    email: p.email,
                    phone: p.phone,
                });
            }
        }
        Kind::Staff => {
            let staff = sqlx::query!(
                r#"select m.role, m.position,
                          a.id as "account: AccountId", a.surname, a.given_name, a.patronymic,
                          a.email, a.phone
                   from memberships m join accounts a on a.id = m.account_id
                   where m.school_id = $1 and m.status = 'active'
                     and m.role in ('director', 'deputy', 'teacher', 'staff')"#,
                school as SchoolId
            )
            .fetch_all(&mut *conn)
            .await?;
            snap.staff = staff
                .into_iter()
                .map(|s| ExistingStaff {
                    person: Person {
                        account: s.account,
                        surname: s.surname,
                        given: s.given_name,
                        patronymic: s.patronymic,
                        email: s.email,
                        phone: s.phone,
                    },
                    role: s.role,
                    position: s.position,
                })
                .collect();
        }
    }
    Ok(snap)
}
