//! Unique violations from a race (SECURITY.md 18): two submits that both passed their
//! checks meet at a unique constraint; the loser must see the existing record or a form
//! message, never a 500. One helper names the constraint and turns its violation into a
//! value the handler can answer with; any other error passes through.

use crate::error::AppError;
use crate::web::form::FormErrors;

/// Whether an error is a unique (or exclusion) violation of the named constraint (or
/// unique index).
pub fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("23505") | Some("23P01"))
                && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// `result.on_constraint("name")?`: `Ok(Some(v))` on success, `Ok(None)` when the named
/// unique constraint refused the write (the other submit won), the error otherwise.
///
/// A unique constraint that stands for a rule of a form (a class's name in its year) uses
/// [`on_constraint_field`](OnConstraint::on_constraint_field): the refused write becomes
/// the form's message next to the field, any other error passes through:
///
/// ```ignore
/// let inserted = query.execute(&mut *tx).await
///     .on_constraint_field("classes_unique_name", "letter", "Такой класс уже есть.")?;
/// if let Err(errors) = inserted {
///     return form_page(&scope, form, errors);
/// }
/// ```
pub trait OnConstraint<T>: Sized {
    fn on_constraint(self, constraint: &str) -> Result<Option<T>, AppError>;

    /// `Ok(Ok(v))` on success, `Ok(Err(errors))` with `message` next to `field` when the
    /// named unique constraint refused the write, the error otherwise.
    fn on_constraint_field(
        self,
        constraint: &str,
        field: &'static str,
        message: &'static str,
    ) -> Result<Result<T, FormErrors>, AppError> {
        Ok(self
            .on_constraint(constraint)?
            .ok_or_else(|| FormErrors::field(field, message)))
    }
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, constraint: &str) -> Result<Option<T>, AppError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if violates(&e, constraint) => Ok(None),
            Err(e) => Err(AppError::Db(e)),
        }
    }
}

impl<T> OnConstraint<T> for Result<T, AppError> {
    fn on_constraint(self, constraint: &str) -> Result<Option<T>, AppError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(AppError::Db(e)) if violates(&e, constraint) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Serialises, until the end of the transaction, everything that locks the same `what`
/// (say `email:ivanov@school.ru`): two submits that would create the same record take
/// turns, and the second sees the first's.
pub async fn serialise(conn: &mut sqlx::PgConnection, what: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtextextended('unique:' || $1::text, 0))"#,
        what
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}
