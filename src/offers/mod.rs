//! Offers: how a school invites a person it knows only by a contact (SECURITY.md 35, 36;
//! R1.4, R2.1.k). An account is global (one person may be in several schools), so a school
//! never attaches, shows or changes an account by an e-mail or phone it typed. Instead it
//! makes an *offer* for its school, a role and (where the role needs one) a class or a
//! child, sent by e-mail through the outbox with a one-time token (32 random bytes, only the
//! SHA-256 kept, an expiry). The person answers on `/offers/{token}`: logged in as the
//! account the offer is addressed to, or registering a new one; «Принять» creates the
//! membership (class placement, parent link) and records consent, «Отклонить» declines.
//!
//! ## Object rules
//! - **Who gets an offer.** Adding a staff member by hand, an import row with a contact
//!   (parents, staff) for someone who is not a member of this school yet: always an offer,
//!   whether or not the contact is registered anywhere. The school's answer and everything
//!   it can see afterwards (the «Приглашения» list: the name, contact, role it typed and
//!   «ожидает согласия») are the same in both cases, so it learns nothing about other
//!   schools' people. The matching account is looked up only when the person answers, by
//!   their own login. People without a contact (pupils of an import, an enrolment) get a new
//!   account that belongs only to this school, as before: with no contact nobody can be
//!   matched.
//! - **Where the letter goes.** To the e-mail the school typed and, when the typed e-mail or
//!   phone is an account's login, to that account's own e-mail. An offer with only a phone
//!   that is nobody's login reaches nobody; the school sees the same pending row.
//! - **Who accepts.** Only the account whose e-mail or phone is the offer's (logged in), or a
//!   newcomer registering with the offer's contact (if that contact is already registered,
//!   the page answers the same and the account's owner gets an e-mail asking them to log in).
//!   Declining needs only the token (the letter).
//! - **Only the person changes their account** (name, e-mail, phone, password): a school
//!   changes its membership's data only (class, role, status, position); imports never
//!   overwrite or fill in an account's contacts.
//! - **A person's card in a school** shows that school's memberships and the account's name
//!   and contacts (the person joined this school); the password state and the number of
//!   live sessions only when the person belongs to this school alone; never another
//!   school's memberships.
//! - **A school's action never touches the person elsewhere**: a movement, a staff leaving
//!   or a rights change changes the membership of that school only and ends no sessions
//!   (roles are read per request, SECURITY.md 5).

pub mod mine;
pub mod pages;

use std::collections::HashMap;

use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Role;
use crate::auth::session;
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, OfferId, SchoolId};
use crate::web::Routes;

pub fn routes(r: Routes) -> Routes {
    mine::routes(pages::routes(r))
}

/// The version of the personal-data notice people consent to (shown on `/consent`).
pub const NOTICE_VERSION: &str = "2026-12-01";

/// How long an offer can be answered.
pub const OFFER_DAYS: i64 = 30;

/// An offer to make: what the school typed.
#[derive(Debug, Clone, Default)]
pub struct NewOffer {
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub class: Option<ClassId>,
    pub child: Option<MembershipId>,
    pub position: Option<String>,
}

/// Who makes the offers, in which school.
pub struct Maker<'a> {
    pub tenant: Tenant,
    pub school_name: &'a str,
    pub actor: AccountId,
    pub public_url: &'a str,
    pub source: &'a str,
}

impl<'a> Maker<'a> {
    pub fn new(scope: &'a SchoolScope, public_url: &'a str, source: &'a str) -> Self {
        Maker {
            tenant: scope.tenant(),
            school_name: scope.school_name(),
            actor: scope.actor().id(),
            public_url,
            source,
        }
    }
}

fn mail_text(school_name: &str, o: &NewOffer, link: &str) -> (String, String) {
    let subject = format!("Приглашение от школы «{school_name}»");
    let body = format!(
        "Здравствуйте!\n\nШкола «{school_name}» приглашает вас на школьный портал в роли «{}».\n\
         Чтобы принять или отклонить приглашение, откройте ссылку (она действует {OFFER_DAYS} дней):\n\
         {link}\n\nЕсли вы не ждали этого письма, просто не отвечайте на него: без вашего \
         согласия вас не добавят в школу.\n",
        Role::membership_title(&o.role)
    );
    (subject, body)
}

/// Creates offers (one statement for all, imports bring thousands) and queues their
/// letters. Returns the offers' ids in order. Nothing here tells the caller whether any
/// contact is registered.
pub async fn create_many(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    maker: &Maker<'_>,
    offers: &[NewOffer],
) -> sqlx::Result<Vec<OfferId>> {
    if offers.is_empty() {
        return Ok(Vec::new());
    }
    let expires = OffsetDateTime::now_utc() + Duration::days(OFFER_DAYS);
    let ids: Vec<Uuid> = offers.iter().map(|_| Uuid::now_v7()).collect();
    let tokens: Vec<String> = offers.iter().map(|_| session::new_token()).collect();
    let hashes: Vec<Vec<u8>> = tokens.iter().map(|t| session::token_hash(t)).collect();
    let col = |f: fn(&NewOffer) -> Option<String>| -> Vec<Option<String>> {
        offers.iter().map(f).collect()
    };
    let surnames = col(|o| Some(o.surname.trim().to_owned()));
    let given = col(|o| Some(o.given_name.trim().to_owned()));
    let patronymics = col(|o| {
        o.patronymic
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    });
    let emails = col(|o| o.email.clone());
    let phones = col(|o| o.phone.clone());
    let roles = col(|o| Some(o.role.clone()));
    let positions = col(|o| o.position.clone());
    let classes: Vec<Option<Uuid>> = offers.iter().map(|o| o.class.map(|c| c.0)).collect();
    let children: Vec<Option<Uuid>> = offers.iter().map(|o| o.child.map(|c| c.0)).collect();
    sqlx::query!(
        r#"insert into offers (school_id, id, token_hash, surname, given_name, patronymic, email,
                               phone, role, class_id, child_id, position, source, created_by,
                               expires_at)
           select $1, id, h, s, g, p, e, ph, r, c, ch, pos, $13, $14, $15
           from unnest($2::uuid[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::text[])
                as x(id, h, s, g, p, e, ph, r, c, ch, pos)"#,
        maker.tenant.id() as SchoolId,
        &ids,
        &hashes,
        &surnames as &[Option<String>],
        &given as &[Option<String>],
        &patronymics as &[Option<String>],
        &emails as &[Option<String>],
        &phones as &[Option<String>],
        &roles as &[Option<String>],
        &classes as &[Option<Uuid>],
        &children as &[Option<Uuid>],
        &positions as &[Option<String>],
        maker.source,
        maker.actor as AccountId,
        expires
    )
    .execute(&mut *conn)
    .await?;

    // The logins among the contacts, to reach their owners at their own address.
    let typed_emails: Vec<String> = offers.iter().filter_map(|o| o.email.clone()).collect();
    let typed_phones: Vec<String> = offers.iter().filter_map(|o| o.phone.clone()).collect();
    let owners = sqlx::query!(
        r#"select email as "email!", phone from accounts
           where email is not null and (email = any($1) or phone = any($2))"#,
        &typed_emails,
        &typed_phones
    )
    .fetch_all(&mut *conn)
    .await?;
    let by_phone: HashMap<String, String> = owners
        .into_iter()
        .filter_map(|o| o.phone.map(|p| (p, o.email)))
        .collect();
    let (mut to, mut subjects, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for (o, token) in offers.iter().zip(&tokens) {
        let link = format!("{}/offers/{token}", maker.public_url);
        let (subject, body) = mail_text(maker.school_name, o, &link);
        let mut recipients: Vec<String> = o.email.iter().cloned().collect();
        if let Some(owner) = o.phone.as_ref().and_then(|p| by_phone.get(p)) {
            if !recipients.contains(owner) {
                recipients.push(owner.clone());
            }
        }
        for r in recipients {
            to.push(r);
            subjects.push(subject.clone());
            bodies.push(body.clone());
        }
    }
    let mail_ids: Vec<Uuid> = to.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        r#"insert into outbox (id, school_id, to_address, subject, body)
           select id, $1, t, s, b from unnest($2::uuid[], $3::text[], $4::text[], $5::text[])
                as x(id, t, s, b)"#,
        maker.tenant.id() as SchoolId,
        &mail_ids,
        &to,
        &subjects,
        &bodies
    )
    .execute(&mut *conn)
    .await?;
    // One audit row: a form makes one offer, an import thousands (its own row names them).
    let target = match ids.as_slice() {
        [one] => Some(format!("offer:{one}")),
        _ => None,
    };
    let roles: std::collections::BTreeSet<&str> = offers
        .iter()
        .map(|o| Role::membership_title(&o.role))
        .collect();
    crate::audit::record(
        conn,
        meta,
        crate::audit::Entry {
            actor: Some(maker.actor),
            school: Some(maker.tenant.id()),
            action: "offer.created",
            target,
            details: Some(format!(
                "{}: {}; {}",
                maker.source,
                roles.into_iter().collect::<Vec<_>>().join(", "),
                offers.len()
            )),
        },
    )
    .await?;
    Ok(ids.into_iter().map(OfferId).collect())
}

/// Records consent to the processing of personal data (SECURITY.md 36).
pub async fn record_consent(
    conn: &mut PgConnection,
    account: AccountId,
    school: Option<Tenant>,
    occasion: &str,
    offer: Option<OfferId>,
) -> sqlx::Result<()> {
    let school = school.map(Tenant::id);
    sqlx::query!(
        r#"insert into consents (id, account_id, school_id, notice_version, occasion, offer_id)
           values ($1, $2, $3, $4, $5, $6)"#,
        Uuid::now_v7(),
        account as AccountId,
        school as Option<SchoolId>,
        NOTICE_VERSION,
        occasion,
        offer as Option<OfferId>
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The consent checkbox's value, checked: `Err` is the field's message.
pub fn consent_given(value: &str) -> Result<(), &'static str> {
    if value == "yes" {
        Ok(())
    } else {
        Err(
            "Без согласия на обработку персональных данных зарегистрироваться нельзя: отметьте его.",
        )
    }
}
