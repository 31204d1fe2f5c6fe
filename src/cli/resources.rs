//! The resource flags shared by `run`/`create` and `update`, and the
//! `update`, `pause` and `unpause` commands.

use super::GlobalOptions;
use crate::engine;
use crate::resources::ResourceFlags;
use anyhow::Result;
use clap::Args;

/// Limits `run`, `create` and `update` take, in docker's units.
#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Memory limit (e.g. 64m, 1.5g, 512k)
    #[arg(short = 'm', long = "memory", value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap (default: twice --memory)
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit (no longer supported; refused)
    #[arg(long = "kernel-memory", value_name = "BYTES", hide = true)]
    pub kernel_memory: Option<String>,
    /// Number of CPUs (e.g. 0.5, 1.5)
    #[arg(long = "cpus", value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight; 1024 is a normal share)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "INT",
        allow_hyphen_values = true
    )]
    pub cpu_shares: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period, in microseconds
    #[arg(long = "cpu-period", value_name = "INT", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota, in microseconds
    #[arg(long = "cpu-quota", value_name = "INT", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "INT", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Block IO (relative weight), between 10 and 1000
    #[arg(long = "blkio-weight", value_name = "UINT16")]
    pub blkio_weight: Option<String>,
}

impl LimitArgs {
    pub fn flags(self) -> ResourceFlags {
        ResourceFlags {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            kernel_memory: self.kernel_memory,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
            ..Default::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Each container in turn; an error is printed and the others still done.
/// The status is 125 when one failed for glassbox's own reason (a bad
/// value), else 1 (docker's daemon errors), else 0.
fn each(g: &GlobalOptions, keys: &[String], mut f: impl FnMut(&str) -> Result<()>) -> i32 {
    let mut status = 0;
    for key in keys {
        if let Err(e) = f(key) {
            eprintln!(
                "Error: {}",
                crate::error::localize(&format!("{e:#}"), g.lang())
            );
            let code = crate::error::exit_code_of(&e);
            status = if code == crate::error::EXIT_ENGINE || status == crate::error::EXIT_ENGINE {
                crate::error::EXIT_ENGINE
            } else {
                1
            };
        }
    }
    status
}

pub fn update(g: &GlobalOptions, args: UpdateArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let opts = engine::UpdateOptions {
        resources: args.limits.flags(),
        restart: args.restart,
    };
    Ok(each(g, &args.containers, |key| {
        for w in engine::update(&root, kernel.as_mut(), &mut narrator, key, &opts)? {
            eprintln!("WARNING: {w}");
        }
        println!("{key}");
        Ok(())
    }))
}

pub fn pause(g: &GlobalOptions, args: PauseArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    Ok(each(g, &args.containers, |key| {
        engine::pause(&root, kernel.as_mut(), &mut narrator, key)?;
        println!("{key}");
        Ok(())
    }))
}

pub fn unpause(g: &GlobalOptions, args: PauseArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    Ok(each(g, &args.containers, |key| {
        engine::unpause(&root, kernel.as_mut(), &mut narrator, key)?;
        println!("{key}");
        Ok(())
    }))
}
