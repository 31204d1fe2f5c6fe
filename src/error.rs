//! Errors that carry docker's exit codes: 125 when glassbox itself fails,
//! 126 when the command cannot be executed, 127 when it is not found.

use std::fmt;

pub const EXIT_ENGINE: i32 = 125;
pub const EXIT_CANNOT_EXEC: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error with the exit code the CLI should return. Anything else that
/// reaches `main` as a plain `anyhow::Error` exits 125.
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

impl ExitError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ExitError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// The exit code for an error: its own if it is an `ExitError`, else 125.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<ExitError>())
        .map(|e| e.code)
        .unwrap_or(EXIT_ENGINE)
}

/// Shorthand: bail with a specific exit code.
#[macro_export]
macro_rules! exit_err {
    ($code:expr, $($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::ExitError::new($code, format!($($arg)*))))
    };
}
