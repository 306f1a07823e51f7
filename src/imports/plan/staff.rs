//! One row of a staff list planned.

use super::check::{Errors, RowContext, fill_contacts, person_in};
use super::snapshot::{ExistingStaff, Person};
use super::{Outcome, RowPlan, StaffWrite, Who, Writes};
use crate::imports::parse::{self, Col, Field, Row};

const MAX_POSITION: usize = 200;

/// Plans one row of a staff list: the person (new, known or a new role of theirs), their
/// role and position.
pub(super) fn staff_row(
    cx: &mut RowContext<'_>,
    row: &Row,
    w: &mut Writes,
    errs: &mut Errors<'_>,
) -> RowPlan {
    let (table, snap) = (cx.table, cx.snap);
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
    let Some(r) = cx.resolve(&p, None, &school_staff, w, errs, true) else {
        return rp;
    };
    let dup_key = format!("{:?}|{role}", r.who);
    if let Some(first) = cx.first_row.get(&dup_key) {
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
    cx.first_row.insert(dup_key, row.number);

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
            if role == "director" && !cx.may_appoint_director {
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
