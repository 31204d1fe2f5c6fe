//! `learn` and `lab`: lessons and labs from the command line.

use super::GlobalOptions;
use crate::learn::{labs, lessons, runner::Runner};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  glassbox learn            # the lessons, with your progress\n  glassbox learn 1          # take lesson 01 (resumes where you stopped)\n  glassbox learn --next     # take the first lesson you have not finished\n  glassbox --lang zh learn 1\n  glassbox learn --run-all --simulate   # run every lesson unattended"
)]
pub struct LearnArgs {
    /// The lesson to take (id like 01, or its slug)
    pub lesson: Option<String>,
    /// Run every lesson (or the one given) unattended; fail on the first failed check
    #[arg(long)]
    pub run_all: bool,
    /// Start the lesson from its beginning
    #[arg(long)]
    pub restart: bool,
    /// Take the first lesson not yet finished
    #[arg(long, conflicts_with_all = ["lesson", "run_all"])]
    pub next: bool,
    /// Write the book's lesson chapters (from the lesson files) into DIR
    #[arg(long, value_name = "DIR", hide = true)]
    pub write_book: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Subcommand, Debug)]
pub enum LabAction {
    /// List the labs
    List,
    /// Reset a lab, run its setup and show its task
    Start { lab: String },
    /// Check a lab (or every lab): says what is still missing
    Check { lab: Option<String> },
    /// Show the next hint (or the Nth) and how many remain
    Hint { lab: String, n: Option<usize> },
    /// Show a solution, as glassbox commands
    Solve { lab: String },
    /// Remove what a lab made, so it can be taken again
    Reset { lab: String },
}

fn runner(g: &GlobalOptions) -> Result<Runner> {
    // Decide real or simulated once, so every command of a lesson agrees.
    // The runner hands the base root to each command, which picks its store.
    Runner::new(&g.base_root(), g.simulated(), g.lang())
}

pub fn learn(g: &GlobalOptions, args: LearnArgs) -> Result<i32> {
    if let Some(dir) = &args.write_book {
        crate::learn::book::write_all(dir)?;
        return Ok(0);
    }
    let mut r = runner(g)?;
    if args.run_all {
        // Files the lessons write (`save -o`) go to a scratch directory, removed after.
        let scratch = std::env::temp_dir().join(format!("glassbox-lessons-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("make the scratch directory {}", scratch.display()))?;
        r.workdir = Some(scratch.clone());
        let result = lessons::run_all(&r, args.lesson.as_deref());
        let _ = std::fs::remove_dir_all(&scratch);
        result?;
        return Ok(0);
    }
    let lesson = if args.next {
        match lessons::next_lesson(&crate::learn::progress::Progress::load())? {
            Some(lesson) => Some(lesson.id),
            None => {
                println!(
                    "{}",
                    r.lang.pick(
                        "Every lesson is done. The labs are next: glassbox lab list",
                        "所有课程都学完了。接下来做实验：glassbox lab list"
                    )
                );
                return Ok(0);
            }
        }
    } else {
        args.lesson
    };
    match lesson {
        Some(key) => {
            let mut session =
                crate::repl::Session::new(r.root.clone(), r.simulate, r.lang, g.step, g.explain);
            lessons::take(&mut r, &key, &mut session, args.restart)?
        }
        None => lessons::menu(r.lang)?,
    }
    Ok(0)
}

pub fn lab(g: &GlobalOptions, args: LabArgs) -> Result<i32> {
    let r = runner(g)?;
    match args.action {
        LabAction::List => labs::list(&r)?,
        LabAction::Start { lab } => labs::start(&r, &lab)?,
        LabAction::Check { lab } => {
            return Ok(if labs::check(&r, lab.as_deref())? {
                0
            } else {
                1
            })
        }
        LabAction::Hint { lab, n } => labs::hint(&r, &lab, n)?,
        LabAction::Solve { lab } => labs::show_solution(&r, &lab)?,
        LabAction::Reset { lab } => labs::reset(&r, &lab)?,
    }
    Ok(0)
}
