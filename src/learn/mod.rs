//! Lessons and labs: the learning side of glassbox. Lessons (`lessons/*.toml`)
//! mirror the seed tutorials step by step; labs (`labs/*.toml`) set a task and
//! check the result against the real (or simulated) state. Both are compiled
//! into the binary, so a learner needs nothing but glassbox.

pub mod book;
pub mod catalog;
pub mod coverage;
pub mod files;
pub mod labs;
pub mod lessons;
pub mod model;
pub mod progress;
pub mod record;
pub mod registry;
pub mod runner;
pub mod state;
pub mod words;

pub use model::{Check, Lab, Lesson, Text};
