//! The platform connector (issue 15; R2.1.l, R2.4.d, R2.1.m): a school's own bot on the
//! messenger (`../shared/MAX-BOT-API.md`). Optional, per school, off by default: without a
//! configured bot nothing here runs and no page changes, except the school profile's offer
//! to set one up.
//!
//! - [`config`]: the bot's settings, its token encrypted at rest, never shown again;
//! - [`client`]: the bot API client, one error type, a rate limit, safe retries;
//! - [`webhook`]: the public, per-school, unguessable receiver (secret in constant time);
//! - [`worker`]: processes stored updates (`SKIP LOCKED`), re-subscribes, nightly reads;
//! - [`matching`]: recognising a chat the bot was added to by its link;
//! - [`presence`]: who is really in a chat, beside the roster;
//! - [`removals`]: removing who left, confirmed by a person, closed by `user_removed`;
//! - [`leavers`]: the school setting to remove those who left the school automatically;
//! - [`adopt`]: a chat the platform made itself taken as a class's mandatory chat;
//! - [`binding`]: a person's deep link to the bot binds their platform account;
//! - [`publishing`]: approved channel posts through the bot (the channels' `Publisher`);
//! - [`pages`]: the bot's settings page.

pub mod adopt;
pub mod binding;
pub mod client;
pub mod config;
pub mod leavers;
pub mod matching;
pub mod pages;
pub mod presence;
pub mod publishing;
pub mod removals;
pub mod webhook;
pub mod worker;

use crate::auth::permissions::{Access, Action};
use crate::web::Routes;

pub use config::ConnectorKey;

pub fn routes(r: Routes) -> Routes {
    let school = Access::School;
    r.post("/hooks/max/{hook_id}", Access::Public, webhook::receive)
        .get(
            "/s/{school_id}/connector",
            school(Action::ManageConnector),
            pages::settings,
        )
        .post(
            "/s/{school_id}/connector",
            school(Action::ManageConnector),
            pages::save,
        )
        .post(
            "/s/{school_id}/connector/check",
            school(Action::ManageConnector),
            pages::check,
        )
        .post(
            "/s/{school_id}/connector/chats/match",
            school(Action::ManageConnector),
            pages::match_chat,
        )
        .post(
            "/s/{school_id}/connector/chats/adopt",
            school(Action::ManageConnector),
            adopt::adopt,
        )
        .post(
            "/s/{school_id}/connector/leavers",
            school(Action::ManageConnector),
            leavers::save,
        )
        .get(
            "/s/{school_id}/connector/link",
            school(Action::BindPlatformAccount),
            binding::page,
        )
        .post(
            "/s/{school_id}/chats/{chat_id}/platform/refresh",
            school(Action::ManagePlatformMembers),
            removals::refresh,
        )
        .post(
            "/s/{school_id}/chats/{chat_id}/platform/remove",
            school(Action::ManagePlatformMembers),
            removals::remove,
        )
}
