//! The demo school's broadcasts: a term of weekly lessons for 5А (one cancelled), a
//! parents' meeting of 5А, a staff webinar on the platform.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::tenant::Tenant;

pub async fn populate(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<()> {
    let school = tenant.id();
    let five_a: Option<Uuid> = sqlx::query_scalar(
        "select c.id from classes c join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
         where c.school_id = $1 and c.kind = 'class' and c.title = '5А' and y.is_current limit 1",
    )
    .bind(school)
    .fetch_optional(&mut *conn)
    .await?;
    let admin: Option<Uuid> = sqlx::query_scalar(
        "select account_id from school_roles where school_id = $1 and role = 'admin' order by account_id limit 1",
    )
    .bind(school)
    .fetch_optional(&mut *conn)
    .await?;
    let (Some(five_a), Some(admin)) = (five_a, admin) else {
        return Ok(());
    };
    // Who teaches 5А, and who leads it (the admin when nobody does).
    let teacher: Uuid = sqlx::query_scalar(
        "select coalesce((select t.account_id from taught_classes t where t.school_id = $1 and t.class_id = $2
                          order by t.account_id limit 1), $3)",
    )
    .bind(school)
    .bind(five_a)
    .bind(admin)
    .fetch_one(&mut *conn)
    .await?;
    let lead: Uuid = sqlx::query_scalar(
        "select coalesce((select l.account_id from led_classes l where l.school_id = $1 and l.class_id = $2 limit 1), $3)",
    )
    .bind(school)
    .bind(five_a)
    .bind(admin)
    .fetch_one(&mut *conn)
    .await?;
    let deputy: Uuid = sqlx::query_scalar(
        "select coalesce((select account_id from school_roles where school_id = $1 and role = 'deputy'
                          order by account_id limit 1), $2)",
    )
    .bind(school)
    .bind(admin)
    .fetch_one(&mut *conn)
    .await?;
    let lessons = Uuid::now_v7();
    let meeting = Uuid::now_v7();
    let webinar = Uuid::now_v7();
    // Monday of this week, 09:00 Moscow time, weekly for a term of 12 weeks.
    sqlx::query(
        "insert into broadcasts (school_id, id, kind, title, starts_at, duration_minutes, whole_school, staffroom,
                                 join_url, host_id, weekly_until, created_by)
         values ($1, $2, 'lesson', 'Математика, 5А', date_trunc('week', now() at time zone 'Europe/Moscow') at time zone 'Europe/Moscow' + interval '9 hours',
                 40, false, false, 'https://max.ru/call/demo-5a-math', $5,
                 ((date_trunc('week', now() at time zone 'Europe/Moscow'))::date + 7 * 11), $5),
                ($1, $3, 'parents_meeting', 'Родительское собрание 5А', date_trunc('day', now()) + interval '3 days 15 hours',
                 60, false, false, 'https://max.ru/call/demo-5a-parents', $6, null, $6),
                ($1, $4, 'webinar', 'Вебинар: как вести чаты класса на платформе', date_trunc('day', now()) + interval '5 days 12 hours',
                 45, false, true, 'https://max.ru/call/demo-webinar', $7, null, $7)",
    )
    .bind(school)
    .bind(lessons)
    .bind(meeting)
    .bind(webinar)
    .bind(teacher)
    .bind(lead)
    .bind(deputy)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into broadcast_audience (school_id, broadcast_id, class_id, role)
         values ($1, $2, $4, 'student'), ($1, $2, $4, 'parent'), ($1, $3, $4, 'parent')",
    )
    .bind(school)
    .bind(lessons)
    .bind(meeting)
    .bind(five_a)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into broadcast_exceptions (school_id, broadcast_id, on_date)
         values ($1, $2, (date_trunc('week', now() at time zone 'Europe/Moscow'))::date + 14)",
    )
    .bind(school)
    .bind(lessons)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
