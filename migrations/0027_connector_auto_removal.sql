-- The platform connector (issue 15): a school may let the bot remove, without a person's
-- confirmation, those who left the school (their membership ended by a movement) from the
-- platform chats. Off by default; each removal is still audited and closed by the
-- platform's user_removed event.
alter table connector_bots
    add column remove_leavers boolean not null default false;

alter table connector_removals
    add column automatic boolean not null default false;
