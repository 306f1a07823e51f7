#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The integration tests: one binary, a fresh PostgreSQL database per test (copied from a
//! migrated template), the real application on a real socket, and a real browser for the
//! journeys a person clicks through.

mod helpers;

mod access;
mod accounts;
mod after_demo;
mod architecture;
mod browser;
mod chats;
mod demo;
mod double_submit;
mod faults;
mod hardening;
mod imports;
mod input;
mod invites;
mod movements;
mod people;
mod platform;
mod resubmit_walk;
mod routes;
mod schools;
mod structure;
mod tenancy;
