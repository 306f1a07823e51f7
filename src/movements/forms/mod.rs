//! The administrator's forms for single movements (R2.1.k): enrolment of a new student,
//! transfer between classes, a student leaving, a staff member leaving. Each form carries
//! its movement's id, so sending it twice records one movement; each success goes back to
//! the register with a note of what was recorded.
//!
//! One file a movement kind: [`enrol`], [`transfer`], [`leave`], [`staff_leave`]; choosing
//! the student a form is about is [`pick`]; what they share is here.

mod enrol;
mod leave;
mod pick;
mod staff_leave;
mod transfer;

use axum::response::{IntoResponse, Redirect, Response};

use super::ClassOption;
use super::domain::{MovementError, MovementId};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::ClassId;

pub(super) use enrol::{enrol, enrol_page};
pub(super) use leave::{leave, leave_page};
pub(super) use staff_leave::{staff_leave, staff_leave_page};
pub(super) use transfer::{transfer, transfer_page};

const STALE_FORM: &str = "Форма устарела. Откройте её заново и заполните ещё раз.";

fn iso(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn recorded(tenant: Tenant, id: MovementId) -> Response {
    let school = tenant.id();
    Redirect::to(&format!("/s/{school}/movements?recorded={id}")).into_response()
}

/// A movement error no form field explains.
/// Sent again (at once, or after Back): the register with the movement this form's key
/// recorded, before the checks it would now fail (the student has already left). A submit
/// of the key in flight is waited for.
async fn recorded_before(
    state: &crate::AppState,
    tenant: Tenant,
    key: MovementId,
) -> AppResult<Option<Response>> {
    let mut tx = state.db.begin().await?;
    let again = match super::domain::claim(&mut tx, key).await {
        Err(MovementError::AlreadyRecorded) => Some(recorded(tenant, key)),
        Err(e) => return Err(movement_failure(e)),
        Ok(()) => None,
    };
    tx.rollback().await?;
    Ok(again)
}

fn movement_failure(e: MovementError) -> AppError {
    match e {
        MovementError::Db(e) => e.into(),
        _ => AppError::NotFound,
    }
}

fn parse_key(key: &str) -> AppResult<MovementId> {
    key.parse()
        .map_err(|_| AppError::BadRequest(crate::ru!(STALE_FORM)))
}

/// The class chosen in a select, if it is one of the current classes.
fn chosen_class(value: &str, classes: &[ClassOption]) -> Option<ClassId> {
    let id: ClassId = value.trim().parse().ok()?;
    classes.iter().any(|c| c.id == id).then_some(id)
}
