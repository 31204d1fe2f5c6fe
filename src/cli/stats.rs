//! `stats`: docker's table of each container's CPU %, memory, network and
//! block I/O and PIDs, from two samples of its cgroup (and network
//! namespace) counters; streaming (redrawn every second) or `--no-stream`;
//! `--format` with docker's placeholders.

use super::format::{format_table, human_size};
use super::template::Template;
use super::GlobalOptions;
use crate::container::{self, Container};
use crate::engine::manage::{self, Sample};
use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the NET I/O column shows for a container sharing the host's
/// network: its namespace is the host's, so any figure would be the host's.
pub const HOST_NET_IO: &str = "-- (host)";

/// docker's default stats table.
const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

#[derive(Args, Debug)]
#[command(after_help = "\
NET I/O is what the container's own network namespace received / sent on its \
interfaces other than lo (/proc/PID/net/dev), as docker counts it: 0B / 0B \
with --network none. A --network host container has no namespace of its own: \
its column says \"-- (host)\" rather than show the host's figures as its own.

Placeholders for --format: .Container .Name .ID .CPUPerc .MemUsage .MemPerc \
.NetIO .BlockIO .PIDs; \"table\" first for columns with headers, \"json\" for \
one JSON object per container.")]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template ({{.Name}} {{.MemUsage}} ...)
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (name or id); default: all running
    pub containers: Vec<String>,
}

/// go-units BytesSize: binary units, four significant digits (MEM USAGE).
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let int_digits = if value < 1.0 {
        1
    } else {
        (value.log10().floor() as usize) + 1
    };
    let decimals = 4usize.saturating_sub(int_digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// One row of the table: docker's StatsEntry, as the CLI prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The container as the user named it (or its short id when all are listed).
    pub container: String,
    pub id: String,
    pub name: String,
    pub cpu_percent: f64,
    pub mem: u64,
    pub mem_limit: u64,
    pub mem_percent: f64,
    /// None: the host's network (--network host).
    pub net: Option<(u64, u64)>,
    pub block: (u64, u64),
    pub pids: u64,
}

impl Entry {
    /// The figures between two samples `wall` apart (`before`/`now` absent:
    /// not running, all zeros as docker shows a stopped container).
    pub fn new(
        container: String,
        c: &Container,
        span: Option<(&Sample, &Sample, Duration)>,
    ) -> Entry {
        let host_net = c.config.network == "host";
        let mut e = Entry {
            container,
            id: c.id.clone(),
            name: c.name.clone(),
            cpu_percent: 0.0,
            mem: 0,
            mem_limit: 0,
            mem_percent: 0.0,
            net: (!host_net).then_some((0, 0)),
            block: (0, 0),
            pids: 0,
        };
        if let Some((before, now, wall)) = span {
            // docker: cpu delta / system delta × online CPUs, which is the
            // cgroup's CPU time over the wall time between the samples.
            let wall = wall.as_nanos().max(1) as f64;
            e.cpu_percent = now.cpu_ns.saturating_sub(before.cpu_ns) as f64 / wall * 100.0;
            e.mem = now.mem;
            e.mem_limit = now.mem_limit;
            if now.mem_limit > 0 {
                e.mem_percent = now.mem as f64 / now.mem_limit as f64 * 100.0;
            }
            if !host_net {
                e.net = Some((now.net_rx, now.net_tx));
            }
            e.block = (now.block_read, now.block_write);
            e.pids = now.pids;
        }
        e
    }

    /// docker's placeholders, formatted as docker's CLI formats them.
    pub fn fields(&self, trunc: bool) -> Value {
        let pair = |(a, b): (u64, u64)| format!("{} / {}", human_size(a), human_size(b));
        json!({
            "Container": self.container,
            "Name": self.name,
            "ID": if trunc { self.id[..12.min(self.id.len())].to_string() } else { self.id.clone() },
            "CPUPerc": format!("{:.2}%", self.cpu_percent),
            "MemUsage": format!("{} / {}", bytes_size(self.mem), bytes_size(self.mem_limit)),
            "MemPerc": format!("{:.2}%", self.mem_percent),
            "NetIO": self.net.map_or(HOST_NET_IO.to_string(), pair),
            "BlockIO": pair(self.block),
            "PIDs": self.pids.to_string(),
        })
    }
}

/// docker's column titles.
fn header_for(field: &str) -> String {
    match field {
        "Container" => "CONTAINER".into(),
        "Name" => "NAME".into(),
        "ID" => "CONTAINER ID".into(),
        "CPUPerc" => "CPU %".into(),
        "MemUsage" => "MEM USAGE / LIMIT".into(),
        "MemPerc" => "MEM %".into(),
        "NetIO" => "NET I/O".into(),
        "BlockIO" => "BLOCK I/O".into(),
        "PIDs" => "PIDS".into(),
        other => other.to_uppercase(),
    }
}

/// How the rows are printed: a table with headers, or one line per row.
pub struct Layout {
    template: Template,
    table: bool,
}

impl Layout {
    pub fn parse(format: Option<&str>) -> Result<Layout> {
        let format = match format.map(str::trim) {
            None | Some("") | Some("table") => DEFAULT_FORMAT,
            Some("json") => "{{json .}}",
            Some(f) => f,
        };
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, format),
        };
        Ok(Layout {
            template: Template::parse(body)?,
            table,
        })
    }

    pub fn render(&self, entries: &[Entry], trunc: bool) -> Result<String> {
        if !self.table {
            let mut out = String::new();
            for e in entries {
                out.push_str(&self.template.render(&e.fields(trunc))?);
                out.push('\n');
            }
            return Ok(out);
        }
        // Headers: the template rendered over a row of titles.
        let titles: serde_json::Map<String, Value> = self
            .template
            .fields()
            .into_iter()
            .map(|f| {
                let title = header_for(&f);
                (f, Value::String(title))
            })
            .collect();
        let mut rows = vec![split_cells(&self.template.render(&Value::Object(titles))?)];
        for e in entries {
            rows.push(split_cells(&self.template.render(&e.fields(trunc))?));
        }
        Ok(format_table(&rows))
    }
}

fn split_cells(line: &str) -> Vec<String> {
    line.split('\t').map(String::from).collect()
}

/// The containers shown now: the ones named (as they are recorded now;
/// one removed meanwhile drops out), or every running one (all with -a).
fn choose(g: &GlobalOptions, args: &StatsArgs, first: bool) -> Result<Vec<(String, Container)>> {
    let root = g.root();
    if args.containers.is_empty() {
        return Ok(container::list(&root)?
            .into_iter()
            .filter(|c| args.all || c.is_running())
            .map(|c| (c.short_id().to_string(), c))
            .collect());
    }
    let mut out = Vec::new();
    for key in &args.containers {
        match container::find(&root, key) {
            Ok(c) => out.push((key.clone(), c)),
            Err(e) if first => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// A sample of a running container's counters (None when not running),
/// and when it was taken: on the real host by the monotonic clock, in
/// simulation by the simulated clock (which `stats` moves on itself).
fn sample_of(root: &Path, c: &Container, since: Instant) -> Option<(Duration, Sample)> {
    if !c.is_running() {
        return None;
    }
    let at = if c.simulated {
        Duration::from_millis(crate::clock::now_ms())
    } else {
        since.elapsed()
    };
    manage::sample(root, c).ok().map(|s| (at, s))
}

pub fn stats(g: &GlobalOptions, args: StatsArgs) -> Result<i32> {
    let layout = Layout::parse(args.format.as_deref())?;
    let trunc = !args.no_trunc;
    let root = g.root();
    let since = Instant::now();
    // The last sample of each container, and when it was taken.
    let mut last: HashMap<String, (Duration, Sample)> = HashMap::new();
    let mut first = true;
    loop {
        let chosen = choose(g, &args, first)?;
        let mut fresh = false;
        for (_, c) in &chosen {
            if !last.contains_key(&c.id) {
                if let Some(s) = sample_of(&root, c, since) {
                    last.insert(c.id.clone(), s);
                    fresh = true;
                }
            }
        }
        // The first figures after half a second; streaming, every second.
        let pause = if first || fresh {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(1)
        };
        if g.simulated() {
            crate::kernel::sim::host::let_time_pass(&root, pause)?;
        } else {
            std::thread::sleep(pause);
        }
        let mut entries = Vec::new();
        for (shown_as, c) in &chosen {
            let now = sample_of(&root, c, since);
            let entry = match (last.get(&c.id), &now) {
                (Some((t0, before)), Some((t1, after))) => Entry::new(
                    shown_as.clone(),
                    c,
                    Some((before, after, t1.saturating_sub(*t0))),
                ),
                _ => Entry::new(shown_as.clone(), c, None),
            };
            entries.push(entry);
            match now {
                Some(n) => last.insert(c.id.clone(), n),
                None => last.remove(&c.id),
            };
        }
        let text = layout.render(&entries, trunc)?;
        let mut out = std::io::stdout().lock();
        if args.no_stream {
            let _ = out.write_all(text.as_bytes());
            return Ok(0);
        }
        // Streaming: clear the screen and redraw from the top, as docker
        // does, until interrupted (or until nobody reads the output).
        if out
            .write_all(format!("\x1b[2J\x1b[H{text}").as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_like_docker_stats() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1_462_272), "1.395MiB");
        assert_eq!(bytes_size(8_232_000_000), "7.667GiB");
    }

    fn entry(net: Option<(u64, u64)>) -> Entry {
        Entry {
            container: "web".into(),
            id: "0123456789abcdef0123".into(),
            name: "web".into(),
            cpu_percent: 12.3,
            mem: 1_462_272,
            mem_limit: 33_554_432,
            mem_percent: 4.358,
            net,
            block: (4096, 1_230_000),
            pids: 3,
        }
    }

    #[test]
    fn default_table_has_dockers_columns_and_units() {
        let text = Layout::parse(None)
            .unwrap()
            .render(&[entry(Some((648, 0)))], true)
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O     BLOCK I/O        PIDS"
        );
        assert_eq!(
            lines[1],
            "0123456789ab   web       12.30%    1.395MiB / 32MiB    4.36%     648B / 0B   4.1kB / 1.23MB   3"
        );
    }

    #[test]
    fn host_network_says_so_and_templates_use_dockers_placeholders() {
        let layout = Layout::parse(Some("{{.Container}}: {{.NetIO}} {{.PIDs}} {{.ID}}")).unwrap();
        assert_eq!(
            layout.render(&[entry(None)], false).unwrap(),
            "web: -- (host) 3 0123456789abcdef0123\n"
        );
        let table = Layout::parse(Some("table {{.Name}}\t{{.MemPerc}}")).unwrap();
        assert_eq!(
            table.render(&[entry(None)], true).unwrap(),
            "NAME      MEM %\nweb       4.36%\n"
        );
        let json = Layout::parse(Some("json")).unwrap();
        let line = json.render(&[entry(Some((0, 0)))], true).unwrap();
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["NetIO"], "0B / 0B");
        assert_eq!(v["MemUsage"], "1.395MiB / 32MiB");
    }
}
