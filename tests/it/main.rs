#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The integration tests: one binary, a fresh PostgreSQL database per test (copied from a
//! migrated template), the real application on a real socket, and a real browser for the
//! journeys a person clicks through.

mod helpers;

mod access;
mod accounts;
mod after_demo;
mod architecture;
mod audit;
mod broadcasts;
mod browser;
mod channels;
mod chats;
mod connector;
mod consent;
mod demo;
mod double_submit;
mod faults;
mod forms_markup;
mod hardening;
mod help;
mod helping;
mod htmx;
mod imports;
mod input;
mod invites;
mod movements;
mod names;
mod people;
mod phone;
mod platform;
mod print;
mod resubmit_walk;
mod routes;
mod scale;
mod schools;
mod stats;
mod structure;
mod tenancy;
