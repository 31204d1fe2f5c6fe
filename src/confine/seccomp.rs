//! Seccomp profiles in docker's JSON format: load one (docker's default is
//! built in), decide which of its rules apply to this container (its
//! architecture, its capabilities, the kernel version), and compile the
//! result to a classic BPF program with libseccomp, as runc does.
//!
//! Compilation happens in glassbox's own process before clone; the
//! container's first process only hands the finished program to
//! seccomp(2), right before exec.

use super::caps::CapSet;
use serde::Deserialize;

/// docker's default profile (moby/profiles seccomp/default.json).
pub const DOCKER_DEFAULT_JSON: &str = include_str!("docker-default.json");

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    /// The older format: a flat list of architectures.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default)]
    pub names: Vec<String>,
    /// The older format: one name per rule.
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<ArgRule>>,
    #[serde(default)]
    pub includes: Option<Condition>,
    #[serde(default)]
    pub excludes: Option<Condition>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgRule {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// What a rule (or the default) does to a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    fn parse(name: &str, errno: Option<u32>, default_errno: u32) -> Result<Action, String> {
        Ok(match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(default_errno)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(default_errno)),
            other => return Err(format!("unknown seccomp action {other:?}")),
        })
    }
    fn to_libseccomp(self) -> libseccomp::ScmpAction {
        use libseccomp::ScmpAction as A;
        match self {
            Action::Allow => A::Allow,
            Action::Errno(e) => A::Errno(e as i32),
            Action::KillThread => A::KillThread,
            Action::KillProcess => A::KillProcess,
            Action::Trap => A::Trap,
            Action::Log => A::Log,
            Action::Trace(v) => A::Trace(v as u16),
        }
    }
}

/// One system call rule that applies to this container.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    pub args: Vec<ArgRule>,
}

/// A profile decided for one container: what compile() turns into BPF.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    pub default: Action,
    /// libseccomp architecture names (SCMP_ARCH_X86_64, ...).
    pub arches: Vec<String>,
    pub rules: Vec<Rule>,
}

impl Resolved {
    /// The names of the system calls some rule allows (possibly only for
    /// some argument values).
    pub fn allowed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.action == Action::Allow)
            .map(|r| r.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

pub fn parse(json: &str) -> Result<Profile, String> {
    serde_json::from_str(json).map_err(|e| format!("invalid seccomp profile: {e}"))
}

/// The native architecture in the two spellings profiles use: libseccomp's
/// (SCMP_ARCH_X86_64) and Go's (amd64, for `includes.arches`).
pub fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "powerpc64" => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        other => (other, other),
    }
}

/// The running kernel's version as (major, minor).
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    version_of(&release)
}

fn version_of(s: &str) -> (u32, u32) {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Decide which rules apply, as docker's daemon does before handing the
/// profile to runc: includes/excludes on architecture, capabilities and
/// kernel version. `arch` is (libseccomp name, Go name).
pub fn resolve(
    profile: &Profile,
    arch: (&str, &str),
    caps: CapSet,
    kernel: (u32, u32),
) -> Result<Resolved, String> {
    let default_errno = profile.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default = Action::parse(&profile.default_action, None, default_errno)?;
    let mut arches = vec![arch.0.to_string()];
    if let Some(map) = &profile.arch_map {
        if let Some(m) = map.iter().find(|m| m.architecture == arch.0) {
            arches.extend(m.sub_architectures.clone().unwrap_or_default());
        }
    } else if let Some(list) = &profile.architectures {
        arches.extend(list.iter().filter(|a| *a != arch.0).cloned());
    }
    let has_all = |list: &Option<Vec<String>>| {
        list.as_ref()
            .is_none_or(|l| l.iter().all(|c| caps.has_name(&c.to_ascii_uppercase())))
    };
    let mut rules = Vec::new();
    for rule in &profile.syscalls {
        if let Some(inc) = &rule.includes {
            if inc
                .arches
                .as_ref()
                .is_some_and(|a| !a.is_empty() && !a.iter().any(|x| x == arch.1))
            {
                continue;
            }
            if !has_all(&inc.caps) {
                continue;
            }
            if let Some(min) = &inc.min_kernel {
                if kernel < version_of(min) {
                    continue;
                }
            }
        }
        if let Some(exc) = &rule.excludes {
            if exc
                .arches
                .as_ref()
                .is_some_and(|a| a.iter().any(|x| x == arch.1))
            {
                continue;
            }
            if exc
                .caps
                .as_ref()
                .is_some_and(|l| l.iter().any(|c| caps.has_name(&c.to_ascii_uppercase())))
            {
                continue;
            }
        }
        let action = Action::parse(&rule.action, rule.errno_ret, default_errno)?;
        let args = rule.args.clone().unwrap_or_default();
        for a in &args {
            if a.index > 5 {
                return Err(format!(
                    "seccomp rule argument index {} is out of range 0-5",
                    a.index
                ));
            }
            op_of(a)?;
        }
        for name in rule.names.iter().chain(rule.name.iter()) {
            rules.push(Rule {
                name: name.clone(),
                action,
                args: args.clone(),
            });
        }
    }
    Ok(Resolved {
        default,
        arches,
        rules,
    })
}

fn op_of(a: &ArgRule) -> Result<libseccomp::ScmpCompareOp, String> {
    use libseccomp::ScmpCompareOp as Op;
    Ok(match a.op.as_str() {
        "SCMP_CMP_NE" => Op::NotEqual,
        "SCMP_CMP_LT" => Op::Less,
        "SCMP_CMP_LE" => Op::LessOrEqual,
        "SCMP_CMP_EQ" => Op::Equal,
        "SCMP_CMP_GE" => Op::GreaterEqual,
        "SCMP_CMP_GT" => Op::Greater,
        // docker's format: value is the mask, valueTwo what the masked argument must equal.
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEqual(a.value),
        other => return Err(format!("unknown seccomp comparison {other:?}")),
    })
}

/// A compiled filter: the bytes of the `struct sock_filter` array
/// seccomp(2) takes (8 bytes an instruction, native endian).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Program(pub Vec<u8>);

impl Program {
    pub fn instructions(&self) -> Vec<libc::sock_filter> {
        self.0
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.len())
    }
}

impl serde::Serialize for Program {
    /// Traces show the program's size, not its instructions.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.len() as u64)
    }
}

/// Compile with libseccomp (what runc links): system call names resolved for
/// every architecture of the filter, rules for the same call merged.
/// Names libseccomp does not know are skipped, as runc skips them.
pub fn compile(r: &Resolved) -> Result<Program, String> {
    use libseccomp::{ScmpArch, ScmpArgCompare, ScmpFilterContext, ScmpSyscall};
    let err = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp: {what}: {e}");
    let mut ctx =
        ScmpFilterContext::new(r.default.to_libseccomp()).map_err(|e| err("new filter", e))?;
    for a in &r.arches {
        let arch: ScmpArch = a.parse().map_err(|e| err(a, e))?;
        if !ctx.is_arch_present(arch).unwrap_or(false) {
            ctx.add_arch(arch).map_err(|e| err(a, e))?;
        }
    }
    for rule in &r.rules {
        if rule.action == r.default {
            continue; // libseccomp refuses rules that repeat the default
        }
        let Ok(call) = ScmpSyscall::from_name(&rule.name) else {
            continue;
        };
        let cmps: Vec<ScmpArgCompare> = rule
            .args
            .iter()
            .map(|a| {
                let op = op_of(a)?;
                let datum = if a.op == "SCMP_CMP_MASKED_EQ" {
                    a.value_two
                } else {
                    a.value
                };
                Ok(ScmpArgCompare::new(a.index, op, datum))
            })
            .collect::<Result<_, String>>()?;
        ctx.add_rule_conditional(rule.action.to_libseccomp(), call, &cmps)
            .map_err(|e| err(&format!("rule for {}", rule.name), e))?;
    }
    export(&ctx)
}

/// libseccomp 2.5 exports only to a file descriptor: a memfd, read back.
fn export(ctx: &libseccomp::ScmpFilterContext) -> Result<Program, String> {
    use std::io::{Read, Seek};
    use std::os::fd::FromRawFd;
    let name = c"glassbox-seccomp";
    // SAFETY: memfd_create with a valid C string; we own the returned fd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    ctx.export_bpf(&file)
        .map_err(|e| format!("seccomp: export: {e}"))?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| format!("read compiled filter: {e}"))?;
    Ok(Program(bytes))
}

/// Run a classic BPF seccomp program on one system call, as the kernel
/// would: returns the action word (SECCOMP_RET_*). Used by tests to check
/// the compiled program itself, not the rules it was compiled from.
pub fn evaluate(program: &Program, arch: u32, nr: i32, args: [u64; 6]) -> Option<u32> {
    // struct seccomp_data: nr, arch, instruction_pointer, args[6]
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let word = |off: u32| -> Option<u32> {
        let o = off as usize;
        data.get(o..o + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    let prog = program.instructions();
    while let Some(ins) = prog.get(pc) {
        pc += 1;
        let k = ins.k;
        let class = ins.code & 0x07;
        match class {
            0x00 => match ins.code {
                0x20 => a = word(k)?,              // ld [k]
                0x00 => a = k,                     // ld #k
                0x60 => a = *mem.get(k as usize)?, // ld M[k]
                0x80 => a = 64,                    // ld len
                _ => return None,
            },
            0x01 => match ins.code {
                0x01 => x = k,                     // ldx #k
                0x61 => x = *mem.get(k as usize)?, // ldx M[k]
                0x81 => x = 64,
                _ => return None,
            },
            0x02 => *mem.get_mut(k as usize)? = a, // st
            0x03 => *mem.get_mut(k as usize)? = x, // stx
            0x04 => {
                let v = if ins.code & 0x08 != 0 { x } else { k };
                a = match ins.code & 0xf0 {
                    0x00 => a.wrapping_add(v),
                    0x10 => a.wrapping_sub(v),
                    0x20 => a.wrapping_mul(v),
                    0x30 => a.checked_div(v)?,
                    0x40 => a | v,
                    0x50 => a & v,
                    0x60 => a.wrapping_shl(v),
                    0x70 => a.wrapping_shr(v),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(v)?,
                    0xa0 => a ^ v,
                    _ => return None,
                };
            }
            0x05 => {
                let v = if ins.code & 0x08 != 0 { x } else { k };
                let op = ins.code & 0xf0;
                if op == 0x00 {
                    pc += k as usize; // ja
                    continue;
                }
                let taken = match op {
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    0x40 => a & v != 0,
                    _ => return None,
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            }
            0x06 => return Some(if ins.code & 0x18 == 0x10 { a } else { k }), // ret
            0x07 => {
                if ins.code & 0x80 != 0 {
                    a = x
                } else {
                    x = a
                } // txa / tax
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;

    fn default_filter(caps: CapSet) -> (Resolved, Program) {
        let profile = parse(DOCKER_DEFAULT_JSON).unwrap();
        let r = resolve(&profile, ("SCMP_ARCH_X86_64", "amd64"), caps, (6, 1)).unwrap();
        let p = compile(&r).unwrap();
        (r, p)
    }

    fn nr(name: &str) -> Option<i32> {
        libseccomp::ScmpSyscall::from_name_by_arch(name, libseccomp::ScmpArch::X8664)
            .ok()
            .map(i32::from)
            .filter(|n| *n >= 0)
    }

    /// Every system call the profile names, decided by the compiled BPF on
    /// x86_64 with docker's default capabilities the way the JSON says
    /// (read here straight from the JSON, without `resolve`).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn compiled_default_filter_decides_each_listed_call_as_the_profile_does() {
        let (_, prog) = default_filter(CapSet::docker_default());
        let json: serde_json::Value = serde_json::from_str(DOCKER_DEFAULT_JSON).unwrap();
        let caps = CapSet::docker_default();
        let mut expect: std::collections::BTreeMap<String, u32> = Default::default();
        let mut conditional = std::collections::BTreeSet::new();
        for rule in json["syscalls"].as_array().unwrap() {
            let list = |c: &str, k: &str| -> Vec<String> {
                rule[c][k]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            let inc_arch = list("includes", "arches");
            if !inc_arch.is_empty() && !inc_arch.iter().any(|a| a == "amd64") {
                continue;
            }
            if !list("includes", "caps").iter().all(|c| caps.has_name(c)) {
                continue;
            }
            if list("excludes", "arches").iter().any(|a| a == "amd64") {
                continue;
            }
            if list("excludes", "caps").iter().any(|c| caps.has_name(c)) {
                continue;
            }
            let ret = match rule["action"].as_str().unwrap() {
                "SCMP_ACT_ALLOW" => RET_ALLOW,
                "SCMP_ACT_ERRNO" => RET_ERRNO | rule["errnoRet"].as_u64().unwrap_or(1) as u32,
                other => panic!("{other}"),
            };
            for n in rule["names"].as_array().unwrap() {
                let n = n.as_str().unwrap().to_string();
                if rule["args"].as_array().is_some_and(|a| !a.is_empty()) {
                    conditional.insert(n);
                } else {
                    expect.insert(n, ret);
                }
            }
        }
        let mut checked = 0;
        for (name, ret) in &expect {
            let Some(n) = nr(name) else { continue }; // not an x86_64 call
            let got = evaluate(&prog, AUDIT_ARCH_X86_64, n, [0; 6]);
            assert_eq!(got, Some(*ret), "{name} ({n})");
            checked += 1;
        }
        assert!(checked > 280, "only {checked} calls checked");
        // Calls the profile never allows get EPERM.
        for name in [
            "mount",
            "umount2",
            "unshare",
            "kexec_load",
            "bpf",
            "keyctl",
            "add_key",
            "pivot_root",
            "setns",
            "reboot",
            "init_module",
            "open_by_handle_at",
        ] {
            assert!(!expect.contains_key(name), "{name}");
            assert_eq!(
                evaluate(&prog, AUDIT_ARCH_X86_64, nr(name).unwrap(), [0; 6]),
                Some(RET_ERRNO | 1),
                "{name}"
            );
        }
        // clone3 is ENOSYS without CAP_SYS_ADMIN, so libc falls back to clone.
        assert_eq!(
            evaluate(&prog, AUDIT_ARCH_X86_64, nr("clone3").unwrap(), [0; 6]),
            Some(RET_ERRNO | 38)
        );
        // Argument conditions: clone without namespace flags, socket families, personality.
        let clone = nr("clone").unwrap();
        assert_eq!(
            evaluate(
                &prog,
                AUDIT_ARCH_X86_64,
                clone,
                [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]
            ),
            Some(RET_ALLOW)
        );
        assert_eq!(
            evaluate(
                &prog,
                AUDIT_ARCH_X86_64,
                clone,
                [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]
            ),
            Some(RET_ERRNO | 1)
        );
        let socket = nr("socket").unwrap();
        assert_eq!(
            evaluate(
                &prog,
                AUDIT_ARCH_X86_64,
                socket,
                [libc::AF_INET as u64, 0, 0, 0, 0, 0]
            ),
            Some(RET_ALLOW)
        );
        assert_eq!(
            evaluate(&prog, AUDIT_ARCH_X86_64, socket, [40, 0, 0, 0, 0, 0]),
            Some(RET_ERRNO | 1)
        ); // AF_VSOCK
        let personality = nr("personality").unwrap();
        assert_eq!(
            evaluate(&prog, AUDIT_ARCH_X86_64, personality, [8, 0, 0, 0, 0, 0]),
            Some(RET_ALLOW)
        );
        assert_eq!(
            evaluate(&prog, AUDIT_ARCH_X86_64, personality, [1, 0, 0, 0, 0, 0]),
            Some(RET_ERRNO | 1)
        );
        assert!(conditional.contains("clone") && conditional.contains("socket"));
    }

    #[test]
    fn capabilities_open_up_their_calls() {
        let mut caps = CapSet::docker_default();
        caps.0 |= 1 << super::super::caps::number("CAP_SYS_ADMIN").unwrap();
        let (r, _) = default_filter(caps);
        let allowed = r.allowed();
        for call in ["mount", "unshare", "setns", "bpf", "clone3"] {
            assert!(allowed.iter().any(|a| a == call), "{call}");
        }
        let (r, _) = default_filter(CapSet::docker_default());
        assert!(!r.allowed().iter().any(|a| a == "mount"));
        assert!(r.allowed().iter().any(|a| a == "chroot")); // CAP_SYS_CHROOT is a default
    }
}
