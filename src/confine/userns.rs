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

/// One container's id map: container ids 0..size are host ids host..host+size,
/// for users and groups alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// The line written to /proc/PID/uid_map and gid_map.
    pub fn line(&self) -> String {
        format!("0 {} {}", self.host, self.size)
    }

    /// A host id as the container sees it (None: not mapped, shown as 65534).
    pub fn to_container(&self, host_id: u32) -> Option<u32> {
        (host_id >= self.host && host_id - self.host < self.size).then(|| host_id - self.host)
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
/// overlaps.
pub fn allocate(taken: &[IdMap]) -> Result<IdMap, String> {
    let mut host = BASE;
    loop {
        let end = host as u64 + SIZE as u64;
        if end > u32::MAX as u64 {
            return Err("no free range of host ids is left for a user namespace: remove containers made with --userns=auto".into());
        }
        let overlapping = taken
            .iter()
            .find(|m| (m.host as u64) < end && (host as u64) < m.host as u64 + m.size as u64);
        match overlapping {
            Some(m) => host = m.host + m.size,
            None => return Ok(IdMap { host, size: SIZE }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_overlap() {
        let a = allocate(&[]).unwrap();
        assert_eq!(
            a,
            IdMap {
                host: BASE,
                size: SIZE
            }
        );
        let b = allocate(&[a]).unwrap();
        assert_eq!(b.host, BASE + SIZE);
        // A hole left by a removed container is reused.
        let c = allocate(&[b]).unwrap();
        assert_eq!(c.host, BASE);
        let odd = IdMap {
            host: BASE + 10,
            size: 5,
        };
        assert_eq!(allocate(&[odd]).unwrap().host, BASE + 15);
    }

    #[test]
    fn ids_translate_back_to_the_container() {
        let m = IdMap {
            host: 100_000,
            size: 65_536,
        };
        assert_eq!(m.to_container(100_000), Some(0));
        assert_eq!(m.to_container(100_033), Some(33));
        assert_eq!(m.to_container(0), None);
        assert_eq!(m.to_container(165_536), None);
        assert_eq!(m.line(), "0 100000 65536");
        assert!(UsernsMode::parse("keep-id").is_err());
    }
}
