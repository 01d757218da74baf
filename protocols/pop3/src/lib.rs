//! roost-pop3
