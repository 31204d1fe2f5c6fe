//! The simulated host's nftables: the very scripts glassbox hands to
//! `nft -f -` (see `engine::network`), applied to a model of its tables as
//! one transaction, listed in `nft -j -a` JSON shape (what the engine reads
//! back) and `nft -a list table` text, and asked which DNAT rule a packet
//! meets and whether forwarding drops it. It understands the statements
//! glassbox writes (table blocks with sets and base chains, `add/delete
//! element`, `add rule`, `delete rule ... handle N`); anything else is
//! refused as `nft` refuses a script it cannot parse.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Chain {
    pub name: String,
    pub handle: u64,
    /// `type nat hook prerouting priority dstnat; policy accept;` (base chains).
    #[serde(default)]
    pub base: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    pub chain: String,
    pub handle: u64,
    /// The rule as written, without its comment.
    pub expr: String,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub name: String,
    /// Sets by name: their elements (a set `{ type ifname; }`).
    pub sets: BTreeMap<String, Vec<String>>,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
    /// The last handle given (nft numbers chains, sets and rules of a table together).
    pub last_handle: u64,
}

/// Every table of the simulated host, by name (family ip only: glassbox's).
pub type Tables = BTreeMap<String, Table>;

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// Split `expr comment "c"` into the expression and its comment.
fn split_comment(rule: &str) -> (String, Option<String>) {
    match rule.find(" comment ") {
        Some(i) => (rule[..i].trim().to_string(), Some(unquote(&rule[i + 9..]))),
        None => (rule.trim().to_string(), None),
    }
}

impl Table {
    fn next(&mut self) -> u64 {
        self.last_handle += 1;
        self.last_handle
    }
    fn add_rule(&mut self, chain: &str, rule: &str) -> Result<()> {
        if !self.chains.iter().any(|c| c.name == chain) {
            bail!("Error: No such file or directory; did you mean chain in table ip {}? (chain {chain})", self.name);
        }
        let (expr, comment) = split_comment(rule);
        let handle = self.next();
        self.rules.push(Rule {
            chain: chain.to_string(),
            handle,
            expr,
            comment,
        });
        Ok(())
    }
}

/// Apply `script` to `tables` as one transaction: all of it or nothing.
pub fn apply(tables: &mut Tables, script: &str) -> Result<()> {
    let mut work = tables.clone();
    let mut lines = script.lines().map(str::trim).filter(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", "ip", name, "{"] => {
                let t = work.entry(name.to_string()).or_insert_with(|| Table {
                    name: name.to_string(),
                    ..Default::default()
                });
                for inner in lines.by_ref() {
                    if inner == "}" {
                        break;
                    }
                    table_item(t, inner).with_context(|| format!("nft: in {line:?}: {inner:?}"))?;
                }
            }
            ["add", "element", "ip", table, set, ..]
            | ["delete", "element", "ip", table, set, ..] => {
                let t = work.get_mut(*table).with_context(|| {
                    format!("Error: No such file or directory (table ip {table})")
                })?;
                let elems = line
                    .split_once('{')
                    .and_then(|(_, r)| r.rsplit_once('}'))
                    .map(|(e, _)| e)
                    .with_context(|| format!("nft: syntax error: {line}"))?;
                let set = t
                    .sets
                    .get_mut(*set)
                    .with_context(|| format!("Error: No such file or directory (set {set})"))?;
                for e in elems.split(',').map(unquote).filter(|e| !e.is_empty()) {
                    if words[0] == "add" {
                        if !set.contains(&e) {
                            set.push(e);
                        }
                    } else if let Some(i) = set.iter().position(|x| *x == e) {
                        set.remove(i);
                    } else {
                        bail!("Error: Could not process rule: No such file or directory (element {e})");
                    }
                }
            }
            ["add", "rule", "ip", table, chain, ..] => {
                let t = work.get_mut(*table).with_context(|| {
                    format!("Error: No such file or directory (table ip {table})")
                })?;
                let rest = line.splitn(6, ' ').nth(5).unwrap_or_default();
                t.add_rule(chain, rest)?;
            }
            ["delete", "rule", "ip", table, chain, "handle", handle] => {
                let t = work.get_mut(*table).with_context(|| {
                    format!("Error: No such file or directory (table ip {table})")
                })?;
                let h: u64 = handle
                    .parse()
                    .with_context(|| format!("nft: bad handle {handle}"))?;
                let i = t
                    .rules
                    .iter()
                    .position(|r| r.chain == *chain && r.handle == h)
                    .with_context(|| format!("Error: Could not process rule: No such file or directory (rule handle {h})"))?;
                t.rules.remove(i);
            }
            ["delete", "table", "ip", table] => {
                work.remove(*table).with_context(|| {
                    format!("Error: No such file or directory (table ip {table})")
                })?;
            }
            _ => bail!("nft: syntax error, the simulated nft does not know {line:?}"),
        }
    }
    *tables = work;
    Ok(())
}

/// One line inside a `table ip T { ... }` block: a set or a chain.
fn table_item(t: &mut Table, line: &str) -> Result<()> {
    let (head, body) = line
        .split_once('{')
        .map(|(h, b)| (h.trim(), b.trim().trim_end_matches('}').trim()))
        .context("syntax error")?;
    let words: Vec<&str> = head.split_whitespace().collect();
    match words.as_slice() {
        ["set", name] => {
            if !t.sets.contains_key(*name) {
                t.next();
                t.sets.insert(name.to_string(), Vec::new());
            }
        }
        ["chain", name] => {
            let mut base = Vec::new();
            let mut rules = Vec::new();
            for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                if part.starts_with("type ") || part.starts_with("policy ") {
                    base.push(format!("{part};"));
                } else {
                    rules.push(part.to_string());
                }
            }
            if !t.chains.iter().any(|c| c.name == *name) {
                let handle = t.next();
                t.chains.push(Chain {
                    name: name.to_string(),
                    handle,
                    base: (!base.is_empty()).then(|| base.join(" ")),
                });
            }
            for r in rules {
                t.add_rule(name, &r)?;
            }
        }
        _ => bail!("unknown item"),
    }
    Ok(())
}

/// The table as `nft -j -a list table ip NAME` prints it (the fields the
/// engine reads: sets with their elements, rules with chain, handle, comment).
pub fn json(t: &Table) -> serde_json::Value {
    let mut items =
        vec![serde_json::json!({"table": {"family": "ip", "name": t.name, "handle": 1}})];
    for c in &t.chains {
        items.push(serde_json::json!({"chain": {"family": "ip", "table": t.name, "name": c.name, "handle": c.handle}}));
    }
    for (name, elems) in &t.sets {
        let mut set =
            serde_json::json!({"family": "ip", "name": name, "table": t.name, "type": "ifname"});
        if !elems.is_empty() {
            set["elem"] = serde_json::json!(elems);
        }
        items.push(serde_json::json!({ "set": set }));
    }
    for r in &t.rules {
        let mut rule = serde_json::json!({"family": "ip", "table": t.name, "chain": r.chain, "handle": r.handle});
        if let Some(c) = &r.comment {
            rule["comment"] = serde_json::json!(c);
        }
        items.push(serde_json::json!({ "rule": rule }));
    }
    serde_json::json!({ "nftables": items })
}

/// The table as `nft -a list table ip NAME` prints it.
pub fn text(t: &Table) -> String {
    let mut s = format!("table ip {} {{ # handle 1\n", t.name);
    for (name, elems) in &t.sets {
        s += &format!("\tset {name} {{\n\t\ttype ifname\n");
        if !elems.is_empty() {
            let q: Vec<String> = elems.iter().map(|e| format!("\"{e}\"")).collect();
            s += &format!("\t\telements = {{ {} }}\n", q.join(", "));
        }
        s += "\t}\n\n";
    }
    for (i, c) in t.chains.iter().enumerate() {
        s += &format!("\tchain {} {{ # handle {}\n", c.name, c.handle);
        if let Some(b) = &c.base {
            s += &format!("\t\t{b}\n");
        }
        for r in t.rules.iter().filter(|r| r.chain == c.name) {
            let comment = r
                .comment
                .as_ref()
                .map(|c| format!(" comment \"{c}\""))
                .unwrap_or_default();
            s += &format!("\t\t{}{comment} # handle {}\n", r.expr, r.handle);
        }
        s += "\t}\n";
        if i + 1 < t.chains.len() {
            s += "\n";
        }
    }
    s + "}\n"
}

/// The protocol of a connection or datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The `ports` chain's DNAT for a packet to a local address `daddr:dport`:
/// the rule `[ip daddr A] PROTO dport N dnat to IP:PORT` it meets first.
pub fn dnat(t: &Table, daddr: Ipv4Addr, proto: Proto, dport: u16) -> Option<(Ipv4Addr, u16)> {
    t.rules.iter().filter(|r| r.chain == "ports").find_map(|r| {
        let w: Vec<&str> = r.expr.split_whitespace().collect();
        let mut i = 0;
        if w.first() == Some(&"ip") && w.get(1) == Some(&"daddr") {
            if w.get(2)?.parse::<Ipv4Addr>().ok()? != daddr {
                return None;
            }
            i = 3;
        }
        if w.get(i) != Some(&proto.as_str()) || w.get(i + 1) != Some(&"dport") {
            return None;
        }
        if w.get(i + 2)?.parse::<u16>().ok()? != dport || w.get(i + 3) != Some(&"dnat") {
            return None;
        }
        let (ip, port) = w.get(i + 5)?.split_once(':')?;
        Some((ip.parse().ok()?, port.parse().ok()?))
    })
}

/// Whether the `forward` chain drops a packet from bridge `iif` to `oif`
/// (the isolation and --internal rules glassbox writes: `iifname`/`oifname`
/// matches, `@set` and `!=`, then `drop`).
pub fn forward_drops(t: &Table, iif: &str, oif: &str) -> bool {
    t.rules.iter().filter(|r| r.chain == "forward").any(|r| {
        let w: Vec<&str> = r.expr.split_whitespace().collect();
        if w.last() != Some(&"drop") {
            return false;
        }
        let mut i = 0;
        while i + 1 < w.len() - 1 {
            let dev = match w[i] {
                "iifname" => iif,
                "oifname" => oif,
                _ => return false,
            };
            let (neg, value) = if w[i + 1] == "!=" {
                (true, w.get(i + 2).copied().unwrap_or_default())
            } else {
                (false, w[i + 1])
            };
            let hit = match value.strip_prefix('@') {
                Some(set) => t.sets.get(set).is_some_and(|s| s.iter().any(|e| e == dev)),
                None => unquote(value) == dev,
            };
            if hit == neg {
                return false;
            }
            i += if neg { 3 } else { 2 };
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "table ip gbt {\n\tset bridges { type ifname; }\n\tchain ports { }\n\tchain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }\n\tchain forward { type filter hook forward priority filter; policy accept; }\n}\n";

    #[test]
    fn rules_added_listed_and_deleted_by_handle() {
        let mut t = Tables::new();
        apply(&mut t, TABLE).unwrap();
        apply(&mut t, "add element ip gbt bridges { \"gb-a\" }\nadd element ip gbt bridges { \"gb-b\" }\nadd rule ip gbt forward iifname \"gb-a\" oifname @bridges oifname != \"gb-a\" drop comment \"n:a\"\n").unwrap();
        apply(&mut t, "add rule ip gbt ports ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.1.0.2:80 comment \"c:x\"\n").unwrap();
        let tab = &t["gbt"];
        assert_eq!(
            dnat(tab, "127.0.0.1".parse().unwrap(), Proto::Tcp, 18080),
            Some(("10.1.0.2".parse().unwrap(), 80))
        );
        assert_eq!(
            dnat(tab, "10.0.0.1".parse().unwrap(), Proto::Tcp, 18080),
            None
        );
        assert_eq!(
            dnat(tab, "127.0.0.1".parse().unwrap(), Proto::Udp, 18080),
            None
        );
        assert!(forward_drops(tab, "gb-a", "gb-b"));
        assert!(!forward_drops(tab, "gb-a", "gb-a"));
        assert!(!forward_drops(tab, "gb-b", "gb-a"));
        let listing = json(tab);
        let rules = crate::kernel::linux::nft::rules_with_comment(&listing, "c:x");
        assert_eq!(rules.len(), 1);
        assert!(crate::kernel::linux::nft::set_has(
            &listing, "bridges", "gb-b"
        ));
        let (chain, handle) = &rules[0];
        apply(
            &mut t,
            &format!("delete rule ip gbt {chain} handle {handle}\n"),
        )
        .unwrap();
        assert_eq!(
            dnat(&t["gbt"], "127.0.0.1".parse().unwrap(), Proto::Tcp, 18080),
            None
        );
        // A failing script changes nothing.
        let before = t.clone();
        assert!(apply(
            &mut t,
            "add element ip gbt bridges { \"gb-c\" }\ndelete rule ip gbt ports handle 999\n"
        )
        .is_err());
        assert_eq!(t, before);
    }
}
