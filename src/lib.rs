//! The `roost` runtime: command line, logging, TLS, listeners, connections and shutdown.
//!
//! `main.rs` only calls [`cli::main`]; everything else lives here so it can be tested,
//! and so the protocol crates plug into [`server::run`] through [`conn::Connection`].

#![warn(missing_docs)]

pub mod admin;
pub mod admin_cli;
pub mod admin_socket;
pub mod cached_read;
pub mod cli;
pub mod conn;
pub mod deflate;
pub mod exit;
pub mod guard;
pub mod imap;
pub mod import;
pub mod lmtp;
pub mod logging;
pub mod login_record;
pub mod mailbox_view;
pub mod metrics;
pub mod ops;
pub mod password;
pub mod pop3;
pub mod privs;
pub mod rawlog;
pub mod report;
pub mod server;
pub mod sessions;
pub mod tls;
mod utc;
pub mod wiring;
