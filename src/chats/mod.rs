//! The school's chats (R2.3.d, R2.4.c–d, R2.5.c, R2.8.c): the class's three mandatory
//! chats created in one click and filled from the roster, subject, event and staff chats,
//! members with their role in the chat, reconciling a class chat with the roster, handing a
//! chat over, archiving; «Мои чаты» with the links to the platform (R2.6.a, R2.7.a); and
//! the compliance of each class with the regulation ([`compliance`]).
//!
//! One file a concern:
//! - [`kind`]: the kinds of chat; [`rules`]: who may create one, and the facts behind it;
//! - [`create`]: creating chats; [`list`]: the chats page; [`show`]: a chat's page;
//! - [`members`]: changing a chat (members, reconciling, handover, archive, title);
//! - [`mine`]: «Мои чаты»; [`invite`]: a chat's invite link and joining by it;
//! - [`sync`]: keeping class chats in step with the roster; [`compliance`]; [`demo`].

pub mod compliance;
mod create;
pub mod demo;
mod invite;
mod kind;
mod list;
mod members;
mod mine;
mod rules;
mod show;
pub mod sync;

use crate::auth::permissions::{Access, Action};
use crate::web::Routes;

pub use create::{NewChat, create_chat};
pub use invite::join_chat_by_invite;
pub use kind::Kind;
pub use list::{ChatRow, MyClass};
pub use members::reconcile_chat;
pub use mine::my_chat_rows;
pub use rules::leads_class;
pub use show::{MemberRow, Person};
pub(crate) use show::{chat_target, show_page};

use create::{
    create_class_chat, create_mandatory, create_staff_chat, create_subject_chat, new_page,
};
use invite::create_invite;
use list::list;
use members::{add_member, archive, edit, handover, reconcile, remove_member};
use mine::my_chats;
use show::show;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/chats",
        Access::School(Action::ViewChats),
        list,
    )
    .get(
        "/s/{school_id}/chats/new",
        Access::School(Action::ViewChats),
        new_page,
    )
    .post(
        "/s/{school_id}/chats/class",
        Access::School(Action::CreateClassChats),
        create_class_chat,
    )
    .post(
        "/s/{school_id}/chats/subject",
        Access::School(Action::CreateSubjectChats),
        create_subject_chat,
    )
    .post(
        "/s/{school_id}/chats/staff",
        Access::School(Action::CreateStaffChats),
        create_staff_chat,
    )
    .post(
        "/s/{school_id}/classes/{class_id}/chats/{kind}",
        Access::School(Action::CreateClassChats),
        create_mandatory,
    )
    .get(
        "/s/{school_id}/chats/{chat_id}",
        Access::School(Action::ViewChats),
        show,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/members",
        Access::School(Action::ManageChats),
        add_member,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/members/{member_id}/remove",
        Access::School(Action::ManageChats),
        remove_member,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/reconcile",
        Access::School(Action::ManageChats),
        reconcile,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/handover",
        Access::School(Action::ManageChats),
        handover,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/archive",
        Access::School(Action::ManageChats),
        archive,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/edit",
        Access::School(Action::ManageChats),
        edit,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/invite",
        Access::School(Action::CreateInvites),
        create_invite,
    )
    .get(
        "/s/{school_id}/compliance",
        Access::School(Action::ViewCompliance),
        compliance::page,
    )
    .get(
        "/s/{school_id}/compliance.csv",
        Access::School(Action::ViewCompliance),
        compliance::csv,
    )
    .get(
        "/s/{school_id}/my-chats",
        Access::School(Action::ViewMyChats),
        my_chats,
    )
}
