//! Reading passwords for `roost pw` and `roost user add/passwd`: from the terminal with
//! echo off (asked twice), or one line from stdin for scripts.

use std::io::{self, BufRead, Write};

use crate::exit::{Exit, Fail};
use crate::logging::Secret;

/// Why no password was obtained.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The two entries differ.
    #[error("the passwords do not match; try again")]
    Mismatch,
    /// Nothing was entered.
    #[error("the password is empty; enter a non-empty password")]
    Empty,
    /// stdin ended before a line was read.
    #[error("no password on stdin: pipe one line with the password")]
    NoInput,
    /// Reading failed.
    #[error("cannot read the password: {0}")]
    Io(#[from] io::Error),
}

impl From<PasswordError> for Fail {
    fn from(e: PasswordError) -> Self {
        let exit = match e {
            PasswordError::Io(_) => Exit::IoErr,
            _ => Exit::DataErr,
        };
        Fail::new(exit, e.to_string())
    }
}

/// Read one line as a password; the line ending is not part of it.
pub fn read_line_from(reader: &mut impl BufRead) -> Result<Secret<String>, PasswordError> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(PasswordError::NoInput);
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        return Err(PasswordError::Empty);
    }
    Ok(Secret::new(line))
}

/// Whether stdin is a terminal (then we prompt with echo off).
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Prompt twice on the terminal with echo off; both entries must match.
pub fn read_from_tty() -> Result<Secret<String>, PasswordError> {
    let first = prompt_no_echo("Enter new password: ")?;
    let second = prompt_no_echo("Retype new password: ")?;
    if first != second {
        return Err(PasswordError::Mismatch);
    }
    Ok(first)
}

/// Restores the terminal settings even when reading fails.
struct EchoGuard(libc::termios);

impl Drop for EchoGuard {
    fn drop(&mut self) {
        // SAFETY: restoring settings previously read from the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}

fn prompt_no_echo(prompt: &str) -> Result<Secret<String>, PasswordError> {
    let mut err = io::stderr();
    err.write_all(prompt.as_bytes())?;
    err.flush()?;
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut term) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    let guard = EchoGuard(term);
    let mut quiet = term;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: applying a modified copy of valid settings.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    let result = read_line_from(&mut io::stdin().lock());
    drop(guard);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_read_without_its_ending() {
        let table: &[(&[u8], Result<&str, &str>)] = &[
            (b"secret\n", Ok("secret")),
            (b"secret\r\nmore\n", Ok("secret")),
            (b"no newline", Ok("no newline")),
            (b" spaces kept \n", Ok(" spaces kept ")),
            (b"\n", Err("empty")),
            (b"", Err("no password on stdin")),
        ];
        for (input, want) in table {
            let got = read_line_from(&mut &input[..]);
            match (got, want) {
                (Ok(s), Ok(w)) => assert_eq!(s.expose(), w),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn errors_map_to_sysexits() {
        assert_eq!(Fail::from(PasswordError::Mismatch).exit, Exit::DataErr);
        assert_eq!(Fail::from(PasswordError::Empty).exit, Exit::DataErr);
        let io = PasswordError::Io(io::Error::other("x"));
        assert_eq!(Fail::from(io).exit, Exit::IoErr);
    }
}
