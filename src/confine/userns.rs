//! `--userns=auto`: the container gets its own user namespace in which its
//! root (uid and gid 0 … size-1) is an unprivileged range of host ids, as
//! podman's `--userns=auto` and docker's `userns-remap` give it.
//!
//! Each container's range is chosen when it is created, under the store
//! lock, so no two containers of a store share host ids: the first free
//! block of `SIZE` ids from `BASE` up (the host's `/etc/subuid` and
//! `/etc/subgid` name no range for glassbox; podman's default base is the
//! same 100000). The image's layers are not copied or chowned: the parent
//! hands the child *idmapped* mounts of them (`mount_setattr(2)`,
//! `MOUNT_ATTR_IDMAP`), in which host uid 0 appears as the range's first id.

use serde::{Deserialize, Serialize};

/// The first host id handed out, and the size of each container's range.
pub const BASE: u32 = 100_000;
pub const SIZE: u32 = 65_536;

/// The most lines the kernel takes in one uid_map or gid_map (Linux 4.15+).
pub const MAX_RANGES: usize = 340;

/// The id the kernel shows for one a namespace does not map (overflowuid).
pub const UNMAPPED: u32 = 65_534;

/// One line of uid_map or gid_map: container ids `container..container+size`
/// are host ids `host..host+size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    fn end(start: u32, size: u32) -> u64 {
        start as u64 + size as u64
    }
    fn overlap(a: u32, b: u32, size_a: u32, size_b: u32) -> bool {
        (a as u64) < Self::end(b, size_b) && (b as u64) < Self::end(a, size_a)
    }
}

impl std::fmt::Display for IdRange {
    /// As config.json and podman's --uidmap write it: CONTAINER:HOST:SIZE.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.container, self.host, self.size)
    }
}

/// The lines of one map file (uid_map or gid_map), in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdRanges(pub Vec<IdRange>);

impl IdRanges {
    /// A container id as the host sees it (None: not mapped).
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.0
            .iter()
            .find(|r| id >= r.container && id - r.container < r.size)
            .map(|r| r.host + (id - r.container))
    }

    /// A host id as the container sees it (None: not mapped, shown as 65534).
    pub fn to_container(&self, host_id: u32) -> Option<u32> {
        self.0
            .iter()
            .find(|r| host_id >= r.host && host_id - r.host < r.size)
            .map(|r| r.container + (host_id - r.host))
    }

    /// What is written to the map file: `CONTAINER HOST SIZE` a line.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
            .collect()
    }

    /// The kernel's own `%10u %10u %10u` lines, as /proc/PID/uid_map reads.
    pub fn proc_text(&self) -> String {
        self.0
            .iter()
            .map(|r| format!("{:>10} {:>10} {:>10}\n", r.container, r.host, r.size))
            .collect()
    }

    /// The lines of a map file as the kernel shows it (/proc/PID/uid_map);
    /// None for a line that is not three numbers.
    pub fn parse(text: &str) -> Option<IdRanges> {
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<u32> = line
                .split_whitespace()
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            match f[..] {
                [container, host, size] => out.push(IdRange {
                    container,
                    host,
                    size,
                }),
                _ => return None,
            }
        }
        Some(IdRanges(out))
    }

    /// What the kernel refuses in one map (user_namespaces(7), map_write):
    /// no lines, more than 340, a size of 0, a range past the last id,
    /// container or host ranges that overlap, a map longer than a page; and
    /// glassbox's own rule: id 0 must be mapped, since the container is set
    /// up by that root (runc refuses the same: "no mapping found for uid 0").
    /// `what` names the list in the message (uidMappings, gidMappings).
    pub fn check(&self, what: &str) -> Result<(), String> {
        let all = &self.0;
        if all.is_empty() {
            return Err(format!("{what} is empty: a user namespace needs at least one range (containerID, hostID, size)"));
        }
        if all.len() > MAX_RANGES {
            return Err(format!(
                "{what} has {} ranges: the kernel takes at most {MAX_RANGES} lines in a map; merge adjacent ranges",
                all.len()
            ));
        }
        for (i, r) in all.iter().enumerate() {
            if r.size == 0 {
                return Err(format!(
                    "{what}[{i}] ({r}) has size 0: give it at least one id or leave it out"
                ));
            }
            if IdRange::end(r.container, r.size) > u32::MAX as u64
                || IdRange::end(r.host, r.size) > u32::MAX as u64
            {
                return Err(format!(
                    "{what}[{i}] ({r}) runs past the last id {}: make it smaller",
                    u32::MAX - 1
                ));
            }
            for (j, o) in all[..i].iter().enumerate() {
                if IdRange::overlap(r.container, o.container, r.size, o.size) {
                    return Err(format!(
                        "{what}[{i}] ({r}) overlaps {what}[{j}] ({o}) in container ids: each container id may be mapped once"
                    ));
                }
                if IdRange::overlap(r.host, o.host, r.size, o.size) {
                    return Err(format!(
                        "{what}[{i}] ({r}) overlaps {what}[{j}] ({o}) in host ids: each host id may be mapped once"
                    ));
                }
            }
        }
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as usize,
            _ => 4096,
        };
        if self.text().len() >= page {
            return Err(format!(
                "{what} is {} bytes written out: the kernel takes a map in one write shorter than a page ({page} bytes); use fewer ranges",
                self.text().len()
            ));
        }
        if self.to_host(0).is_none() {
            return Err(format!(
                "{what} maps no container id 0 ({}): the container is set up by its root; add a range from containerID 0",
                self.0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",")
            ));
        }
        Ok(())
    }
}

/// A user namespace's id maps: the lines of its uid_map and of its gid_map,
/// each checked as the kernel checks it and mapping id 0 (`IdMap::new`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IdMapRecord")]
pub struct IdMap {
    uids: IdRanges,
    gids: IdRanges,
}

/// A recorded map: this form, or the one range of records made before
/// several ranges were possible (`{"host": N, "size": S}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum IdMapRecord {
    Ranges { uids: IdRanges, gids: IdRanges },
    OneRange { host: u32, size: u32 },
}

impl TryFrom<IdMapRecord> for IdMap {
    type Error = String;
    fn try_from(r: IdMapRecord) -> Result<IdMap, String> {
        match r {
            IdMapRecord::Ranges { uids, gids } => IdMap::new(uids, gids),
            IdMapRecord::OneRange { host, size } => Ok(IdMap::one_range(host, size)),
        }
    }
}

impl IdMap {
    /// Checked maps for users and groups (`IdRanges::check`).
    pub fn new(uids: IdRanges, gids: IdRanges) -> Result<IdMap, String> {
        uids.check("uidMappings")?;
        gids.check("gidMappings")?;
        Ok(IdMap { uids, gids })
    }

    /// glassbox's own map (`--userns=auto`): container ids 0..size are host
    /// ids host..host+size, for users and groups alike.
    pub fn one_range(host: u32, size: u32) -> IdMap {
        let r = IdRanges(vec![IdRange {
            container: 0,
            host,
            size: size.max(1),
        }]);
        IdMap {
            uids: r.clone(),
            gids: r,
        }
    }

    pub fn uids(&self) -> &IdRanges {
        &self.uids
    }
    pub fn gids(&self) -> &IdRanges {
        &self.gids
    }

    /// The container's root as a host uid and gid (`new` made sure both map).
    pub fn root(&self) -> (u32, u32) {
        (
            self.uids.to_host(0).unwrap_or(UNMAPPED),
            self.gids.to_host(0).unwrap_or(UNMAPPED),
        )
    }

    /// The end of a range of this map (uid or gid) that holds host ids in
    /// host..host+size, if one does.
    fn overlap_end(&self, host: u32, size: u32) -> Option<u64> {
        self.uids
            .0
            .iter()
            .chain(&self.gids.0)
            .find(|r| IdRange::overlap(r.host, host, r.size, size))
            .map(|r| IdRange::end(r.host, r.size))
    }
}

/// What `--userns` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UsernsMode {
    /// The host's user namespace (the default, as docker's).
    #[default]
    Host,
    /// A new user namespace with a free range of host ids.
    Auto,
}

impl UsernsMode {
    pub fn parse(text: &str) -> Result<UsernsMode, String> {
        match text {
            "" | "host" => Ok(UsernsMode::Host),
            "auto" => Ok(UsernsMode::Auto),
            other => Err(format!(
                "invalid --userns {other:?}: use host (the host's user namespace) or auto (a user namespace of its own, root mapped to an unprivileged range of host ids)"
            )),
        }
    }
}

/// The first block of `SIZE` host ids from `BASE` that no map in `taken`
/// overlaps (in any of its uid or gid ranges).
pub fn allocate(taken: &[IdMap]) -> Result<IdMap, String> {
    let mut host = BASE as u64;
    loop {
        if host + SIZE as u64 > u32::MAX as u64 {
            return Err("no free range of host ids is left for a user namespace: remove containers made with --userns=auto".into());
        }
        match taken.iter().find_map(|m| m.overlap_end(host as u32, SIZE)) {
            Some(end) => host = end,
            None => return Ok(IdMap::one_range(host as u32, SIZE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(container: u32, host: u32, size: u32) -> IdRange {
        IdRange {
            container,
            host,
            size,
        }
    }

    #[test]
    fn ranges_never_overlap() {
        let a = allocate(&[]).unwrap();
        assert_eq!(a, IdMap::one_range(BASE, SIZE));
        let b = allocate(std::slice::from_ref(&a)).unwrap();
        assert_eq!(b.root(), (BASE + SIZE, BASE + SIZE));
        // A hole left by a removed container is reused.
        let c = allocate(std::slice::from_ref(&b)).unwrap();
        assert_eq!(c.root().0, BASE);
        let odd = IdMap::one_range(BASE + 10, 5);
        assert_eq!(allocate(&[odd]).unwrap().root().0, BASE + 15);
        // A gid range counts as much as a uid range.
        let gids_only = IdMap::new(
            IdRanges(vec![r(0, 1_000, 1)]),
            IdRanges(vec![r(0, 1_000, 1), r(1, BASE + 100, 10)]),
        )
        .unwrap();
        assert_eq!(allocate(&[gids_only]).unwrap().root().0, BASE + 110);
    }

    #[test]
    fn ids_translate_back_to_the_container() {
        let m = IdMap::one_range(100_000, 65_536);
        assert_eq!(m.uids().to_container(100_000), Some(0));
        assert_eq!(m.gids().to_container(100_033), Some(33));
        assert_eq!(m.uids().to_container(0), None);
        assert_eq!(m.uids().to_container(165_536), None);
        assert_eq!(m.uids().text(), "0 100000 65536\n");
        assert!(UsernsMode::parse("keep-id").is_err());
    }

    /// podman's --uidmap 0:100000:1000 --uidmap 1000:1000:1
    /// --uidmap 1001:101001:64535, with other gids.
    #[test]
    fn several_ranges_translate_both_ways() {
        let uids = IdRanges(vec![
            r(0, 100_000, 1000),
            r(1000, 1000, 1),
            r(1001, 101_001, 64_535),
        ]);
        let gids = IdRanges(vec![r(0, 200_000, 10), r(10, 300_000, 5)]);
        let m = IdMap::new(uids, gids).unwrap();
        assert_eq!(m.root(), (100_000, 200_000));
        for (container, host) in [
            (0, 100_000),
            (999, 100_999),
            (1000, 1000),
            (1001, 101_001),
            (65_535, 165_535),
        ] {
            assert_eq!(m.uids().to_host(container), Some(host), "uid {container}");
            assert_eq!(
                m.uids().to_container(host),
                Some(container),
                "host uid {host}"
            );
        }
        assert_eq!(m.uids().to_host(65_536), None);
        assert_eq!(m.uids().to_container(101_000), None);
        assert_eq!(m.uids().to_container(999), None);
        assert_eq!(m.gids().to_host(12), Some(300_002));
        assert_eq!(m.gids().to_container(300_004), Some(14));
        assert_eq!(m.gids().to_host(15), None);
        assert_eq!(m.gids().to_container(100_000), None);
        assert_eq!(
            m.uids().text(),
            "0 100000 1000\n1000 1000 1\n1001 101001 64535\n"
        );
        assert_eq!(
            m.gids().proc_text(),
            "         0     200000         10\n        10     300000          5\n"
        );
        assert_eq!(
            IdRanges::parse(&m.gids().proc_text()).as_ref(),
            Some(m.gids())
        );
        assert_eq!(IdRanges::parse("0 1 2 3\n"), None);
        assert_eq!(IdRanges::parse(""), Some(IdRanges::default()));
    }

    /// Each refusal names the entry and says what to do.
    #[test]
    fn maps_the_kernel_refuses_are_named() {
        let err =
            |u: Vec<IdRange>| IdMap::new(IdRanges(u), IdRanges(vec![r(0, 5, 1)])).unwrap_err();
        let e = err(vec![]);
        assert!(e.contains("uidMappings is empty"), "{e}");
        let e = err(vec![r(0, 100, 10), r(10, 200, 0)]);
        assert!(e.contains("uidMappings[1] (10:200:0) has size 0"), "{e}");
        let e = err(vec![r(0, 100, 10), r(5, 200, 10)]);
        assert!(
            e.contains(
                "uidMappings[1] (5:200:10) overlaps uidMappings[0] (0:100:10) in container ids"
            ),
            "{e}"
        );
        let e = err(vec![r(0, 100, 10), r(10, 109, 1)]);
        assert!(
            e.contains("uidMappings[1] (10:109:1) overlaps uidMappings[0] (0:100:10) in host ids"),
            "{e}"
        );
        let e = err(vec![r(0, u32::MAX - 1, 2)]);
        assert!(
            e.contains("uidMappings[0]") && e.contains("runs past the last id"),
            "{e}"
        );
        let e = err((0..341).map(|i| r(i, 1000 + i, 1)).collect());
        assert!(e.contains("341 ranges") && e.contains("at most 340"), "{e}");
        let e = err(vec![r(1, 100, 10)]);
        assert!(e.contains("maps no container id 0 (1:100:10)"), "{e}");
        // The gid list is checked as well, named as such.
        let e = IdMap::new(IdRanges(vec![r(0, 5, 1)]), IdRanges(vec![r(1, 5, 1)])).unwrap_err();
        assert!(e.starts_with("gidMappings maps no container id 0"), "{e}");
        // 340 short lines fit in a page; the largest whole-range map is fine.
        assert!(IdMap::new(
            IdRanges((0..340).map(|i| r(i, 1000 + i, 1)).collect()),
            IdRanges(vec![r(0, 0, u32::MAX)])
        )
        .is_ok());
        // 340 long lines do not (the kernel takes one write under a page).
        let long: Vec<IdRange> = std::iter::once(r(0, 1, 1))
            .chain((1..340).map(|i| r(i * 1_000_000, 4_000_000_000 - i * 1_000_000, 1)))
            .collect();
        let e = err(long);
        assert!(e.contains("one write shorter than a page"), "{e}");
    }

    /// Records made before several ranges ({"host", "size"}) still read.
    #[test]
    fn old_records_read_as_one_range() {
        let old: IdMap = serde_json::from_str(r#"{"host":100000,"size":65536}"#).unwrap();
        assert_eq!(old, IdMap::one_range(100_000, 65_536));
        let m = IdMap::new(IdRanges(vec![r(0, 7, 3)]), IdRanges(vec![r(0, 9, 1)])).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<IdMap>(&json).unwrap(), m);
        // A record the kernel would refuse is an error, not a map.
        assert!(serde_json::from_str::<IdMap>(r#"{"uids":[],"gids":[]}"#).is_err());
    }
}
