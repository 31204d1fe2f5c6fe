//! A busybox-ash-compatible shell over the simulated kernel: lexer, parser,
//! expansion, arithmetic, the interpreter and the deterministic world its
//! processes share (virtual clock, pipes, signals).

pub mod arith;
pub mod exec;
pub mod expand;
pub mod lexer;
pub mod memcg;
pub mod parser;
pub mod ulimit;
pub mod world;

/// How control leaves a command other than by finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Exit(i32),
    Return(i32),
    Break(usize),
    Continue(usize),
    /// The process was killed; its exit status (128+N).
    Killed(i32),
    /// The run ended (horizon, budget, or PID 1 exited): unwind.
    Halt,
}
