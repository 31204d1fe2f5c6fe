//! ash's `ulimit` builtin over the simulated process's resource limits
//! (`kernel::sim::rlimits`): shows them as busybox does, and lowers them
//! (raising a hard limit needs CAP_SYS_RESOURCE, which a container's root
//! lacks by default: "Operation not permitted").

use super::exec::Sh;
use super::world::Proc;
use super::Flow;
use crate::kernel::sim::rlimits::{self, Rlimit, INFINITY, ULIMIT_OPTS};

impl Sh {
    /// The limits this shell lives under: set by its own `ulimit`s, else
    /// the container's.
    fn rlimit_table(&self, p: &Proc) -> Vec<Rlimit> {
        match &self.rlimits {
            Some(t) => t.clone(),
            None if !p.world().cg.rlimits.is_empty() => p.world().cg.rlimits.clone(),
            None => rlimits::table(&[]),
        }
    }

    pub(super) fn ulimit(&mut self, p: &mut Proc, args: &[String]) -> Result<i32, Flow> {
        let (mut hard, mut soft, mut all) = (false, false, false);
        let mut wanted: Vec<(char, Option<String>)> = Vec::new();
        for a in args {
            if a.len() > 1 && a.starts_with('-') {
                for c in a[1..].chars() {
                    match c {
                        'H' => hard = true,
                        'S' => soft = true,
                        'a' => all = true,
                        c if ULIMIT_OPTS.iter().any(|o| o.0 == c) => wanted.push((c, None)),
                        c => {
                            p.err(format!("ulimit: invalid option -- '{c}'\n"))?;
                            return Ok(1);
                        }
                    }
                }
            } else {
                match wanted.last_mut() {
                    Some(last) if last.1.is_none() => last.1 = Some(a.clone()),
                    _ => wanted.push(('f', Some(a.clone()))),
                }
            }
        }
        let mut table = self.rlimit_table(p);
        let show = |l: &Rlimit, unit: u64, hard: bool| {
            let v = if hard { l.hard } else { l.soft };
            if v == INFINITY {
                "unlimited".to_string()
            } else {
                (v / unit).to_string()
            }
        };
        let find = |table: &[Rlimit], name: &str| table.iter().position(|l| l.name == name);
        if all {
            let mut out = String::new();
            for (c, label, name, unit) in ULIMIT_OPTS {
                if let Some(i) = find(&table, name) {
                    out.push_str(&format!(
                        "{label:<32}(-{c}) {}\n",
                        show(&table[i], *unit, hard)
                    ));
                }
            }
            p.out(out)?;
            return Ok(0);
        }
        if wanted.is_empty() {
            wanted.push(('f', None));
        }
        let many = wanted.len() > 1;
        for (c, value) in &wanted {
            let Some((_, label, name, unit)) = ULIMIT_OPTS.iter().find(|o| o.0 == *c) else {
                continue;
            };
            let Some(i) = find(&table, name) else {
                continue;
            };
            let Some(v) = value else {
                let text = show(&table[i], *unit, hard);
                p.out(if many {
                    format!("{label:<32}(-{c}) {text}\n")
                } else {
                    format!("{text}\n")
                })?;
                continue;
            };
            let new = if v == "unlimited" {
                INFINITY
            } else {
                match v.parse::<u64>() {
                    Ok(n) => n.saturating_mul(*unit),
                    Err(_) => {
                        let m = format!("{}invalid number '{v}'\n", self.prefix());
                        p.err(m)?;
                        return Ok(1);
                    }
                }
            };
            let (set_hard, set_soft) = if hard || soft {
                (hard, soft)
            } else {
                (true, true)
            };
            let mut l = table[i];
            if set_hard {
                l.hard = new;
            }
            if set_soft {
                l.soft = new;
            }
            let problem = if l.hard > table[i].hard {
                Some("Operation not permitted")
            } else if l.soft > l.hard {
                Some("Invalid argument")
            } else {
                None
            };
            if let Some(why) = problem {
                let m = format!("{}error setting limit: {why}\n", self.prefix());
                p.err(m)?;
                return Ok(1);
            }
            table[i] = l;
        }
        self.rlimits = Some(table);
        Ok(0)
    }
}
