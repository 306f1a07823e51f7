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

use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};

use uuid::Uuid;

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
    subjects: HashMap<String, Uuid>,
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

    pub async fn build(self) -> SchoolFixture {
        let app = self.app;
        let id = app.school(&self.name).await;
        let mut w = SchoolFixture {
            id,
            classes: HashMap::new(),
            people: HashMap::new(),
            admins: HashMap::new(),
            subjects: HashMap::new(),
        };
        let mut last: Option<AccountId> = None;
        for step in self.steps {
            let person = match &step {
                Step::Admin(email)
                | Step::Member { email, .. }
                | Step::ClassTeacher { email, .. }
                | Step::Student { email, .. }
                | Step::ParentOf { email, .. }
                | Step::Teaches { email, .. } => Some(email.clone()),
                Step::Class(_) | Step::Called { .. } => None,
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
                    let person = app.person(id, &email, &role, None).await;
                    w.people.insert(email, person);
                }
                Step::ClassTeacher { class, email } => {
                    let teacher = w.member_or_new(app, &email, "teacher").await;
                    app.class_teacher(id, w.class(&class), teacher).await;
                }
                Step::Student { class, email } => {
                    let person = app
                        .person(id, &email, "student", Some(w.class(&class)))
                        .await;
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
                    let subject = match w.subjects.get(&subject) {
                        Some(&s) => s,
                        None => {
                            let s: Uuid = sqlx::query_scalar(
                                "insert into subjects (school_id, id, kind, name)
                                 values ($1, gen_random_uuid(), 'subject', $2) returning id",
                            )
                            .bind(id)
                            .bind(&subject)
                            .fetch_one(&app.db)
                            .await
                            .expect("subject");
                            w.subjects.insert(subject, s);
                            s
                        }
                    };
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
                    let account = last.expect("called() follows a person");
                    sqlx::query("update accounts set surname = $2, given_name = $3 where id = $1")
                        .bind(account)
                        .bind(surname)
                        .bind(given)
                        .execute(&app.db)
                        .await
                        .expect("name");
                }
            }
            if let Some(email) = person {
                last = Some(w.account(&email));
            }
        }
        w
    }
}

impl SchoolFixture {
    /// The membership of `email`, made with `role` if the description has not named them yet.
    async fn member_or_new(&mut self, app: &TestApp, email: &str, role: &str) -> MembershipId {
        match self.people.get(email) {
            Some(&(_, m)) => m,
            None => {
                let person = app.person(self.id, email, role, None).await;
                self.people.insert(email.to_owned(), person);
                person.1
            }
        }
    }

    /// The id of a subject the description named (by [`School::teaches`]).
    #[track_caller]
    pub fn subject(&self, name: &str) -> Uuid {
        *self
            .subjects
            .get(name)
            .unwrap_or_else(|| panic!("no subject {name} in the fixture"))
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

    #[track_caller]
    pub fn account(&self, email: &str) -> AccountId {
        match self.admins.get(email) {
            Some(&a) => a,
            None => self.person(email).0,
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
