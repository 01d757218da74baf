//! Process exit statuses from BSD `sysexits.h`, so scripts and MTAs (for `deliver`)
//! can tell a temporary failure from a permanent one.

use std::fmt;

/// An exit status of the `roost` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A generic failure (`check-config` with an invalid file).
    Failure = 1,
    /// EX_USAGE: the command line was wrong.
    Usage = 64,
    /// EX_DATAERR: the input data was wrong (e.g. passwords that do not match).
    DataErr = 65,
    /// EX_NOUSER: the named user does not exist.
    NoUser = 67,
    /// EX_UNAVAILABLE: a service or resource is unavailable.
    Unavailable = 69,
    /// EX_SOFTWARE: an internal error (a bug, or a feature that is not wired yet).
    Software = 70,
    /// EX_OSERR: the operating system refused something (e.g. cannot bind).
    OsErr = 71,
    /// EX_CANTCREAT: an output file could not be created.
    CantCreat = 73,
    /// EX_IOERR: reading or writing failed.
    IoErr = 74,
    /// EX_TEMPFAIL: try again later (MTAs requeue on this).
    TempFail = 75,
    /// EX_NOPERM: not permitted (e.g. privileged port as a normal user).
    NoPerm = 77,
    /// EX_CONFIG: the configuration is wrong.
    Config = 78,
}

impl Exit {
    /// The numeric status passed to the OS.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A failure that ends the command: one sentence for stderr and the exit status.
#[derive(Debug)]
pub struct Fail {
    /// The exit status.
    pub exit: Exit,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl Fail {
    /// A failure with this status and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Fail {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_sysexits_h() {
        let table = [
            (Exit::Ok, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 64),
            (Exit::DataErr, 65),
            (Exit::NoUser, 67),
            (Exit::Unavailable, 69),
            (Exit::Software, 70),
            (Exit::OsErr, 71),
            (Exit::CantCreat, 73),
            (Exit::IoErr, 74),
            (Exit::TempFail, 75),
            (Exit::NoPerm, 77),
            (Exit::Config, 78),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
