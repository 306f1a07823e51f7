//! What an import would do (R2.1.k): every row of a [`Table`] checked against the school's
//! people, loaded once into memory (2 000 rows must not mean 2 000 queries), and turned into
//! a [`Plan`]: per row «будет создан», «будет обновлён», «без изменений» or refused with
//! a reason naming row and column (SECURITY.md 19). The same plan, built again inside the
//! applying transaction, is what [`apply`] writes: all of it or, with any error, nothing.
//!
//! Matching, so that the same file twice creates no one twice:
//! - a student is the active student of this school with the same surname, given name and
//!   patronymic (case and ё/е aside) and the same birth date (or both without one);
//! - a parent is the school's member with the file's e-mail, else its phone, else a parent
//!   already linked to that child with the same full name;
//! - a staff member is the school's member with the file's e-mail, else its phone, else the
//!   school's staff member with the same full name.
//!
//! Only this school's members are matched (SECURITY.md 35): a contact of anyone else, on
//! the portal or not, plans the same «будет создан» and becomes an offer (see
//! [`crate::offers`]) when applied; people without a contact get a new account. An import
//! never changes an account's name, e-mail or phone (only the person does); it says when
//! the file differs.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::parse::{self, Col, Field, Kind, Row, RowError, Table};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::people::NewPerson;
use crate::web::format::{self, full_name, normalize_email, normalize_phone};

const MAX_NAME: usize = 100;
const MAX_POSITION: usize = 200;

/// What happens to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Create,
    Update,
    Unchanged,
    Refused,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Create => "будет создан",
            Outcome::Update => "будет обновлён",
            Outcome::Unchanged => "без изменений",
            Outcome::Refused => "ошибка",
        }
    }
    /// For the badge's style.
    pub fn css(self) -> &'static str {
        match self {
            Outcome::Create => "outcome-create",
            Outcome::Update => "outcome-update",
            Outcome::Unchanged => "outcome-unchanged",
            Outcome::Refused => "outcome-refused",
        }
    }
}

/// One row of the preview.
#[derive(Debug, Clone)]
pub struct RowPlan {
    pub number: usize,
    /// «Фамилия Имя Отчество».
    pub person: String,
    /// The class («5А») or the role («учитель»).
    pub place: String,
    /// The parents, or the position.
    pub details: String,
    pub outcome: Outcome,
    pub notes: Vec<String>,
}

/// The preview's numbers. For a staff list only the first four count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub create: i64,
    pub update: i64,
    pub unchanged: i64,
    pub refused: i64,
    /// New parent accounts.
    pub parents_new: i64,
    /// New parent–child links (to new or known parents).
    pub links_new: i64,
}

/// A person the plan refers to: on the portal already, or the n-th to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Who {
    Existing(AccountId),
    New(usize),
}

pub(super) struct StaffWrite {
    pub(super) who: Who,
    pub(super) role: &'static str,
    /// Set the membership's position to this.
    pub(super) position: Option<String>,
}

/// The writes a plan makes, in order.
#[derive(Default)]
pub(super) struct Writes {
    pub(super) new_people: Vec<NewPerson>,
    /// Students to enrol into a class, or to move to it.
    pub(super) enrol: Vec<(Who, ClassId)>,
    /// Parent → child links to make.
    pub(super) links: Vec<(Who, Who)>,
    pub(super) staff: Vec<StaffWrite>,
    /// Student memberships already there, by account.
    pub(super) students: HashMap<AccountId, MembershipId>,
}

pub struct Plan {
    pub kind: Kind,
    pub rows: Vec<RowPlan>,
    /// Every refused cell, in row order.
    pub errors: Vec<RowError>,
    pub counts: Counts,
    pub(super) writes: Writes,
}

impl Plan {
    /// «Учеников: создано 2 000, обновлено 0, без изменений 0. Новых родителей 3 000 …»
    /// (a new parent or staff member with a contact is invited by an offer).
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let n = |v: i64| format::number(v);
        match self.kind {
            Kind::Students => format!(
                "Учеников: создано {}, обновлено {}, без изменений {}. Новых родителей {}, \
                 связей «родитель — ученик» {}; у кого указан контакт, получат приглашение.",
                n(c.create),
                n(c.update),
                n(c.unchanged),
                n(c.parents_new),
                n(c.links_new)
            ),
            Kind::Staff => format!(
                "Сотрудников: новых {}, обновлено {}, без изменений {}; у кого указан контакт, \
                 получат приглашение.",
                n(c.create),
                n(c.update),
                n(c.unchanged)
            ),
        }
    }
}

// ---- what the school has ------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Person {
    account: AccountId,
    surname: String,
    given: String,
    patronymic: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl Person {
    fn name(&self) -> String {
        full_name(&self.surname, &self.given, self.patronymic.as_deref())
    }
    fn key(&self) -> String {
        person_key(&self.surname, &self.given, self.patronymic.as_deref())
    }
}

struct ExistingStudent {
    membership: MembershipId,
    account: AccountId,
    class: Option<ClassId>,
}

struct ExistingStaff {
    person: Person,
    role: String,
    position: Option<String>,
}

/// The school's people and classes, as far as the file needs them.
pub struct Snapshot {
    /// Current-year classes by (grade, letter).
    classes: HashMap<(i16, String), ClassId>,
    class_titles: HashMap<ClassId, String>,
    students: HashMap<String, Vec<ExistingStudent>>,
    parents_of: HashMap<MembershipId, Vec<Person>>,
    /// (contact, child) of the school's parent offers waiting for an answer.
    offered: HashSet<(String, MembershipId)>,
    /// The school's members with an e-mail or phone the file mentions.
    by_email: HashMap<String, Person>,
    by_phone: HashMap<String, Person>,
    staff: Vec<ExistingStaff>,
}

fn person_key(surname: &str, given: &str, patronymic: Option<&str>) -> String {
    format!(
        "{}|{}|{}",
        parse::name_key(surname),
        parse::name_key(given),
        parse::name_key(patronymic.unwrap_or(""))
    )
}

fn student_key(name_key: &str, birth: Option<time::Date>) -> String {
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

// ---- checking rows ------------------------------------------------------------------------

fn col(parent: Option<u8>, f: Field) -> Col {
    match parent {
        Some(n) => Col::Parent(n, f),
        None => Col::Person(f),
    }
}

/// A person as a row gives them, checked.
#[derive(Debug, Clone)]
struct PersonIn {
    surname: String,
    given: String,
    patronymic: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl PersonIn {
    fn name(&self) -> String {
        full_name(&self.surname, &self.given, self.patronymic.as_deref())
    }
    fn key(&self) -> String {
        person_key(&self.surname, &self.given, self.patronymic.as_deref())
    }
    /// The same person as an account, going by the name.
    fn same_as(&self, p: &Person) -> bool {
        same_names(
            (&self.surname, &self.given, self.patronymic.as_deref()),
            (&p.surname, &p.given, p.patronymic.as_deref()),
        )
    }
    fn new_person(&self, birth_date: Option<time::Date>) -> NewPerson {
        NewPerson {
            surname: self.surname.clone(),
            given_name: self.given.clone(),
            patronymic: self.patronymic.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            birth_date,
        }
    }
}

/// Surname and given name equal (case and ё/е aside), patronymics equal when both are known.
fn same_names(a: (&str, &str, Option<&str>), b: (&str, &str, Option<&str>)) -> bool {
    let eq = |x: &str, y: &str| parse::name_key(x) == parse::name_key(y);
    eq(a.0, b.0)
        && eq(a.1, b.1)
        && match (a.2, b.2) {
            (Some(x), Some(y)) => eq(x, y),
            _ => true,
        }
}

/// Collects a row's errors with the file's own column names.
struct Errors<'a> {
    table: &'a Table,
    row: usize,
    list: Vec<RowError>,
}

impl Errors<'_> {
    fn add(&mut self, col: Col, message: impl Into<String>) {
        self.list.push(RowError {
            row: self.row,
            column: self.table.title(col),
            message: message.into(),
        });
    }
}

fn check_name_part(errs: &mut Errors<'_>, c: Col, value: &str, what: &str) {
    if value.chars().count() > MAX_NAME {
        errs.add(c, format!("{what} длиннее {MAX_NAME} символов."));
    } else if value.chars().any(|ch| ch.is_ascii_digit() || ch == '@') {
        errs.add(
            c,
            format!("{what} «{value}» с цифрами или «@»: возможно, значения сдвинуты на столбец."),
        );
    }
}

/// The person named in a row (the student or staff member with `parent = None`, else
/// parent 1 or 2). `None` when a parent's cells are all empty, or on errors.
fn person_in(
    table: &Table,
    row: &Row,
    parent: Option<u8>,
    errs: &mut Errors<'_>,
) -> Option<PersonIn> {
    let c = |f| col(parent, f);
    let raw = |f| row.get(c(f)).to_owned();
    let (mut surname, mut given, mut patronymic) = (
        parse::clean_name(&raw(Field::Surname)),
        parse::clean_name(&raw(Field::Given)),
        parse::clean_name(&raw(Field::Patronymic)),
    );
    let full = raw(Field::FullName);
    let email_raw = if parent.is_some() || table.kind == Kind::Staff {
        raw(Field::Email)
    } else {
        String::new()
    };
    let phone_raw = if parent.is_some() || table.kind == Kind::Staff {
        raw(Field::Phone)
    } else {
        String::new()
    };
    let empty = surname.is_empty()
        && given.is_empty()
        && patronymic.is_empty()
        && full.is_empty()
        && email_raw.is_empty()
        && phone_raw.is_empty();
    if parent.is_some() && empty {
        return None;
    }
    let before = errs.list.len();
    let separate = table.has(c(Field::Surname)) || table.has(c(Field::Given));
    let name_col = if surname.is_empty() && given.is_empty() && !full.is_empty() {
        match parse::split_full_name(&full) {
            Some((s, g, p)) => {
                surname = s;
                given = g;
                patronymic = p.unwrap_or_default();
            }
            None => errs.add(
                c(Field::FullName),
                format!("«{full}»: нужны фамилия, имя и отчество (если есть) через пробел."),
            ),
        }
        c(Field::FullName)
    } else {
        c(Field::Surname)
    };
    let whose = if parent.is_some() {
        " родителя"
    } else {
        ""
    };
    if errs.list.len() == before {
        if surname.is_empty() {
            let target = if separate {
                c(Field::Surname)
            } else {
                name_col
            };
            errs.add(target, format!("не указана фамилия{whose}."));
        }
        if given.is_empty() {
            let target = if separate { c(Field::Given) } else { name_col };
            errs.add(target, format!("не указано имя{whose}."));
        }
    }
    let part = |f: Field| if separate { c(f) } else { name_col };
    check_name_part(errs, part(Field::Surname), &surname, "Фамилия");
    check_name_part(errs, part(Field::Given), &given, "Имя");
    check_name_part(errs, part(Field::Patronymic), &patronymic, "Отчество");

    let email = if email_raw.is_empty() {
        None
    } else {
        let e = normalize_email(&email_raw);
        if e.is_none() {
            errs.add(
                c(Field::Email),
                format!("адрес электронной почты «{email_raw}» написан с ошибкой."),
            );
        }
        e
    };
    let phone = if phone_raw.is_empty() {
        None
    } else {
        let p = normalize_phone(&phone_raw);
        if p.is_none() {
            errs.add(
                c(Field::Phone),
                format!(
                    "телефон «{phone_raw}» не похож на российский номер: нужны 10 цифр \
                     после +7 или 8."
                ),
            );
        }
        p
    };
    if errs.list.len() > before {
        return None;
    }
    Some(PersonIn {
        surname,
        given,
        patronymic: (!patronymic.is_empty()).then_some(patronymic),
        email,
        phone,
    })
}

/// People the file itself brings in, so that the second mention of one is the same one.
#[derive(Default)]
struct SeenInFile {
    /// Contact → (who, first row, the person as that row names them).
    contacts: HashMap<String, (Who, usize, PersonIn)>,
    /// Full-name key → who (staff lists only: a person with two roles is two rows).
    names: HashMap<String, Who>,
}

/// How a person in the file resolves to an account.
struct Resolved {
    who: Who,
    /// The account, when it is on the portal already.
    existing: Option<Person>,
}

/// Finds the account a person of the file is, by e-mail then phone (any account on the
/// portal); `by_name` then tries the people given by the caller. Errors when a contact
/// belongs to someone else.
#[allow(clippy::too_many_arguments)]
fn resolve(
    p: &PersonIn,
    parent: Option<u8>,
    snap: &Snapshot,
    by_name: &[&Person],
    seen: &mut SeenInFile,
    w: &mut Writes,
    errs: &mut Errors<'_>,
    unify_names: bool,
) -> Option<Resolved> {
    let c = |f| col(parent, f);
    let by_email = p.email.as_ref().and_then(|e| snap.by_email.get(e));
    let by_phone = p.phone.as_ref().and_then(|ph| snap.by_phone.get(ph));
    if let (Some(a), Some(b)) = (by_email, by_phone) {
        if a.account != b.account {
            errs.add(
                c(Field::Phone),
                "e-mail и телефон в этой строке принадлежат на портале разным людям.",
            );
            return None;
        }
    }
    let found = match (by_email, by_phone) {
        (Some(a), _) => Some((a, c(Field::Email), "адрес электронной почты")),
        (None, Some(b)) => Some((b, c(Field::Phone), "телефон")),
        (None, None) => None,
    };
    let existing: Option<Person> = match found {
        Some((acc, column, what)) => {
            if !p.same_as(acc) {
                errs.add(
                    column,
                    format!(
                        "{what} уже есть на портале у другого человека. Проверьте, чей он, \
                         или оставьте ячейку пустой."
                    ),
                );
                return None;
            }
            Some(acc.clone())
        }
        None => {
            let key = p.key();
            let same: Vec<&&Person> = by_name.iter().filter(|x| x.key() == key).collect();
            let accounts: HashSet<AccountId> = same.iter().map(|x| x.account).collect();
            if accounts.len() > 1 {
                errs.add(
                    c(Field::Surname),
                    format!(
                        "в школе несколько человек с именем «{}»: укажите e-mail или телефон, \
                         чтобы было понятно, о ком строка.",
                        p.name()
                    ),
                );
                return None;
            }
            same.first().map(|x| (**x).clone())
        }
    };

    // The file may mention a person twice (a parent of two children; a teacher who is also
    // a deputy): the second mention must be the same person as the first.
    let in_file = p
        .email
        .iter()
        .chain(p.phone.iter())
        .find_map(|contact| seen.contacts.get(contact).cloned());
    let who = match (&existing, in_file) {
        (_, Some((who, first_row, first))) => {
            let first_names = (
                first.surname.as_str(),
                first.given.as_str(),
                first.patronymic.as_deref(),
            );
            if !same_names((&p.surname, &p.given, p.patronymic.as_deref()), first_names) {
                let column = if p
                    .email
                    .as_ref()
                    .is_some_and(|e| seen.contacts.contains_key(e))
                {
                    c(Field::Email)
                } else {
                    c(Field::Phone)
                };
                errs.add(
                    column,
                    format!("этот контакт уже указан в строке {first_row} у другого человека."),
                );
                return None;
            }
            if let Some(e) = &existing {
                if who != Who::Existing(e.account) {
                    errs.add(
                        c(Field::Email),
                        format!("в строке {first_row} этот человек указан с другими контактами."),
                    );
                    return None;
                }
            }
            who
        }
        (Some(e), None) => Who::Existing(e.account),
        (None, None) => match seen.names.get(&p.key()).copied().filter(|_| unify_names) {
            Some(who) => who,
            None => {
                w.new_people.push(p.new_person(None));
                Who::New(w.new_people.len() - 1)
            }
        },
    };
    let given_contacts = [(&p.email, Field::Email), (&p.phone, Field::Phone)];
    for (contact, field) in given_contacts {
        let Some(contact) = contact else { continue };
        match seen.contacts.get(contact) {
            Some((other, first_row, _)) if *other != who => {
                errs.add(
                    c(field),
                    format!("этот контакт уже указан в строке {first_row} у другого человека."),
                );
                return None;
            }
            Some(_) => {}
            None => {
                seen.contacts
                    .insert(contact.clone(), (who, errs.row, p.clone()));
            }
        }
    }
    if unify_names {
        seen.names.entry(p.key()).or_insert(who);
    }
    Some(Resolved { who, existing })
}

/// Notes a contact in the file that the account lacks or has otherwise: only the person
/// changes their account (SECURITY.md 35), so nothing is written. Never changes the outcome.
fn fill_contacts(
    p: &PersonIn,
    existing: &Person,
    _w: &mut Writes,
    notes: &mut Vec<String>,
) -> bool {
    let differs = |file: &Option<String>, ours: &Option<String>| file.is_some() && file != ours;
    if differs(&p.email, &existing.email) || differs(&p.phone, &existing.phone) {
        notes.push(format!(
            "{}: в файле другие контакты; их меняет только сам человек",
            existing.name()
        ));
    }
    false
}

/// Checks every row and plans the writes. `may_appoint_director`: whether the person
/// importing may give someone the director's role (only a director may: SECURITY.md 14).
pub fn build(table: &Table, snap: &Snapshot, may_appoint_director: bool) -> Plan {
    let mut plan = Plan {
        kind: table.kind,
        rows: Vec::with_capacity(table.rows.len()),
        errors: Vec::new(),
        counts: Counts::default(),
        writes: Writes::default(),
    };
    let malformed: HashSet<usize> = table.errors.iter().map(|e| e.row).collect();
    let mut seen = SeenInFile::default();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for row in &table.rows {
        let mut errs = Errors {
            table,
            row: row.number,
            list: Vec::new(),
        };
        let mut rp = match table.kind {
            Kind::Students => student_row(
                table,
                row,
                snap,
                &mut seen,
                &mut first_row,
                &mut plan,
                &mut errs,
            ),
            Kind::Staff => staff_row(
                table,
                row,
                snap,
                &mut seen,
                &mut first_row,
                &mut plan.writes,
                &mut errs,
                may_appoint_director,
            ),
        };
        if !errs.list.is_empty() || malformed.contains(&row.number) {
            rp.outcome = Outcome::Refused;
        }
        match rp.outcome {
            Outcome::Create => plan.counts.create += 1,
            Outcome::Update => plan.counts.update += 1,
            Outcome::Unchanged => plan.counts.unchanged += 1,
            Outcome::Refused => plan.counts.refused += 1,
        }
        plan.errors.extend(errs.list);
        plan.rows.push(rp);
    }
    plan.errors.extend(table.errors.iter().cloned());
    plan.errors
        .sort_by_key(|e| (e.row, table.position(&e.column)));
    plan
}

#[allow(clippy::too_many_arguments)]
fn student_row(
    table: &Table,
    row: &Row,
    snap: &Snapshot,
    seen: &mut SeenInFile,
    first_row: &mut HashMap<String, usize>,
    plan: &mut Plan,
    errs: &mut Errors<'_>,
) -> RowPlan {
    let mut rp = RowPlan {
        number: row.number,
        person: String::new(),
        place: row.get(Col::Class).to_owned(),
        details: String::new(),
        outcome: Outcome::Refused,
        notes: Vec::new(),
    };
    let student = person_in(table, row, None, errs);
    rp.person = match &student {
        Some(s) => s.name(),
        None => parse::clean_name(&format!(
            "{} {} {}",
            row.get(Col::Person(Field::Surname)),
            row.get(Col::Person(Field::Given)),
            row.get(Col::Person(Field::FullName))
        )),
    };
    let class_raw = row.get(Col::Class);
    let class = if class_raw.is_empty() {
        errs.add(Col::Class, "не указан класс.");
        None
    } else {
        match parse::class_name(class_raw) {
            None => {
                errs.add(
                    Col::Class,
                    format!("«{class_raw}» — не класс: пишите номер и букву, например «5А»."),
                );
                None
            }
            Some((grade, letter)) => match snap.classes.get(&(grade, letter.clone())) {
                Some(id) => {
                    rp.place = format!("{grade}{letter}");
                    Some(*id)
                }
                None => {
                    errs.add(
                        Col::Class,
                        format!(
                            "класса «{grade}{letter}» нет в школе. Создайте его или исправьте \
                             класс в файле."
                        ),
                    );
                    None
                }
            },
        }
    };
    let birth = birth_date(row.get(Col::BirthDate), errs);
    let parents: Vec<(u8, PersonIn)> = [1u8, 2]
        .into_iter()
        .filter_map(|n| person_in(table, row, Some(n), errs).map(|p| (n, p)))
        .collect();
    rp.details = parents
        .iter()
        .map(|(_, p)| p.name())
        .collect::<Vec<_>>()
        .join(", ");

    // The student: the same one twice in the file, or one already in the school.
    let w = &mut plan.writes;
    let mut child: Option<(Who, Option<MembershipId>)> = None;
    let mut outcome = Outcome::Refused;
    if let (Some(student), Some(class)) = (&student, class) {
        let key = student_key(&student.key(), birth);
        let found = snap.students.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(first) = first_row.get(&key) {
            let born = match birth {
                Some(d) => format!("с датой рождения {}", format::date(d)),
                None => "без даты рождения".to_owned(),
            };
            errs.add(
                Col::Person(Field::Surname),
                format!(
                    "ученик «{}» {born} уже есть в строке {first}: одна строка на ученика.",
                    student.name()
                ),
            );
        } else if found.len() > 1 {
            errs.add(
                Col::Person(Field::Surname),
                format!(
                    "в школе несколько учеников «{}» с той же датой рождения: исправьте их \
                     карточки, затем повторите импорт.",
                    student.name()
                ),
            );
        } else if let Some(s) = found.first() {
            first_row.insert(key, row.number);
            w.students.insert(s.account, s.membership);
            outcome = Outcome::Unchanged;
            if s.class != Some(class) {
                let from = s
                    .class
                    .and_then(|c| snap.class_titles.get(&c))
                    .cloned()
                    .unwrap_or_else(|| "без класса".into());
                rp.notes
                    .push(format!("перевод из класса {from} в класс {}", rp.place));
                w.enrol.push((Who::Existing(s.account), class));
                outcome = Outcome::Update;
            }
            child = Some((Who::Existing(s.account), Some(s.membership)));
        } else {
            first_row.insert(key, row.number);
            w.new_people.push(student.new_person(birth));
            let who = Who::New(w.new_people.len() - 1);
            w.enrol.push((who, class));
            outcome = Outcome::Create;
            child = Some((who, None));
        }
    }

    // The parents are checked even when the student's cells have errors: every error of
    // the row is reported at once.
    let linked: Vec<&Person> = child
        .and_then(|(_, m)| m)
        .and_then(|m| snap.parents_of.get(&m))
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let (mut parents_new, mut links_new) = (0, 0);
    let mut row_parents: Vec<Who> = Vec::new();
    for (n, p) in &parents {
        let new_before = w.new_people.len();
        let Some(r) = resolve(p, Some(*n), snap, &linked, seen, w, errs, false) else {
            continue;
        };
        if row_parents.contains(&r.who) {
            errs.add(
                Col::Parent(*n, Field::Surname),
                "второй родитель в строке — тот же человек, что и первый.",
            );
            continue;
        }
        row_parents.push(r.who);
        // Invited to this child already, waiting for the answer: nothing new.
        if let (Who::New(_), Some((_, Some(m)))) = (r.who, child) {
            if [&p.email, &p.phone]
                .into_iter()
                .flatten()
                .any(|c| snap.offered.contains(&(c.clone(), m)))
            {
                // (The planned person stays unused: they have a contact, so no account.)
                continue;
            }
        }
        if matches!(r.who, Who::New(_)) {
            if w.new_people.len() > new_before {
                parents_new += 1;
            } else {
                rp.notes
                    .push(format!("родитель {} указан и в другой строке", p.name()));
            }
        }
        if let Some(existing) = &r.existing {
            if fill_contacts(p, existing, w, &mut rp.notes) && outcome == Outcome::Unchanged {
                outcome = Outcome::Update;
            }
        }
        let Some((child_who, child_membership)) = child else {
            continue;
        };
        let already = matches!(r.who, Who::Existing(a) if linked.iter().any(|x| x.account == a));
        if !already {
            w.links.push((r.who, child_who));
            links_new += 1;
            if r.existing.is_some() {
                rp.notes.push(format!(
                    "родитель {} уже есть на портале: будет связан с учеником",
                    p.name()
                ));
            } else if child_membership.is_some() {
                rp.notes
                    .push(format!("будет добавлен родитель {}", p.name()));
            }
            if outcome == Outcome::Unchanged {
                outcome = Outcome::Update;
            }
        }
    }
    if errs.list.is_empty() {
        plan.counts.parents_new += parents_new;
        plan.counts.links_new += links_new;
        rp.outcome = outcome;
    }
    rp
}

/// A birth date: empty is fine; otherwise a real date, not in the future.
fn birth_date(raw: &str, errs: &mut Errors<'_>) -> Option<time::Date> {
    if raw.is_empty() {
        return None;
    }
    let today = time::OffsetDateTime::now_utc().date();
    match parse::parse_date(raw) {
        Some(d) if d <= today && d.year() >= 1990 => Some(d),
        Some(_) => {
            errs.add(
                Col::BirthDate,
                format!("дата рождения «{raw}» не похожа на настоящую."),
            );
            None
        }
        None if raw
            .split(['.', '/', '-'])
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            .count()
            == 3 =>
        {
            errs.add(Col::BirthDate, format!("даты «{raw}» не бывает."));
            None
        }
        None => {
            errs.add(
                Col::BirthDate,
                format!("дата «{raw}» не в формате ДД.ММ.ГГГГ, например 01.09.2015."),
            );
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn staff_row(
    table: &Table,
    row: &Row,
    snap: &Snapshot,
    seen: &mut SeenInFile,
    first_row: &mut HashMap<String, usize>,
    w: &mut Writes,
    errs: &mut Errors<'_>,
    may_appoint_director: bool,
) -> RowPlan {
    let role_raw = row.get(Col::Role);
    let mut rp = RowPlan {
        number: row.number,
        person: String::new(),
        place: role_raw.to_owned(),
        details: parse::clean_name(row.get(Col::Position)),
        outcome: Outcome::Refused,
        notes: Vec::new(),
    };
    let person = person_in(table, row, None, errs);
    rp.person = match &person {
        Some(p) => p.name(),
        None => parse::clean_name(&format!(
            "{} {} {}",
            row.get(Col::Person(Field::Surname)),
            row.get(Col::Person(Field::Given)),
            row.get(Col::Person(Field::FullName))
        )),
    };
    let role = if role_raw.is_empty() {
        errs.add(
            Col::Role,
            "не указана роль: учитель, сотрудник, заместитель директора или директор.",
        );
        None
    } else {
        match parse::staff_role(role_raw) {
            Some(r) => {
                rp.place = parse::staff_role_title(r).to_owned();
                Some(r)
            }
            None => {
                errs.add(
                    Col::Role,
                    format!(
                        "роль «{role_raw}» не известна: напишите «учитель», «сотрудник», \
                         «заместитель директора» или «директор»."
                    ),
                );
                None
            }
        }
    };
    let position = rp.details.clone();
    if position.chars().count() > MAX_POSITION {
        errs.add(
            Col::Position,
            format!("должность длиннее {MAX_POSITION} символов."),
        );
    }
    let (Some(p), Some(role)) = (person, role) else {
        return rp;
    };
    if !errs.list.is_empty() {
        return rp;
    }

    let school_staff: Vec<&Person> = snap.staff.iter().map(|s| &s.person).collect();
    let Some(r) = resolve(&p, None, snap, &school_staff, seen, w, errs, true) else {
        return rp;
    };
    let dup_key = format!("{:?}|{role}", r.who);
    if let Some(first) = first_row.get(&dup_key) {
        errs.add(
            Col::Person(Field::Surname),
            format!(
                "«{}» с ролью «{}» уже есть в строке {first}: одна строка на роль.",
                p.name(),
                rp.place
            ),
        );
        return rp;
    }
    first_row.insert(dup_key, row.number);

    let mine: Vec<&ExistingStaff> = match r.who {
        Who::Existing(a) => snap
            .staff
            .iter()
            .filter(|s| s.person.account == a)
            .collect(),
        Who::New(_) => Vec::new(),
    };
    let new_position = (!position.is_empty()).then(|| position.clone());
    let mut outcome;
    match mine.iter().find(|s| s.role == role) {
        Some(current) => {
            outcome = Outcome::Unchanged;
            if new_position.is_some() && new_position != current.position {
                rp.notes.push(format!(
                    "должность: «{}» → «{position}»",
                    current.position.as_deref().unwrap_or("—")
                ));
                w.staff.push(StaffWrite {
                    who: r.who,
                    role,
                    position: new_position,
                });
                outcome = Outcome::Update;
            }
        }
        None => {
            if role == "director" && !may_appoint_director {
                errs.add(
                    Col::Role,
                    "роль «директор» через импорт назначает только сам директор: роль выше \
                     своей не выдаёт никто. Уберите строку или укажите другую роль.",
                );
                return rp;
            }
            w.staff.push(StaffWrite {
                who: r.who,
                role,
                position: new_position,
            });
            outcome = if mine.is_empty() {
                if r.existing.is_some() {
                    rp.notes
                        .push("уже есть на портале: будет добавлен в школу".to_owned());
                }
                Outcome::Create
            } else {
                rp.notes.push(format!("добавится роль «{}»", rp.place));
                Outcome::Update
            };
        }
    }
    if let Some(existing) = &r.existing {
        if fill_contacts(&p, existing, w, &mut rp.notes) && outcome == Outcome::Unchanged {
            outcome = Outcome::Update;
        }
    }
    rp.outcome = outcome;
    rp
}
