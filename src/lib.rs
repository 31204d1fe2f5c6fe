//! glassbox: a container runtime you can see through.
//!
//! One plan of kernel steps (`step`), two kernels that carry it out
//! (`kernel::linux`, `kernel::sim`), and a narrator that shows each step
//! (`narrate`). `engine` holds the verbs the CLI, REPL and tests all call.

pub mod build;
pub mod cli;
pub mod clock;
pub mod confine;
pub mod container;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod image;
pub mod kernel;
pub mod learn;
pub mod narrate;
pub mod network;
pub mod oci;
pub mod programs;
pub mod registry;
pub mod repl;
pub mod resources;
pub mod step;
pub mod volume;
