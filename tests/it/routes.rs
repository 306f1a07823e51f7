//! The route-table test over HTTP (issue 8, item 6; SECURITY.md 10–12, 38): every route of
//! `school_portal::route_table` × every role, with the outcome computed from the table
//! alone (the route's `Access`, the permission matrix and the object rules the row carries)
//! and compared with what the running portal answers. A route added tomorrow is walked too;
//! a path parameter this test cannot fill fails it.

use school_portal::auth::objects::{Facts, Target};
use school_portal::auth::permissions::{Access, Role, can};
use school_portal::config::WebConfig;
use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};
use school_portal::web::RouteRow;
use uuid::Uuid;

use crate::helpers::school::SchoolFixture;
use crate::helpers::*;

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Anonymous,
    Student,
    Parent,
    /// Teaches a subject in 5А.
    Teacher,
    /// The class teacher of 5А.
    ClassTeacher,
    /// The class teacher of 5Б.
    OtherClassTeacher,
    Deputy,
    Director,
    Admin,
    Operator,
    /// The administrator of another school.
    OtherAdmin,
}

const EVERYONE: [Who; 11] = [
    Who::Anonymous,
    Who::Student,
    Who::Parent,
    Who::Teacher,
    Who::ClassTeacher,
    Who::OtherClassTeacher,
    Who::Deputy,
    Who::Director,
    Who::Admin,
    Who::Operator,
    Who::OtherAdmin,
];

/// What a request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Login,
    Forbidden,
    NotFound,
    /// Anything else but a 500: a page, a redirect, a validation message, 400, 429.
    Allowed,
    ServerError,
}

fn outcome(res: &reqwest::Response) -> Outcome {
    match res.status().as_u16() {
        403 => Outcome::Forbidden,
        404 => Outcome::NotFound,
        500..=599 => Outcome::ServerError,
        301..=308 if location(res).starts_with("/login?next=") => Outcome::Login,
        _ => Outcome::Allowed,
    }
}

pub(crate) struct Person {
    pub(crate) who: Who,
    pub(crate) account: Option<AccountId>,
    /// Their facts in school A (`None`: not a member of it).
    facts: Option<Facts>,
    pub(crate) client: reqwest::Client,
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) school: SchoolId,
    pub(crate) five_a: ClassId,
    pub(crate) chat: Uuid,
    pub(crate) chat_member: MembershipId,
    pub(crate) invite: Uuid,
    pub(crate) invite_token: String,
    /// An offer to someone not on the portal yet, by its token.
    pub(crate) offer_token: String,
    /// An offer of school A addressed to each person with an account (by their login).
    pub(crate) offers: std::collections::HashMap<AccountId, Uuid>,
    pub(crate) request: Uuid,
    pub(crate) requester: AccountId,
    pub(crate) kid_account: AccountId,
    pub(crate) unverified: MembershipId,
    pub(crate) unverified_account: AccountId,
    pub(crate) grant: Uuid,
    pub(crate) candidate: AccountId,
    pub(crate) subject: Uuid,
    pub(crate) assignment: Uuid,
    pub(crate) spare_teacher: MembershipId,
    pub(crate) spare_subject: Uuid,
    pub(crate) five_b: ClassId,
    pub(crate) edition: Uuid,
    pub(crate) import: Uuid,
    pub(crate) setup_token: String,
    pub(crate) password_token: String,
    pub(crate) admin: AccountId,
    pub(crate) people: Vec<Person>,
    // Issue 12: a channel, a deputy's draft post with an attachment, a whole-school
    // broadcast run by the administrator, the parent's calendar feed.
    pub(crate) channel: Uuid,
    pub(crate) post: Uuid,
    pub(crate) attachment: Uuid,
    pub(crate) broadcast: Uuid,
    pub(crate) feed_token: String,
    pub(crate) parent: AccountId,
    /// School A as built, for a test to add to.
    pub(crate) fixture: SchoolFixture,
}

fn facts(account: AccountId, roles: &[Role], led: &[ClassId], taught: &[ClassId]) -> Facts {
    Facts {
        account,
        roles: roles.to_vec(),
        led: led.to_vec(),
        taught: taught.to_vec(),
    }
}

async fn exec(app: &TestApp, sql: &str, binds: &[Uuid]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&app.db).await.expect(sql);
}

/// Two schools and one of each role and object.
pub(crate) async fn world() -> World {
    let app = TestApp::spawn_with(WebConfig {
        join_per_ip_per_minute: 100_000,
        invites_per_minute: 100_000,
        login_per_ip_per_minute: 100_000,
        ..WebConfig::default()
    })
    .await;
    let f = School::new(&app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .director("director@test.local")
        .deputy("deputy@test.local")
        .teacher("teacher@test.local")
        .class_teacher("5А", "ct-a@test.local")
        .class_teacher("5Б", "ct-b@test.local")
        .student("5А", "student@test.local")
        .parent_of("parent@test.local", "student@test.local")
        // A subject taught in 5А by the teacher; a spare assignment the walk may delete.
        .teaches("teacher@test.local", "Математика", "5А")
        .subject("Музыка")
        .teacher("spare@test.local")
        // A chat of 5А, owned by its class teacher, with the student in it.
        .chat("5А", "class_students", "Ученики 5А", "ct-a@test.local")
        .in_chat("Ученики 5А", "student@test.local")
        // Someone not in the school, who files a request by the parents' link below.
        .account("requester@test.local")
        .called("Заявкин", "Зиновий")
        // A teacher waiting for status confirmation; a staff member proposed for admin
        // rights.
        .teacher("unverified@test.local")
        .unverified()
        .staff("candidate@test.local")
        .build()
        .await;
    let other_admin = School::new(&app)
        .named("Школа № 2")
        .admin("other-admin@test.local")
        .build()
        .await
        .admin("other-admin@test.local");
    let operator = app.operator("operator@test.local").await;
    let (school, five_a, five_b) = (f.id, f.class("5А"), f.class("5Б"));
    let admin = f.admin("admin@test.local");
    let account = |email| f.account(email);
    let (director, deputy, teacher) = (
        account("director@test.local"),
        account("deputy@test.local"),
        account("teacher@test.local"),
    );
    let (ct_a, ct_b, kid_account, parent) = (
        account("ct-a@test.local"),
        account("ct-b@test.local"),
        account("student@test.local"),
        account("parent@test.local"),
    );
    let kid = f.member("student@test.local");
    let (subject, spare_subject) = (f.subject("Математика").0, f.subject("Музыка").0);
    let spare_teacher = f.member("spare@test.local");
    let assignment = Uuid::now_v7();
    let chat = f.chat("Ученики 5А").0;
    let requester = account("requester@test.local");
    let (unverified_account, unverified) = (
        account("unverified@test.local"),
        f.member("unverified@test.local"),
    );
    let candidate = account("candidate@test.local");
    // A parents' link of 5А and a request filed by it.
    let invite = Uuid::now_v7();
    let invite_token = school_portal::auth::session::new_token();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by)
         values ($1, $2, $3, 'parent', $4, 1000, true, now() + interval '7 days', $5)",
    )
    .bind(school)
    .bind(invite)
    .bind(school_portal::auth::session::token_hash(&invite_token))
    .bind(five_a)
    .bind(admin)
    .execute(&app.db)
    .await
    .unwrap();
    let request = Uuid::now_v7();
    exec(
        &app,
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id, note)
         values ($1, $2, $3, $4, 'parent', $5, 'Петров Пётр')",
        &[school.0, request, invite, requester.0, five_a.0],
    )
    .await;
    // The staff member's proposal for admin rights.
    let grant = Uuid::now_v7();
    exec(
        &app,
        "insert into admin_grants (school_id, id, account_id, granted_by, order_number, order_date)
         values ($1, $2, $3, $4, '7-о', date '2025-09-01')",
        &[school.0, grant, candidate.0, admin.0],
    )
    .await;
    // A regulation edition with a PDF.
    let edition = Uuid::now_v7();
    sqlx::query(
        "insert into regulation_editions (school_id, id, edition, order_number, order_date,
                                          effective_from, body, pdf, pdf_name, created_by)
         values ($1, $2, '1', '3-о', date '2025-08-30', date '2025-09-01', 'Регламент',
                 $3, 'reg.pdf', $4)",
    )
    .bind(school)
    .bind(edition)
    .bind(b"%PDF-1.4\n%%EOF\n".to_vec())
    .bind(admin)
    .execute(&app.db)
    .await
    .unwrap();
    // One-time tokens for the public pages.
    let setup_token = school_portal::auth::session::new_token();
    let password_token = school_portal::auth::session::new_token();
    sqlx::query(
        "insert into one_time_tokens (token_hash, purpose, account_id, expires_at)
         values ($1, 'setup', null, now() + interval '1 day'),
                ($2, 'set_password', $3, now() + interval '1 day')",
    )
    .bind(school_portal::auth::session::token_hash(&setup_token))
    .bind(school_portal::auth::session::token_hash(&password_token))
    .bind(candidate)
    .execute(&app.db)
    .await
    .unwrap();

    let mut people = Vec::new();
    for (who, login, account, f) in [
        (Who::Anonymous, None, None, None),
        (
            Who::Student,
            Some("student@test.local"),
            Some(kid_account),
            Some(facts(kid_account, &[Role::Student], &[], &[])),
        ),
        (
            Who::Parent,
            Some("parent@test.local"),
            Some(parent),
            Some(facts(parent, &[Role::Parent], &[], &[])),
        ),
        (
            Who::Teacher,
            Some("teacher@test.local"),
            Some(teacher),
            Some(facts(teacher, &[Role::Teacher], &[], &[five_a])),
        ),
        (
            Who::ClassTeacher,
            Some("ct-a@test.local"),
            Some(ct_a),
            Some(facts(
                ct_a,
                &[Role::ClassTeacher, Role::Teacher],
                &[five_a],
                &[],
            )),
        ),
        (
            Who::OtherClassTeacher,
            Some("ct-b@test.local"),
            Some(ct_b),
            Some(facts(
                ct_b,
                &[Role::ClassTeacher, Role::Teacher],
                &[five_b],
                &[],
            )),
        ),
        (
            Who::Deputy,
            Some("deputy@test.local"),
            Some(deputy),
            Some(facts(deputy, &[Role::Deputy], &[], &[])),
        ),
        (
            Who::Director,
            Some("director@test.local"),
            Some(director),
            Some(facts(director, &[Role::Director], &[], &[])),
        ),
        (
            Who::Admin,
            Some("admin@test.local"),
            Some(admin),
            Some(facts(admin, &[Role::Admin, Role::Staff], &[], &[])),
        ),
        (
            Who::Operator,
            Some("operator@test.local"),
            Some(operator),
            None,
        ),
        (
            Who::OtherAdmin,
            Some("other-admin@test.local"),
            Some(other_admin),
            None,
        ),
    ] {
        // Each role logs in once (argon2 is slow by design).
        let client = match login {
            Some(l) => app.logged_in(l).await,
            None => app.client(),
        };
        people.push(Person {
            who,
            account,
            facts: f,
            client,
        });
    }
    // An import of the school's own template, not applied yet.
    let admin_client = &people[8].client;
    let template = app
        .get(
            admin_client,
            &format!("/s/{school}/import/template/students.csv"),
        )
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let import = Uuid::now_v7();
    sqlx::query(
        "insert into imports (school_id, id, kind, filename, content, created_by)
         values ($1, $2, 'students', 'students.csv', $3, $4)",
    )
    .bind(school)
    .bind(import)
    .bind(template)
    .bind(admin)
    .execute(&app.db)
    .await
    .unwrap();
    // Offers (SECURITY.md 35): one to a newcomer by token, one to each person by login.
    let offer_token = school_portal::auth::session::new_token();
    let mut offers = std::collections::HashMap::new();
    for (i, person) in people.iter().enumerate() {
        let Some(account) = person.account else {
            continue;
        };
        let email: String = sqlx::query_scalar("select email from accounts where id = $1")
            .bind(account)
            .fetch_one(&app.db)
            .await
            .unwrap();
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into offers (school_id, id, token_hash, surname, given_name, email, role,
                                 source, expires_at, created_by)
             values ($1, $2, $3, 'Предложенов', 'Пётр', $4, 'teacher', 'staff_form',
                     now() + interval '7 days', $5)",
        )
        .bind(school)
        .bind(id)
        .bind(school_portal::auth::session::token_hash(&format!(
            "{offer_token}-{i}"
        )))
        .bind(email)
        .bind(admin)
        .execute(&app.db)
        .await
        .unwrap();
        offers.insert(account, id);
    }
    sqlx::query(
        "insert into offers (school_id, id, token_hash, surname, given_name, email, role,
                             source, expires_at, created_by)
         values ($1, $2, $3, 'Новиков', 'Нил', 'newcomer@test.local', 'teacher', 'staff_form',
                 now() + interval '7 days', $4)",
    )
    .bind(school)
    .bind(Uuid::now_v7())
    .bind(school_portal::auth::session::token_hash(&offer_token))
    .bind(admin)
    .execute(&app.db)
    .await
    .unwrap();
    let channel = Uuid::now_v7();
    let post = Uuid::now_v7();
    let attachment = Uuid::now_v7();
    let broadcast = Uuid::now_v7();
    let feed_token = school_portal::auth::session::new_token();
    exec(
        &app,
        "insert into channels (school_id, id, title, created_by) values ($1, $2, 'Новости', $3)",
        &[school.0, channel, admin.0],
    )
    .await;
    exec(
        &app,
        "insert into posts (school_id, id, channel_id, author_id, title, body) values ($1, $2, $3, $4, 'Черновик', 'Текст')",
        &[school.0, post, channel, deputy.0],
    )
    .await;
    exec(
        &app,
        "insert into broadcasts (school_id, id, kind, title, starts_at, duration_minutes, whole_school, host_id, created_by)
         values ($1, $2, 'event', 'Линейка', now() + interval '1 day', 30, true, $3, $3)",
        &[school.0, broadcast, admin.0],
    )
    .await;
    sqlx::query(
        "insert into calendar_feeds (school_id, account_id, token_hash) values ($1, $2, $3)",
    )
    .bind(school)
    .bind(parent)
    .bind(school_portal::auth::session::token_hash(&feed_token))
    .execute(&app.db)
    .await
    .unwrap();
    let w = World {
        channel,
        post,
        attachment,
        broadcast,
        feed_token,
        parent,
        app,
        school,
        five_a,
        chat,
        chat_member: kid,
        invite,
        invite_token,
        offer_token,
        offers,
        request,
        requester,
        kid_account,
        unverified,
        unverified_account,
        grant,
        candidate,
        subject,
        assignment,
        spare_teacher,
        spare_subject,
        five_b,
        edition,
        import,
        setup_token,
        password_token,
        admin,
        people,
        fixture: f,
    };
    w.repair().await;
    w
}

impl World {
    /// Puts back what an allowed request may have changed, so that no check spoils the
    /// next: the grant pending again, the spare teaching assignment, the import unapplied,
    /// the chat's student, the link and the request as they were.
    async fn repair(&self) {
        let s = self.school.0;
        exec(
            &self.app,
            "update admin_grants set approved_at = null, approved_by = null, rejected_at = null,
                    rejected_by = null, rejection_reason = null, revoked_at = null, revoked_by = null
             where id = $1",
            &[self.grant],
        )
        .await;
        exec(
            &self.app,
            "insert into teaching_assignments (school_id, id, subject_id, class_id, teacher_id)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
            &[
                s,
                self.assignment,
                self.spare_subject,
                self.five_b.0,
                self.spare_teacher.0,
            ],
        )
        .await;
        exec(
            &self.app,
            "update imports set applied_at = null, summary = null where id = $1",
            &[self.import],
        )
        .await;
        exec(
            &self.app,
            "update subjects set archived_at = null where school_id = $1",
            &[s],
        )
        .await;
        exec(
            &self.app,
            "update chats set archived_at = null where id = $1",
            &[self.chat],
        )
        .await;
        exec(
            &self.app,
            "insert into chat_members (school_id, chat_id, member_id, role)
             values ($1, $2, $3, 'member') on conflict do nothing",
            &[s, self.chat, self.chat_member.0],
        )
        .await;
        exec(
            &self.app,
            "update invites set revoked_at = null, revoked_by = null where id = $1",
            &[self.invite],
        )
        .await;
        exec(
            &self.app,
            "update join_requests set status = 'pending', reason = null, decided_at = null,
                    decided_by = null where id = $1",
            &[self.request],
        )
        .await;
        exec(
            &self.app,
            "update memberships set verification = 'unverified' where id = $1",
            &[self.unverified.0],
        )
        .await;
        exec(
            &self.app,
            "update posts set state = 'draft', reason = null, publish_at = null, platform_url = null
             where id = $1",
            &[self.post],
        )
        .await;
        exec(
            &self.app,
            "insert into post_attachments (school_id, id, post_id, filename, content_type, size_bytes, content)
             values ($1, $2, $3, 'a.pdf', 'application/pdf', 8, '%PDF-1.4'::bytea) on conflict do nothing",
            &[s, self.attachment, self.post],
        )
        .await;
        exec(
            &self.app,
            "update channels set archived_at = null where id = $1",
            &[self.channel],
        )
        .await;
        exec(
            &self.app,
            "update broadcasts set state = 'planned' where id = $1",
            &[self.broadcast],
        )
        .await;
        sqlx::query(
            "update calendar_feeds set token_hash = $3 where school_id = $1 and account_id = $2",
        )
        .bind(self.school)
        .bind(self.parent)
        .bind(school_portal::auth::session::token_hash(&self.feed_token))
        .execute(&self.app.db)
        .await
        .unwrap();
    }

    /// The object a route's path names, as the rules see it for `who`.
    async fn target(&self, path: &str, who: &Person) -> Option<Target> {
        let param = path
            .split('/')
            .find(|seg| school_portal::auth::objects::OBJECT_PARAMS.contains(seg))?;
        let me = who.account.unwrap_or_default();
        Some(match param {
            "{class_id}" => Target::Class(self.five_a),
            "{chat_id}" => {
                let (member, manager): (bool, bool) = sqlx::query_as(
                    "select exists(select 1 from chat_members cm join memberships m
                                   on m.school_id = cm.school_id and m.id = cm.member_id
                                   where cm.chat_id = $1 and m.account_id = $2),
                            exists(select 1 from chat_members cm join memberships m
                                   on m.school_id = cm.school_id and m.id = cm.member_id
                                   where cm.chat_id = $1 and m.account_id = $2
                                     and cm.role in ('owner', 'admin') and m.status = 'active')",
                )
                .bind(self.chat)
                .bind(me)
                .fetch_one(&self.app.db)
                .await
                .unwrap();
                Target::Chat {
                    class: Some(self.five_a),
                    member,
                    manager,
                }
            }
            "{request_id}" => Target::JoinRequest {
                requester: self.requester,
                class: self.five_a,
                pupil: true,
            },
            "{invite_id}" => Target::Invite {
                class: self.five_a,
                creator: self.admin,
                pupil: true,
            },
            "{grant_id}" => Target::Grant {
                account: self.candidate,
            },
            "{membership_id}" => Target::Membership {
                account: self.unverified_account,
                class: None,
            },
            "{post_id}" => {
                let author: AccountId =
                    sqlx::query_scalar("select author_id from posts where id = $1")
                        .bind(self.post)
                        .fetch_one(&self.app.db)
                        .await
                        .unwrap();
                Target::Authored { author }
            }
            "{broadcast_id}" => Target::Authored { author: self.admin },
            other => panic!("{path}: no target for {other}"),
        })
    }

    /// The path with every parameter filled from the world; an unknown one is an error,
    /// so a new route with a new kind of object fails the walk until the test knows it.
    pub(crate) fn fill(
        &self,
        path: &str,
        session: Option<Uuid>,
        account: Option<AccountId>,
    ) -> Result<String, String> {
        let mut out = Vec::new();
        for seg in path.split('/') {
            let value = if seg.starts_with('{') {
                match seg {
                    "{school_id}" => self.school.to_string(),
                    "{class_id}" => self.five_a.to_string(),
                    "{chat_id}" => self.chat.to_string(),
                    "{member_id}" => self.chat_member.to_string(),
                    "{kind}" => "class_students".to_owned(),
                    "{request_id}" => self.request.to_string(),
                    "{invite_id}" => self.invite.to_string(),
                    "{grant_id}" => self.grant.to_string(),
                    "{membership_id}" => self.unverified.to_string(),
                    "{account_id}" => self.kid_account.to_string(),
                    "{subject_id}" => self.subject.to_string(),
                    "{assignment_id}" => self.assignment.to_string(),
                    "{edition_id}" => self.edition.to_string(),
                    "{import_id}" => self.import.to_string(),
                    "{*path}" => "css/portal.css".to_owned(),
                    "{session_id}" => session.unwrap_or_else(Uuid::now_v7).to_string(),
                    "{token}" if path.starts_with("/join/") || path.starts_with("/j/") => {
                        self.invite_token.clone()
                    }
                    "{token}" if path.starts_with("/setup/") => self.setup_token.clone(),
                    "{token}" if path.starts_with("/password/") => self.password_token.clone(),
                    "{token}" if path.starts_with("/offers/") => self.offer_token.clone(),
                    "{token}" if path.starts_with("/calendar/") => self.feed_token.clone(),
                    "{channel_id}" => self.channel.to_string(),
                    "{post_id}" => self.post.to_string(),
                    "{attachment_id}" => self.attachment.to_string(),
                    "{broadcast_id}" => self.broadcast.to_string(),
                    // No school has a bot here: an unknown hook answers 401 like a wrong secret.
                    "{hook_id}" => "h".repeat(40),
                    // Each person's own offer: answering is theirs alone (a stranger's is
                    // the same as an unknown one, 404), like a session id.
                    "{offer_id}" => account
                        .and_then(|a| self.offers.get(&a).copied())
                        .unwrap_or_else(Uuid::now_v7)
                        .to_string(),
                    other => return Err(format!("{path}: cannot fill {other}")),
                }
            } else {
                seg.to_owned()
            };
            out.push(value);
        }
        Ok(out.join("/"))
    }
}

/// What the table says `who` gets on `row` (with `target`, the object the path names).
fn expected(row: &RouteRow, who: &Person, target: Option<&Target>) -> Outcome {
    let anonymous = who.who == Who::Anonymous;
    match row.access {
        Access::Public => Outcome::Allowed,
        _ if anonymous => Outcome::Login,
        Access::LoggedIn => Outcome::Allowed,
        Access::Operator if who.who == Who::Operator => Outcome::Allowed,
        Access::Operator => Outcome::Forbidden,
        // The region's view: the operator (the walk has no regional specialist; see
        // stats::a_regional_specialist_sees_their_municipality_only).
        Access::Region if who.who == Who::Operator => Outcome::Allowed,
        Access::Region => Outcome::Forbidden,
        Access::School(action) => {
            // The operator and another school's administrator are no members: 404.
            let Some(facts) = &who.facts else {
                return Outcome::NotFound;
            };
            if !can(&facts.roles, action) {
                return Outcome::Forbidden;
            }
            if row.rules.is_empty() {
                return Outcome::Allowed;
            }
            let Some(target) = target else {
                panic!("{} {}: object rules but no object", row.method, row.path);
            };
            if row.rules.iter().all(|r| r.allows(facts, target)) {
                Outcome::Allowed
            } else {
                Outcome::Forbidden
            }
        }
    }
}

/// Routes that end the asker's session: walked with a session of their own.
fn ends_session(row: &RouteRow) -> bool {
    row.path == "/logout" || row.path.starts_with("/profile/sessions/")
}

/// A client with a fresh session of `account` (no argon2), and that session's id.
pub(crate) async fn fresh_session(w: &World, account: AccountId) -> (reqwest::Client, Uuid) {
    let mut conn = w.app.db.acquire().await.unwrap();
    let token =
        school_portal::auth::session::create(&mut conn, &w.app.state.config, account, None, None)
            .await
            .unwrap();
    let id: Uuid = sqlx::query_scalar("select id from sessions where token_hash = $1")
        .bind(school_portal::auth::session::token_hash(&token))
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("{}={token}", w.app.state.config.cookie_name())
            .parse()
            .unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, id)
}

/// Sends `row` as `who` and compares; `Some(mismatch)` when the portal and the table
/// disagree. POSTs go with an empty form: an allowed one is refused by validation.
async fn check(w: &World, row: &RouteRow, who: &Person) -> Option<String> {
    let (client, session) = match (ends_session(row), who.account) {
        (true, Some(a)) => {
            let (c, id) = fresh_session(w, a).await;
            (c, Some(id))
        }
        _ => (who.client.clone(), None),
    };
    let path = match w.fill(row.path, session, who.account) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let target = w.target(row.path, who).await;
    let want = expected(row, who, target.as_ref());
    let res = if row.method == "GET" {
        w.app.get(&client, &path).await
    } else {
        w.app.post(&client, &path, &[]).await
    };
    let got = outcome(&res);
    if row.method != "GET" && got == Outcome::Allowed {
        w.repair().await;
    }
    (got != want).then(|| {
        format!(
            "{} {} as {:?}: expected {want:?}, got {got:?} ({})",
            row.method,
            row.path,
            who.who,
            res.status()
        )
    })
}

#[tokio::test]
async fn every_route_answers_every_role_exactly_as_the_route_table_says() {
    let w = world().await;
    let mut rows = school_portal::route_table(&w.app.state);
    assert!(rows.len() > 100, "the whole table");
    // Ending all of one's sessions ends the walk's own too: last.
    // Ending another person's sessions from their card ends a walker's too: just before.
    rows.sort_by_key(|r| match r.path {
        "/profile/sessions/end-all" => 2,
        p if p.ends_with("/end-sessions") => 1,
        _ => 0,
    });
    // First, the walk can fail: a row with no object rule, a wrong rule, or a wrong action is
    // reported, and so is a path parameter the test cannot fill.
    let find = |method: &str, path: &str| {
        rows.iter()
            .find(|r| r.method == method && r.path == path)
            .cloned()
            .unwrap()
    };
    let other_ct = &w.people[5];
    assert_eq!(other_ct.who, Who::OtherClassTeacher);
    let mut no_rule = find("POST", "/s/{school_id}/chats/{chat_id}/reconcile");
    assert!(check(&w, &no_rule, other_ct).await.is_none());
    no_rule.rules = &[];
    assert!(
        check(&w, &no_rule, other_ct).await.is_some(),
        "a route without its object rule is caught"
    );
    let mut wrong_rule = no_rule.clone();
    wrong_rule.rules = &[school_portal::auth::objects::Rule::NotOwn];
    assert!(
        check(&w, &wrong_rule, other_ct).await.is_some(),
        "a route with a wrong object rule is caught"
    );
    let mut wrong_action = find("GET", "/s/{school_id}/classes/new");
    wrong_action.access = Access::School(school_portal::auth::permissions::Action::ViewSchoolHome);
    assert!(
        check(&w, &wrong_action, &w.people[1]).await.is_some(),
        "a route declared with a wrong action is caught"
    );
    let mut unknown = find("GET", "/s/{school_id}/classes/{class_id}");
    unknown.path = "/s/{school_id}/gadgets/{gadget_id}";
    assert!(
        check(&w, &unknown, &w.people[8])
            .await
            .is_some_and(|m| m.contains("cannot fill {gadget_id}")),
        "a route with an unknown parameter fails the walk"
    );

    let mut mismatches = Vec::new();
    for row in &rows {
        for who in &w.people {
            if let Some(m) = check(&w, row, who).await {
                mismatches.push(m);
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(w.people.len(), EVERYONE.len());
}
