//! roost-imap
