//! The school fixture builder: a school described by named handles, built in one step.
//!
//! ```ignore
//! let w = School::new(&app)
//!     .class("5А")
//!     .admin("admin@test.local")
//!     .class_teacher("5А", "teacher@test.local")
//!     .student("5А", "student@test.local")
//!     .parent_of("parent@test.local", "student@test.local")
//!     .build()
//!     .await;
//! let five_a = w.class("5А");
//! let teacher = w.member("teacher@test.local");
//! ```
//! People are named by their e-mail (their login), classes by their title («5А»): a test
//! reads its world the way a person would describe it.

use std::collections::HashMap;

use school_portal::ids::{AccountId, ChatId, ClassId, MembershipId, SchoolId, SubjectId};

use super::TestApp;

enum Step {
    Class(String),
    Admin(String),
    Member {
        email: String,
        role: String,
    },
    ClassTeacher {
        class: String,
        email: String,
    },
    Student {
        class: String,
        email: String,
    },
    ParentOf {
        email: String,
        child: String,
    },
    Teaches {
        email: String,
        subject: String,
        class: String,
    },
    Called {
        surname: String,
        given: String,
    },
    Phone(String),
    Unverified,
    Also(String),
    Account {
        email: String,
        known: Option<AccountId>,
    },
    Subject(String),
    Chat {
        class: String,
        kind: String,
        title: String,
        owner: String,
    },
    InChat {
        title: String,
        email: String,
    },
}

/// The description of a school, built by [`School::build`].
pub struct School<'a> {
    app: &'a TestApp,
    name: String,
    steps: Vec<Step>,
}

/// A built school: its id and the handles the description named.
pub struct SchoolFixture {
    pub id: SchoolId,
    classes: HashMap<String, ClassId>,
    people: HashMap<String, (AccountId, MembershipId)>,
    admins: HashMap<String, AccountId>,
    /// Accounts that are in no school of the description (`School::account`).
    accounts: HashMap<String, AccountId>,
    subjects: HashMap<String, SubjectId>,
    chats: HashMap<String, ChatId>,
    /// The further memberships of a person (`School::also`), by e-mail and role.
    more: HashMap<(String, String), MembershipId>,
}

impl<'a> School<'a> {
    /// «Школа № 1», in the current academic year, with nothing in it yet.
    pub fn new(app: &'a TestApp) -> Self {
        School {
            app,
            name: "Школа № 1".to_owned(),
            steps: Vec::new(),
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// A class of the current year by its title: «5А» is grade 5, letter «А».
    pub fn class(mut self, title: &str) -> Self {
        self.steps.push(Step::Class(title.to_owned()));
        self
    }

    /// A platform administrator (a staff member with an approved grant).
    pub fn admin(mut self, email: &str) -> Self {
        self.steps.push(Step::Admin(email.to_owned()));
        self
    }

    /// A member with a role (`director`, `deputy`, `teacher`, `staff`, `parent`).
    pub fn member(mut self, email: &str, role: &str) -> Self {
        self.steps.push(Step::Member {
            email: email.to_owned(),
            role: role.to_owned(),
        });
        self
    }

    pub fn director(self, email: &str) -> Self {
        self.member(email, "director")
    }

    pub fn teacher(self, email: &str) -> Self {
        self.member(email, "teacher")
    }

    pub fn deputy(self, email: &str) -> Self {
        self.member(email, "deputy")
    }

    pub fn staff(self, email: &str) -> Self {
        self.member(email, "staff")
    }

    /// A teacher who leads `class` (the teacher is created unless already named).
    pub fn class_teacher(mut self, class: &str, email: &str) -> Self {
        self.steps.push(Step::ClassTeacher {
            class: class.to_owned(),
            email: email.to_owned(),
        });
        self
    }

    pub fn student(mut self, class: &str, email: &str) -> Self {
        self.steps.push(Step::Student {
            class: class.to_owned(),
            email: email.to_owned(),
        });
        self
    }

    /// A parent of the student named `child` (the parent is created unless already named).
    pub fn parent_of(mut self, email: &str, child: &str) -> Self {
        self.steps.push(Step::ParentOf {
            email: email.to_owned(),
            child: child.to_owned(),
        });
        self
    }

    /// `email` teaches `subject` in `class` (the teacher is created unless already named;
    /// the subject, by its name, once per school).
    pub fn teaches(mut self, email: &str, subject: &str, class: &str) -> Self {
        self.steps.push(Step::Teaches {
            email: email.to_owned(),
            subject: subject.to_owned(),
            class: class.to_owned(),
        });
        self
    }

    /// The name of the person named last (fixture people are «Петров Пётр» otherwise).
    pub fn called(mut self, surname: &str, given: &str) -> Self {
        self.steps.push(Step::Called {
            surname: surname.to_owned(),
            given: given.to_owned(),
        });
        self
    }

    /// The phone of the person named last.
    pub fn phone(mut self, phone: &str) -> Self {
        self.steps.push(Step::Phone(phone.to_owned()));
        self
    }

    /// The staff member named last still awaits the confirmation of their status.
    pub fn unverified(mut self) -> Self {
        self.steps.push(Step::Unverified);
        self
    }

    /// The person named last has `role` too (a teacher who is also a parent, say): a
    /// second membership, found by [`SchoolFixture::member_as`].
    pub fn also(mut self, role: &str) -> Self {
        self.steps.push(Step::Also(role.to_owned()));
        self
    }

    /// Someone with an account who is in no school (yet): a newcomer, a requester. A role
    /// step naming them later makes them a member on this account.
    pub fn account(mut self, email: &str) -> Self {
        self.steps.push(Step::Account {
            email: email.to_owned(),
            known: None,
        });
        self
    }

    /// A person who has an account already (another school's, say), named here by
    /// `email`: a role step naming them makes them a member of this school too.
    pub fn known(mut self, email: &str, account: AccountId) -> Self {
        self.steps.push(Step::Account {
            email: email.to_owned(),
            known: Some(account),
        });
        self
    }

    /// A subject by its name that nobody teaches yet (once per school).
    pub fn subject(mut self, name: &str) -> Self {
        self.steps.push(Step::Subject(name.to_owned()));
        self
    }

    /// A chat of `class` (`kind` as in `chats.kind`) owned by `owner`, who is its first
    /// member; found by its title.
    pub fn chat(mut self, class: &str, kind: &str, title: &str, owner: &str) -> Self {
        self.steps.push(Step::Chat {
            class: class.to_owned(),
            kind: kind.to_owned(),
            title: title.to_owned(),
            owner: owner.to_owned(),
        });
        self
    }

    /// `email` is a member of the chat titled `title`.
    pub fn in_chat(mut self, title: &str, email: &str) -> Self {
        self.steps.push(Step::InChat {
            title: title.to_owned(),
            email: email.to_owned(),
        });
        self
    }

    pub async fn build(self) -> SchoolFixture {
        let id = self.app.school(&self.name).await;
        let mut w = SchoolFixture {
            id,
            classes: HashMap::new(),
            people: HashMap::new(),
            admins: HashMap::new(),
            accounts: HashMap::new(),
            subjects: HashMap::new(),
            chats: HashMap::new(),
            more: HashMap::new(),
        };
        self.add_to(&mut w).await;
        w
    }

    /// The described classes, people and things added to a school built before (the name
    /// is not used): what a test adds to its world half-way, with the handles the fixture
    /// already has.
    pub async fn add_to(self, w: &mut SchoolFixture) {
        let app = self.app;
        let id = w.id;
        let mut last: Option<String> = None;
        for step in self.steps {
            let person = match &step {
                Step::Admin(email)
                | Step::Member { email, .. }
                | Step::ClassTeacher { email, .. }
                | Step::Student { email, .. }
                | Step::ParentOf { email, .. }
                | Step::Teaches { email, .. }
                | Step::Account { email, .. } => Some(email.clone()),
                Step::Class(_)
                | Step::Called { .. }
                | Step::Phone(_)
                | Step::Unverified
                | Step::Also(_)
                | Step::Subject(_)
                | Step::Chat { .. }
                | Step::InChat { .. } => None,
            };
            match step {
                Step::Class(title) => {
                    let (grade, letter) = split_title(&title);
                    let class = app.class(id, grade, letter).await;
                    w.classes.insert(title, class);
                }
                Step::Admin(email) => {
                    let account = app.admin(id, &email).await;
                    w.admins.insert(email, account);
                }
                Step::Member { email, role } => {
                    let person = w.new_person(app, &email, &role, None).await;
                    w.people.insert(email, person);
                }
                Step::ClassTeacher { class, email } => {
                    let teacher = w.member_or_new(app, &email, "teacher").await;
                    app.class_teacher(id, w.class(&class), teacher).await;
                }
                Step::Student { class, email } => {
                    let class = w.class(&class);
                    let person = w.new_person(app, &email, "student", Some(class)).await;
                    w.people.insert(email, person);
                }
                Step::ParentOf { email, child } => {
                    let parent = w.member_or_new(app, &email, "parent").await;
                    sqlx::query(
                        "insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)",
                    )
                    .bind(id)
                    .bind(parent)
                    .bind(w.member(&child))
                    .execute(&app.db)
                    .await
                    .expect("parent link");
                }
                Step::Teaches {
                    email,
                    subject,
                    class,
                } => {
                    let teacher = w.member_or_new(app, &email, "teacher").await;
                    let subject = w.subject_or_new(app, &subject).await;
                    sqlx::query(
                        "insert into teaching_assignments (school_id, id, subject_id, class_id, teacher_id)
                         values ($1, gen_random_uuid(), $2, $3, $4)",
                    )
                    .bind(id)
                    .bind(subject)
                    .bind(w.class(&class))
                    .bind(teacher)
                    .execute(&app.db)
                    .await
                    .expect("teaching assignment");
                }
                Step::Called { surname, given } => {
                    let account = w.account(last.as_deref().expect("called() follows a person"));
                    sqlx::query("update accounts set surname = $2, given_name = $3 where id = $1")
                        .bind(account)
                        .bind(surname)
                        .bind(given)
                        .execute(&app.db)
                        .await
                        .expect("name");
                }
                Step::Phone(phone) => {
                    let account = w.account(last.as_deref().expect("phone() follows a person"));
                    sqlx::query("update accounts set phone = $2 where id = $1")
                        .bind(account)
                        .bind(phone)
                        .execute(&app.db)
                        .await
                        .expect("phone");
                }
                Step::Unverified => {
                    let member = w.member(last.as_deref().expect("unverified() follows a person"));
                    sqlx::query("update memberships set verification = 'unverified' where id = $1")
                        .bind(member)
                        .execute(&app.db)
                        .await
                        .expect("unverified");
                }
                Step::Also(role) => {
                    let email = last.clone().expect("also() follows a person");
                    let account = w.account(&email);
                    let member = app.member(id, account, &role, None).await;
                    w.more.insert((email, role), member);
                }
                Step::Account { email, known } => {
                    let account = match known {
                        Some(account) => account,
                        None => app.account(&email, "Петров", "Пётр").await,
                    };
                    w.accounts.insert(email, account);
                }
                Step::Subject(name) => {
                    w.subject_or_new(app, &name).await;
                }
                Step::Chat {
                    class,
                    kind,
                    title,
                    owner,
                } => {
                    let chat = ChatId::new();
                    let owner = w.member(&owner);
                    sqlx::query(
                        "insert into chats (school_id, id, kind, title, owner_id, class_id)
                         values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(id)
                    .bind(chat)
                    .bind(&kind)
                    .bind(&title)
                    .bind(owner)
                    .bind(w.class(&class))
                    .execute(&app.db)
                    .await
                    .expect("chat");
                    sqlx::query(
                        "insert into chat_members (school_id, chat_id, member_id, role)
                         values ($1, $2, $3, 'owner')",
                    )
                    .bind(id)
                    .bind(chat)
                    .bind(owner)
                    .execute(&app.db)
                    .await
                    .expect("chat owner");
                    w.chats.insert(title, chat);
                }
                Step::InChat { title, email } => {
                    sqlx::query(
                        "insert into chat_members (school_id, chat_id, member_id, role)
                         values ($1, $2, $3, 'member')",
                    )
                    .bind(id)
                    .bind(w.chat(&title))
                    .bind(w.member(&email))
                    .execute(&app.db)
                    .await
                    .expect("chat member");
                }
            }
            if person.is_some() {
                last = person;
            }
        }
    }
}

impl SchoolFixture {
    /// The membership of `email`, made with `role` if the description has not named them yet.
    async fn member_or_new(&mut self, app: &TestApp, email: &str, role: &str) -> MembershipId {
        match self.people.get(email) {
            Some(&(_, m)) => m,
            None => {
                let person = self.new_person(app, email, role, None).await;
                self.people.insert(email.to_owned(), person);
                person.1
            }
        }
    }

    /// A new member: on the account named by [`School::account`] if there is one (a
    /// newcomer joining), else on a new account.
    async fn new_person(
        &mut self,
        app: &TestApp,
        email: &str,
        role: &str,
        class: Option<ClassId>,
    ) -> (AccountId, MembershipId) {
        match self.accounts.remove(email) {
            Some(account) => (account, app.member(self.id, account, role, class).await),
            None => app.person(self.id, email, role, class).await,
        }
    }

    async fn subject_or_new(&mut self, app: &TestApp, name: &str) -> SubjectId {
        if let Some(&s) = self.subjects.get(name) {
            return s;
        }
        let s: SubjectId = sqlx::query_scalar(
            "insert into subjects (school_id, id, kind, name)
             values ($1, gen_random_uuid(), 'subject', $2) returning id",
        )
        .bind(self.id)
        .bind(name)
        .fetch_one(&app.db)
        .await
        .expect("subject");
        self.subjects.insert(name.to_owned(), s);
        s
    }

    /// The id of a chat the description named (by [`School::chat`]), by its title.
    #[track_caller]
    pub fn chat(&self, title: &str) -> ChatId {
        *self
            .chats
            .get(title)
            .unwrap_or_else(|| panic!("no chat {title} in the fixture"))
    }

    /// The membership of `email` in `role` named by [`School::also`].
    #[track_caller]
    pub fn member_as(&self, email: &str, role: &str) -> MembershipId {
        *self
            .more
            .get(&(email.to_owned(), role.to_owned()))
            .unwrap_or_else(|| panic!("no {role} {email} in the fixture"))
    }

    /// The id of a subject the description named (by [`School::teaches`]).
    #[track_caller]
    pub fn subject(&self, name: &str) -> SubjectId {
        *self
            .subjects
            .get(name)
            .unwrap_or_else(|| panic!("no subject {name} in the fixture"))
    }

    /// Whether the description named a class titled `title`.
    pub fn has_class(&self, title: &str) -> bool {
        self.classes.contains_key(title)
    }

    #[track_caller]
    pub fn class(&self, title: &str) -> ClassId {
        *self
            .classes
            .get(title)
            .unwrap_or_else(|| panic!("no class {title} in the fixture"))
    }

    /// The membership of a person the description named (not an administrator: see
    /// [`SchoolFixture::admin`]).
    #[track_caller]
    pub fn member(&self, email: &str) -> MembershipId {
        self.person(email).1
    }

    /// The account of anyone the description named: a member, an administrator, or an
    /// account in no school ([`School::account`]).
    #[track_caller]
    pub fn account(&self, email: &str) -> AccountId {
        match (self.admins.get(email), self.accounts.get(email)) {
            (Some(&a), _) | (None, Some(&a)) => a,
            (None, None) => self.person(email).0,
        }
    }

    #[track_caller]
    pub fn admin(&self, email: &str) -> AccountId {
        *self
            .admins
            .get(email)
            .unwrap_or_else(|| panic!("no administrator {email} in the fixture"))
    }

    #[track_caller]
    fn person(&self, email: &str) -> (AccountId, MembershipId) {
        *self
            .people
            .get(email)
            .unwrap_or_else(|| panic!("no person {email} in the fixture"))
    }
}

/// «5А» → (5, «А»); «10Б» → (10, «Б»).
fn split_title(title: &str) -> (i16, &str) {
    let digits = title
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(title.len());
    let grade = title[..digits]
        .parse()
        .unwrap_or_else(|_| panic!("class title {title} starts with no grade"));
    (grade, &title[digits..])
}
