//! The join form's checks: the newcomer's whole form, and the child's name that a parent
//! joining by a class link gives in either form (a new account or the one logged in).

use super::{JoinForm, Live};
use crate::auth::password;
use crate::people::NewPerson;
use crate::web::form::FormErrors;
use crate::web::form::{normalize_email, normalize_phone};

/// Does this link ask the joining person for their child's name? A parent by a class link
/// (the link names no child) names the child for the approver.
pub(super) fn asks_child(live: &Live) -> bool {
    live.role == "parent" && live.child.is_none()
}

/// The child's name, when the link asks for it: required, at most 100 characters; the
/// errors go under `child_name`, next to the field.
fn check_child(live: &Live, form: &JoinForm, errors: &mut FormErrors) {
    if !asks_child(live) {
        return;
    }
    let name = form.child_name.trim();
    if name.is_empty() {
        errors.add(
            "child_name",
            "Укажите фамилию и имя ребёнка: по ним вас свяжут с ним.",
        );
    } else if name.chars().count() > 100 {
        errors.add("child_name", "Не длиннее 100 символов.");
    }
}

/// The logged-in form: only the child's name is asked (and only by a parent's class link).
pub(super) fn validate_child(live: &Live, form: &JoinForm) -> Result<(), FormErrors> {
    let mut errors = FormErrors::default();
    check_child(live, form, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks a newcomer's form: name, e-mail or phone, password, consent. Whether the contact
/// is registered is not checked here: the answer must not say (SECURITY.md 35).
pub(super) fn validate(live: &Live, form: &JoinForm) -> Result<NewPerson, FormErrors> {
    let mut errors = FormErrors::default();
    let surname = form.surname.trim();
    let given = form.given_name.trim();
    if surname.is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if given.is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    for (field, value) in [
        ("surname", surname),
        ("given_name", given),
        ("patronymic", form.patronymic.trim()),
    ] {
        if value.chars().count() > 100 {
            errors.add(field, "Не длиннее 100 символов.");
        }
    }
    let contact = form.contact.trim();
    let (email, phone) = if contact.contains('@') {
        (normalize_email(contact), None)
    } else {
        (None, normalize_phone(contact))
    };
    if email.is_none() && phone.is_none() {
        errors.add(
            "contact",
            "Укажите адрес электронной почты (ivanova@mail.ru) или телефон (+7 912 345-67-89): это ваш логин.",
        );
    }
    check_child(live, form, &mut errors);
    if let Err(m) = password::check_new_password(&form.password, false) {
        errors.add("password", m);
    }
    if form.password != form.password2 {
        errors.add("password2", "Пароли не совпадают.");
    }
    if let Err(m) = crate::offers::consent_given(&form.consent) {
        errors.add("consent", m);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let patronymic = Some(form.patronymic.trim().to_owned()).filter(|p| !p.is_empty());
    Ok(NewPerson {
        surname: surname.to_owned(),
        given_name: given.to_owned(),
        patronymic,
        email,
        phone,
        birth_date: None,
    })
}
