//! The demo school's channels: «Новости школы» with a post in every state (a deputy's post
//! waiting for review among them) and «Для родителей 5-х классов».

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::tenant::Tenant;

/// (state, author, title, body, reason, days ago)
type DemoPost<'a> = (&'a str, Uuid, &'a str, &'a str, Option<&'a str>, i32);

pub async fn populate(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<()> {
    let school = tenant.id();
    let admin: Option<Uuid> = sqlx::query_scalar(
        "select account_id from school_roles where school_id = $1 and role = 'admin' order by account_id limit 1",
    )
    .bind(school)
    .fetch_optional(&mut *conn)
    .await?;
    let deputy: Option<Uuid> = sqlx::query_scalar(
        "select account_id from school_roles where school_id = $1 and role = 'deputy' order by account_id limit 1",
    )
    .bind(school)
    .fetch_optional(&mut *conn)
    .await?;
    let (Some(admin), Some(deputy)) = (admin, deputy) else {
        return Ok(());
    };
    let news = Uuid::now_v7();
    let parents = Uuid::now_v7();
    sqlx::query(
        "insert into channels (school_id, id, title, audience, address, submitters, created_by, created_at)
         values ($1, $2, 'Новости школы', 'все ученики, родители и сотрудники', 'https://max.ru/demo_school_news', 'deputies', $4, now() - interval '30 days'),
                ($1, $3, 'Для родителей 5-х классов', 'родители 5-х классов', '', 'deputies', $4, now() - interval '30 days')",
    )
    .bind(school)
    .bind(news)
    .bind(parents)
    .bind(admin)
    .execute(&mut *conn)
    .await?;
    // (state, author, title, body, reason, days ago)
    let posts: [DemoPost; 7] = [
        (
            "draft",
            deputy,
            "Неделя математики",
            "С 15 по 20 декабря в школе пройдёт неделя математики. Программа — скоро.",
            None,
            1,
        ),
        (
            "submitted",
            deputy,
            "Родительское собрание 5-х классов",
            "Уважаемые родители! Собрание 5-х классов состоится в четверг в 18:00 на платформе. Ссылка будет в канале.",
            None,
            0,
        ),
        (
            "returned",
            deputy,
            "Олимпиада по русскому языку",
            "Школьный этап олимпиады пройдёт в пятницу.",
            Some("Укажите время и кабинет, и кого из учеников ждём."),
            3,
        ),
        (
            "declined",
            deputy,
            "Реклама кружка",
            "Запишитесь в платный кружок!",
            Some("Платные услуги в системном канале не публикуем."),
            6,
        ),
        (
            "scheduled",
            admin,
            "Каникулы",
            "Зимние каникулы — с 29 декабря по 11 января. Хороших праздников!",
            None,
            2,
        ),
        (
            "published",
            deputy,
            "День открытых дверей",
            "В субботу — день открытых дверей для будущих первоклассников.",
            None,
            10,
        ),
        (
            "withdrawn",
            admin,
            "Перенос уроков",
            "Уроки 10 декабря переносятся.",
            Some("Перенос отменён."),
            12,
        ),
    ];
    for (state, author, title, body, reason, days) in posts {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into posts (school_id, id, channel_id, author_id, title, body, state, reason,
                                publish_at, platform_url, published_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8,
                     case when $7 = 'scheduled' then date_trunc('day', now()) + interval '5 days 10 hours' end,
                     case when $7 in ('published', 'withdrawn') then 'https://max.ru/demo_school_news/' || left(md5($5), 8) end,
                     case when $7 in ('published', 'withdrawn') then now() - make_interval(days => $9) end,
                     now() - make_interval(days => $9 + 1), now() - make_interval(days => $9))",
        )
        .bind(school)
        .bind(id)
        .bind(news)
        .bind(author)
        .bind(title)
        .bind(body)
        .bind(state)
        .bind(reason)
        .bind(days)
        .execute(&mut *conn)
        .await?;
        let mut trail: Vec<(Option<&str>, &str, Uuid)> = vec![(None, "draft", author)];
        if state != "draft" && author == deputy {
            trail.push((Some("draft"), "submitted", deputy));
            sqlx::query(
                "insert into post_submissions (school_id, post_id, round, title, body, submitted_at)
                 values ($1, $2, 1, $3, $4, now() - make_interval(days => $5))",
            )
            .bind(school)
            .bind(id)
            .bind(title)
            .bind(body)
            .bind(days)
            .execute(&mut *conn)
            .await?;
        }
        let from = trail.last().map(|t| t.1).unwrap_or("draft");
        if !["draft", "submitted"].contains(&state) {
            let prior = if state == "withdrawn" {
                "published"
            } else {
                from
            };
            if state == "withdrawn" {
                trail.push((Some(from), "published", admin));
            }
            trail.push((Some(prior), state, admin));
        }
        for (k, (from, to, who)) in trail.into_iter().enumerate() {
            sqlx::query(
                "insert into post_history (school_id, id, post_id, from_state, to_state, actor_id, reason, at)
                 values ($1, $2, $3, $4, $5, $6, case when $5 in ('returned', 'declined', 'withdrawn') then $7 end,
                         now() - make_interval(days => $8) - make_interval(mins => $9))",
            )
            .bind(school)
            .bind(Uuid::now_v7())
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(who)
            .bind(reason)
            .bind(days)
            .bind(i32::try_from(10 - k).unwrap_or(0))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
