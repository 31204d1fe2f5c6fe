//! Labs: a task, hints, and checks against the state the learner left.

use super::catalog;
use super::model::Lab;
use super::progress::Progress;
use super::runner::{Outcome, Runner};
use anyhow::Result;
use colored::Colorize;

pub fn list(runner: &Runner) -> Result<()> {
    let progress = Progress::load();
    for lab in catalog::labs()? {
        let mark = if progress.labs.get(&lab.id).copied().unwrap_or(false) {
            "✓".green().to_string()
        } else {
            " ".into()
        };
        let real = if lab.real_only {
            runner.lang.pick("  [real kernel]", "  [需真实内核]")
        } else {
            ""
        };
        println!(
            "  {mark}  {}  {}  ({}){real}",
            lab.id,
            lab.title.get(runner.lang),
            lab.slug
        );
    }
    Ok(())
}

pub fn show_task(runner: &Runner, lab: &Lab) {
    let lang = runner.lang;
    println!(
        "{}",
        format!("━━ Lab {} · {} ━━", lab.id, lab.title.get(lang)).bold()
    );
    println!("{}", lab.task.get(lang).trim());
    println!(
        "{}",
        lang.pick(
            &format!(
                "(check with: glassbox lab check {}; a hint: glassbox lab hint {})",
                lab.id, lab.id
            ),
            &format!(
                "（检查：glassbox lab check {}；提示：glassbox lab hint {}）",
                lab.id, lab.id
            ),
        )
        .dimmed()
    );
}

/// Reset, run the setup, and show the task.
pub fn start(runner: &Runner, key: &str) -> Result<()> {
    let lab = catalog::lab(key)?;
    if lab.real_only && runner.simulate {
        anyhow::bail!(
            "{}",
            runner.lang.pick(
                &format!(
                    "lab {} needs the real kernel (run glassbox as root, without --simulate)",
                    lab.id
                ),
                &format!(
                    "实验 {} 需要真实内核（以 root 运行 glassbox，不要加 --simulate）",
                    lab.id
                )
            )
        );
    }
    reset_lab(runner, &lab)?;
    for cmd in &lab.setup {
        let o = runner.run(cmd, &[], None, true, false)?;
        if o.code != 0 {
            anyhow::bail!(
                "lab setup `{cmd}` failed (exit {}): {}",
                o.code,
                o.output.trim()
            );
        }
    }
    show_task(runner, &lab);
    Ok(())
}

/// Everything still wrong, in the learner's language (empty: solved).
pub fn problems(runner: &Runner, lab: &Lab) -> Vec<String> {
    let none = Outcome::default();
    lab.check
        .iter()
        .filter_map(|c| {
            runner
                .check(&c.check, &none)
                .err()
                .map(|detail| format!("{} ({detail})", c.missing.get(runner.lang)))
        })
        .collect()
}

/// Check one lab (or every lab when `key` is None); Ok(true) when all pass.
pub fn check(runner: &Runner, key: Option<&str>) -> Result<bool> {
    let labs = match key {
        Some(k) => vec![catalog::lab(k)?],
        None => catalog::labs()?,
    };
    let lang = runner.lang;
    let mut progress = Progress::load();
    let mut all_ok = true;
    for lab in labs {
        let wrong = problems(runner, &lab);
        if wrong.is_empty() {
            println!(
                "{} lab {} {}",
                "✓".green(),
                lab.id,
                lang.pick("solved", "完成")
            );
            progress.labs.insert(lab.id.clone(), true);
        } else {
            all_ok = false;
            println!(
                "{} lab {} {}",
                "✗".red(),
                lab.id,
                lang.pick("not yet:", "还没完成：")
            );
            for w in wrong {
                println!("    - {w}");
            }
        }
    }
    let _ = progress.save();
    Ok(all_ok)
}

/// Show hint N (1-based); after the last, the solution.
pub fn hint(runner: &Runner, key: &str, n: usize) -> Result<()> {
    let lab = catalog::lab(key)?;
    let lang = runner.lang;
    match lab.hints.get(n.saturating_sub(1)) {
        Some(h) => println!(
            "{} {}/{}: {}",
            lang.pick("hint", "提示"),
            n.max(1),
            lab.hints.len(),
            h.get(lang).trim()
        ),
        None => {
            println!("{}", lang.pick("A solution:", "一种解法："));
            for s in &lab.solution {
                println!("    docker {s}");
            }
        }
    }
    Ok(())
}

/// Remove what the lab makes, so it can be taken again.
pub fn reset_lab(runner: &Runner, lab: &Lab) -> Result<()> {
    for name in &lab.cleanup_containers {
        let _ = runner.run(&format!("rm -f {name}"), &[], None, true, false);
    }
    for name in &lab.cleanup_images {
        let _ = runner.run(&format!("rmi -f {name}"), &[], None, true, false);
    }
    Ok(())
}

pub fn reset(runner: &Runner, key: &str) -> Result<()> {
    let lab = catalog::lab(key)?;
    reset_lab(runner, &lab)?;
    let mut progress = Progress::load();
    progress.labs.remove(&lab.id);
    progress.save()
}

/// Run a lab's solution (tests use it to prove the lab can be solved).
pub fn solve(runner: &Runner, key: &str) -> Result<()> {
    let lab = catalog::lab(key)?;
    for cmd in &lab.solution {
        runner.run(cmd, &[], None, true, false)?;
    }
    Ok(())
}
