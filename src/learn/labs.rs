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
        // The word says it without colour; the mark catches the eye.
        let mark = if progress.labs.get(&lab.id).copied().unwrap_or(false) {
            format!(
                "{} {:<8}",
                "✓".green(),
                runner.lang.pick("solved", "已完成")
            )
        } else {
            format!("  {:<8}", runner.lang.pick("unsolved", "未完成"))
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
        lang.pick(
            &format!("━━ Lab {} · {} ━━", lab.id, lab.title.get(lang)),
            &format!("━━ 实验 {} · {} ━━", lab.id, lab.title.get(lang))
        )
        .bold()
    );
    println!("{}", lab.task.get(lang).trim());
    println!(
        "{}",
        lang.pick(
            &format!(
                "(check with: glassbox lab check {}; a hint: glassbox lab hint {}; a solution: glassbox lab solve {})",
                lab.id, lab.id, lab.id
            ),
            &format!(
                "（检查：glassbox lab check {}；提示：glassbox lab hint {}；解法：glassbox lab solve {}）",
                lab.id, lab.id, lab.id
            ),
        )
        .dimmed()
    );
}

/// The lab as it reads with its registry's address (the one `lab start`
/// left running; `$REGISTRY` stays when none is running).
fn at_registry(runner: &Runner, lab: Lab) -> Result<Lab> {
    match (&lab.registry, super::registry::lab_host(runner)) {
        (Some(_), Some(host)) => catalog::lab_at(&lab, &host),
        _ => Ok(lab),
    }
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
    reset_lab(runner, &at_registry(runner, lab.clone())?)?;
    let lab = match &lab.registry {
        Some(spec) => {
            let host = super::registry::start_for_lab(runner, spec)?;
            catalog::lab_at(&lab, &host)?
        }
        None => lab,
    };
    for cmd in &lab.setup {
        let o = runner.run(cmd, &[], None, true, false)?;
        if o.code != 0 {
            anyhow::bail!(
                "{}",
                runner.lang.pick(
                    &format!(
                        "lab setup `glassbox {cmd}` failed (exit {}): {}",
                        o.code,
                        o.output.trim()
                    ),
                    &format!(
                        "实验准备命令 `glassbox {cmd}` 失败（退出码 {}）：{}",
                        o.code,
                        o.output.trim()
                    )
                )
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
    let labs = labs
        .into_iter()
        .map(|l| at_registry(runner, l))
        .collect::<Result<Vec<_>>>()?;
    let lang = runner.lang;
    let mut progress = Progress::load();
    let mut all_ok = true;
    for lab in labs {
        let wrong = problems(runner, &lab);
        if wrong.is_empty() {
            println!(
                "{} {}",
                "✓".green(),
                lang.pick(
                    &format!("lab {} solved", lab.id),
                    &format!("实验 {} 完成", lab.id)
                )
            );
            progress.labs.insert(lab.id.clone(), true);
        } else {
            all_ok = false;
            println!(
                "{} {}",
                "✗".red(),
                lang.pick(
                    &format!("lab {} not yet:", lab.id),
                    &format!("实验 {} 还没完成：", lab.id)
                )
            );
            for w in wrong {
                println!("    - {w}");
            }
        }
    }
    let _ = progress.save();
    Ok(all_ok)
}

/// Show the next hint (or hint `n` when given) and say how many remain.
pub fn hint(runner: &Runner, key: &str, n: Option<usize>) -> Result<()> {
    let lab = at_registry(runner, catalog::lab(key)?)?;
    let lang = runner.lang;
    let total = lab.hints.len();
    let mut progress = Progress::load();
    let seen = progress.hints.get(&lab.id).copied().unwrap_or(0);
    let which = n.unwrap_or(seen + 1).max(1);
    match lab.hints.get(which - 1) {
        Some(h) => {
            println!(
                "{} {which}/{total}: {}",
                lang.pick("hint", "提示"),
                h.get(lang).trim()
            );
            let left = total - which;
            let more = if left > 0 {
                lang.pick(
                    &format!("({left} more: glassbox lab hint {})", lab.id),
                    &format!("（还有 {left} 条：glassbox lab hint {}）", lab.id),
                )
                .to_string()
            } else {
                lang.pick(
                    &format!(
                        "(that was the last hint; a solution: glassbox lab solve {})",
                        lab.id
                    ),
                    &format!(
                        "（这是最后一条提示；看解法：glassbox lab solve {}）",
                        lab.id
                    ),
                )
                .to_string()
            };
            println!("{}", more.dimmed());
            progress.hints.insert(lab.id.clone(), which.max(seen));
            let _ = progress.save();
        }
        None => println!(
            "{}",
            lang.pick(
                &format!(
                    "No more hints (there are {total}); a solution: glassbox lab solve {}",
                    lab.id
                ),
                &format!(
                    "没有更多提示了（一共 {total} 条）；看解法：glassbox lab solve {}",
                    lab.id
                ),
            )
        ),
    }
    Ok(())
}

/// Show a solution as glassbox commands (the learner runs them, or not).
pub fn show_solution(runner: &Runner, key: &str) -> Result<()> {
    let lab = at_registry(runner, catalog::lab(key)?)?;
    println!("{}", runner.lang.pick("A solution:", "一种解法："));
    for s in &lab.solution {
        // A here-document's lines stay unindented, so the whole pastes into a shell.
        let (first, rest) = s.split_once('\n').unwrap_or((s.as_str(), ""));
        println!("    glassbox {first}");
        for line in rest.lines() {
            println!("{line}");
        }
    }
    Ok(())
}

/// Remove what the lab makes, so it can be taken again.
pub fn reset_lab(runner: &Runner, lab: &Lab) -> Result<()> {
    if lab.registry.is_some() {
        super::registry::stop_for_lab(runner);
    }
    for name in &lab.cleanup_containers {
        let _ = runner.run(&format!("rm -f {name}"), &[], None, true, false);
    }
    for name in &lab.cleanup_images {
        let _ = runner.run(&format!("rmi -f {name}"), &[], None, true, false);
    }
    for name in &lab.cleanup_networks {
        let _ = runner.run(&format!("network rm {name}"), &[], None, true, false);
    }
    Ok(())
}

pub fn reset(runner: &Runner, key: &str) -> Result<()> {
    let lab = at_registry(runner, catalog::lab(key)?)?;
    reset_lab(runner, &lab)?;
    let mut progress = Progress::load();
    progress.labs.remove(&lab.id);
    progress.hints.remove(&lab.id);
    progress.save()
}

/// Run a lab's solution (tests use it to prove the lab can be solved).
pub fn solve(runner: &Runner, key: &str) -> Result<()> {
    let lab = at_registry(runner, catalog::lab(key)?)?;
    for cmd in &lab.solution {
        runner.run(cmd, &[], None, true, false)?;
    }
    Ok(())
}
