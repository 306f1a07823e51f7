//! Broadcasts, lessons and meetings, planned on the portal (the platform has no scheduling):
//! R2.1.n (the administrator plans and organises broadcasts), R2.3.d (deputies hold
//! meetings), R2.4.d and R2.5.d (class teachers and teachers run remote events and
//! lessons), R2.6.b–c and R2.7.b (students and parents take part), R3.4 (webinars on the
//! platform for staff). `../shared/COMMUNICATION.md` gives the rules.
//!
//! - [`model`]: kinds, states, who plans what; [`recurrence`]: school time, weekly
//!   occurrences, quiet hours.
//! - [`queries`]: audience, what a person sees, whom a change is told.
//! - [`pages`]: «Мои трансляции», a broadcast's page, planning; [`changes`]: edit, cancel,
//!   held, a cancelled occurrence, with the e-mails.
//! - [`calendar`]: the school's calendar and the `.ics` of one broadcast; [`ical`]: the
//!   iCalendar writer; [`feed`]: the personal feed and its tokens.

pub mod calendar;
pub mod changes;
pub mod demo;
pub mod feed;
pub mod ical;
pub mod model;
pub mod pages;
pub mod queries;
pub mod recurrence;

use crate::auth::permissions::{Access, Action};
use crate::web::Routes;

pub fn routes(r: Routes) -> Routes {
    let school = Access::School;
    r.get(
        "/s/{school_id}/broadcasts",
        school(Action::ViewBroadcasts),
        pages::mine,
    )
    .get(
        "/s/{school_id}/broadcasts/new",
        school(Action::PlanBroadcasts),
        pages::new,
    )
    .post(
        "/s/{school_id}/broadcasts",
        school(Action::PlanBroadcasts),
        pages::create,
    )
    .get(
        "/s/{school_id}/broadcasts/{broadcast_id}",
        school(Action::ViewBroadcasts),
        pages::show,
    )
    .get(
        "/s/{school_id}/broadcasts/{broadcast_id}/ics",
        school(Action::ViewBroadcasts),
        calendar::ics,
    )
    .post(
        "/s/{school_id}/broadcasts/{broadcast_id}/edit",
        school(Action::PlanBroadcasts),
        changes::edit,
    )
    .post(
        "/s/{school_id}/broadcasts/{broadcast_id}/cancel",
        school(Action::PlanBroadcasts),
        changes::cancel,
    )
    .post(
        "/s/{school_id}/broadcasts/{broadcast_id}/held",
        school(Action::PlanBroadcasts),
        changes::held,
    )
    .post(
        "/s/{school_id}/broadcasts/{broadcast_id}/exceptions",
        school(Action::PlanBroadcasts),
        changes::exception,
    )
    .get(
        "/s/{school_id}/calendar",
        school(Action::ViewSchoolCalendar),
        calendar::school,
    )
    .post(
        "/s/{school_id}/calendar/feed",
        school(Action::ViewBroadcasts),
        feed::rotate,
    )
    .get("/calendar/{token}", Access::Public, feed::feed)
}
