//! On-disk Maildir formats, compatible with Dovecot and Courier.
