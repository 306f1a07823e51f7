//! One row of a students list planned.

use super::check::{Errors, PersonIn, RowContext, birth_date, fill_contacts, person_in};
use super::snapshot::{Person, student_key};
use super::{Outcome, Plan, RowPlan, Who};
use crate::ids::MembershipId;
use crate::imports::parse::{self, Col, Field, Row};
use crate::web::format;

/// Plans one row of a students list: the student (new, unchanged or moved to the row's
/// class) and their parents (new, known, linked or to link).
pub(super) fn student_row(
    cx: &mut RowContext<'_>,
    row: &Row,
    plan: &mut Plan,
    errs: &mut Errors<'_>,
) -> RowPlan {
    let (table, snap) = (cx.table, cx.snap);
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
        if let Some(first) = cx.first_row.get(&key) {
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
            cx.first_row.insert(key, row.number);
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
            cx.first_row.insert(key, row.number);
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
        let Some(r) = cx.resolve(p, Some(*n), &linked, w, errs, false) else {
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
