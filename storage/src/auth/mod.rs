//! Authentication against a Dovecot passwd-file.
