//! Unique violations from a race (SECURITY.md 18): two submits that both passed their
//! checks meet at a unique constraint; the loser must see the existing record or a form
//! message, never a 500. One helper names the constraint and turns its violation into a
//! value the handler can answer with; any other error passes through.

use crate::error::AppError;

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
pub trait OnConstraint<T> {
    fn on_constraint(self, constraint: &str) -> Result<Option<T>, AppError>;
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
