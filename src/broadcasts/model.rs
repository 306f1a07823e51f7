//! Broadcasts' kinds and states, and who plans what (COMMUNICATION.md, «Broadcasts,
//! lessons, meetings»): the administrator anything; deputies meetings and staff webinars; a
//! class teacher for their class; a teacher lessons for the classes they teach.

use crate::auth::permissions::Role;
use crate::ids::ClassId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lesson,
    ClassHour,
    ParentsMeeting,
    Meeting,
    Webinar,
    Event,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Lesson,
        Kind::ClassHour,
        Kind::ParentsMeeting,
        Kind::Meeting,
        Kind::Webinar,
        Kind::Event,
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lesson => "lesson",
            Kind::ClassHour => "class_hour",
            Kind::ParentsMeeting => "parents_meeting",
            Kind::Meeting => "meeting",
            Kind::Webinar => "webinar",
            Kind::Event => "event",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Lesson => "урок",
            Kind::ClassHour => "классный час",
            Kind::ParentsMeeting => "родительское собрание",
            Kind::Meeting => "совещание",
            Kind::Webinar => "вебинар по работе на платформе",
            Kind::Event => "мероприятие",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BState {
    Planned,
    Moved,
    Cancelled,
    Held,
}

impl BState {
    pub fn parse(s: &str) -> BState {
        match s {
            "moved" => BState::Moved,
            "cancelled" => BState::Cancelled,
            "held" => BState::Held,
            _ => BState::Planned,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BState::Planned => "planned",
            BState::Moved => "moved",
            BState::Cancelled => "cancelled",
            BState::Held => "held",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            BState::Planned => "запланирована",
            BState::Moved => "перенесена",
            BState::Cancelled => "отменена",
            BState::Held => "проведена",
        }
    }
}

/// The audience as planned: classes × roles, the staff room, or the whole school.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub whole_school: bool,
    pub staffroom: bool,
    /// (class, "student" | "parent")
    pub classes: Vec<(ClassId, &'static str)>,
}

impl Audience {
    pub fn is_empty(&self) -> bool {
        !self.whole_school && !self.staffroom && self.classes.is_empty()
    }
}

/// What the planner is: their roles, the classes they lead and teach.
pub struct Planner<'a> {
    pub roles: &'a [Role],
    pub led: &'a [ClassId],
    pub taught: &'a [ClassId],
}

/// Whether this planner may plan this kind for this audience; the Russian reason if not.
pub fn may_plan(p: &Planner<'_>, kind: Kind, audience: &Audience) -> Result<(), &'static str> {
    if p.roles.contains(&Role::Admin) {
        return Ok(());
    }
    let deputy = p.roles.contains(&Role::Deputy) || p.roles.contains(&Role::ItDeputy);
    if deputy && matches!(kind, Kind::Meeting | Kind::Webinar) && !audience.whole_school {
        return Ok(());
    }
    let classes: Vec<ClassId> = audience.classes.iter().map(|(c, _)| *c).collect();
    let within = |own: &[ClassId]| {
        !classes.is_empty()
            && !audience.whole_school
            && !audience.staffroom
            && classes.iter().all(|c| own.contains(c))
    };
    if !p.led.is_empty()
        && matches!(
            kind,
            Kind::ClassHour | Kind::ParentsMeeting | Kind::Event | Kind::Lesson
        )
        && within(p.led)
    {
        return Ok(());
    }
    if !p.taught.is_empty() && kind == Kind::Lesson && within(p.taught) {
        return Ok(());
    }
    Err(if deputy {
        "Заместитель директора планирует совещания и вебинары для сотрудников; остальное — администратор."
    } else {
        "Классный руководитель планирует трансляции для своего класса, учитель — уроки в классах, где он ведёт предмет."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_plans_what() {
        let five_a = ClassId::new();
        let five_b = ClassId::new();
        let for_a = Audience {
            classes: vec![(five_a, "student"), (five_a, "parent")],
            ..Audience::default()
        };
        let for_b = Audience {
            classes: vec![(five_b, "student")],
            ..Audience::default()
        };
        let staff = Audience {
            staffroom: true,
            ..Audience::default()
        };
        let teacher = Planner {
            roles: &[Role::Teacher],
            led: &[],
            taught: &[five_a],
        };
        assert!(may_plan(&teacher, Kind::Lesson, &for_a).is_ok());
        assert!(may_plan(&teacher, Kind::Lesson, &for_b).is_err());
        assert!(may_plan(&teacher, Kind::ParentsMeeting, &for_a).is_err());
        let ct = Planner {
            roles: &[Role::Teacher, Role::ClassTeacher],
            led: &[five_a],
            taught: &[],
        };
        assert!(may_plan(&ct, Kind::ParentsMeeting, &for_a).is_ok());
        assert!(may_plan(&ct, Kind::ParentsMeeting, &for_b).is_err());
        let deputy = Planner {
            roles: &[Role::Deputy],
            led: &[],
            taught: &[],
        };
        assert!(may_plan(&deputy, Kind::Webinar, &staff).is_ok());
        assert!(may_plan(&deputy, Kind::Lesson, &for_a).is_err());
        let admin = Planner {
            roles: &[Role::Admin],
            led: &[],
            taught: &[],
        };
        assert!(may_plan(&admin, Kind::Event, &for_b).is_ok());
    }
}
