//! Test helpers shared by the integration tests.

pub mod dovecot;
pub mod fixture;
