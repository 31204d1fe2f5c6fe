//! Dockerfiles, read exactly as BuildKit reads them.
//!
//! - `parser`: text → instruction nodes (directives, continuations,
//!   comments, flags, JSON/shell forms, heredocs), and BuildKit's AST dump;
//! - `expand`: BuildKit's shell lexer (variable expansion, quotes, escapes,
//!   word splitting);
//! - `instructions`: nodes → typed instructions grouped in stages, flags
//!   checked (what a builder consumes; each keeps its line numbers).
//!
//! - `context`: the build context (directory, tar or none), `.dockerignore`
//!   (`ignore`), sources resolved through fds and refused when they leave
//!   it, written into layer tars.
//!
//! Apart from `context`, nothing here touches the host or a kernel: it is
//! pure text processing, the same for real and simulated builds. The
//! builder itself is `engine::build`.

pub mod context;
pub mod expand;
pub mod ignore;
pub mod instructions;
pub mod parser;

use std::fmt;

/// A Dockerfile error and the (1-based) line of the instruction it is in.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // BuildKit's wording (instructions/parse.go `parseError`).
        write!(
            f,
            "dockerfile parse error on line {}: {}",
            self.line, self.message
        )
    }
}

impl std::error::Error for ParseError {}
