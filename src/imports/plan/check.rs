//! Checking a row's people: each person's cells read and checked (naming the file's own
//! column in every error), then resolved to an account of the school or a new person —
//! the same one when the file mentions them twice.

use std::collections::{HashMap, HashSet};

use super::snapshot::{Person, Snapshot, person_key};
use super::{Who, Writes};
use crate::ids::AccountId;
use crate::imports::parse::{self, Col, Field, Kind, Row, RowError, Table};
use crate::people::NewPerson;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::full_name;

const MAX_NAME: usize = 100;

pub(super) fn col(parent: Option<u8>, f: Field) -> Col {
    match parent {
        Some(n) => Col::Parent(n, f),
        None => Col::Person(f),
    }
}

/// A person as a row gives them, checked.
#[derive(Debug, Clone)]
pub(super) struct PersonIn {
    pub(super) surname: String,
    pub(super) given: String,
    pub(super) patronymic: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
}

impl PersonIn {
    pub(super) fn name(&self) -> String {
        full_name(&self.surname, &self.given, self.patronymic.as_deref())
    }
    pub(super) fn key(&self) -> String {
        person_key(&self.surname, &self.given, self.patronymic.as_deref())
    }
    /// The same person as an account, going by the name.
    pub(super) fn same_as(&self, p: &Person) -> bool {
        same_names(
            (&self.surname, &self.given, self.patronymic.as_deref()),
            (&p.surname, &p.given, p.patronymic.as_deref()),
        )
    }
    pub(super) fn new_person(&self, birth_date: Option<time::Date>) -> NewPerson {
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
pub(super) struct Errors<'a> {
    pub(super) table: &'a Table,
    pub(super) row: usize,
    pub(super) list: Vec<RowError>,
}

impl Errors<'_> {
    pub(super) fn add(&mut self, col: Col, message: impl Into<String>) {
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
pub(super) fn person_in(
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
pub(super) struct SeenInFile {
    /// Contact → (who, first row, the person as that row names them).
    contacts: HashMap<String, (Who, usize, PersonIn)>,
    /// Full-name key → who (staff lists only: a person with two roles is two rows).
    names: HashMap<String, Who>,
}

/// How a person in the file resolves to an account.
pub(super) struct Resolved {
    pub(super) who: Who,
    /// The account, when it is on the portal already.
    pub(super) existing: Option<Person>,
}

/// What every row's check reads, and what it keeps for the rows after it.
pub(super) struct RowContext<'a> {
    pub(super) table: &'a Table,
    pub(super) snap: &'a Snapshot,
    /// The people the rows so far brought in.
    pub(super) seen: SeenInFile,
    /// The first row of each student (students) or person and role (staff).
    pub(super) first_row: HashMap<String, usize>,
    /// Whether the person importing may give someone the director's role.
    pub(super) may_appoint_director: bool,
}

impl RowContext<'_> {
    /// Finds the account a person of the file is, by e-mail then phone (any account on the
    /// portal); `by_name` then tries the people given by the caller. Errors when a contact
    /// belongs to someone else.
    pub(super) fn resolve(
        &mut self,
        p: &PersonIn,
        parent: Option<u8>,
        by_name: &[&Person],
        w: &mut Writes,
        errs: &mut Errors<'_>,
        unify_names: bool,
    ) -> Option<Resolved> {
        let snap = self.snap;
        let seen = &mut self.seen;
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
                            format!(
                                "в строке {first_row} этот человек указан с другими контактами."
                            ),
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
}

/// Notes a contact in the file that the account lacks or has otherwise: only the person
/// changes their account (SECURITY.md 35), so nothing is written. Never changes the outcome.
pub(super) fn fill_contacts(
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

/// A birth date: empty is fine; otherwise a real date, not in the future.
pub(super) fn birth_date(raw: &str, errs: &mut Errors<'_>) -> Option<time::Date> {
    if raw.is_empty() {
        return None;
    }
    let today = time::OffsetDateTime::now_utc().date();
    match crate::web::form::parse_date(raw) {
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
