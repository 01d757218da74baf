//! A wrapper that keeps credentials out of logs.

use std::fmt;

/// A value that must never be printed: passwords, SASL initial responses and
/// SASL continuation data. `Debug` prints `<redacted>`; there is no `Display`.
///
/// Get at the value deliberately with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a sensitive value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// Borrows the sensitive value; the name makes every use easy to audit.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the sensitive value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(b"hunter2".to_vec());
        let printed = format!("{s:?} {s:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("104"), "bytes leaked: {printed}");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), b"hunter2");
    }
}
