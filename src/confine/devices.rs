//! The device allow list as a cgroup v2 eBPF program.
//!
//! cgroup v1 reads the rules from `devices.allow`; cgroup v2 has no such
//! file: the kernel runs a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to
//! the cgroup on every mknod and every open of a device node, and refuses
//! the access (EPERM) when it returns 0. This module turns the same rules
//! (`c 1:3 rwm`, `b *:* m`, ...) into that program, the way runc
//! (libcontainer/cgroups/devices/devicefilter.go) and crun (ebpf.c) write it:
//! load the request into registers, then one block per rule that jumps to
//! the next block on any mismatch and returns 1 when everything matched;
//! the last instruction returns the default (0: deny).
//!
//! `evaluate` runs a program the way the kernel would (for the few opcodes
//! used here), so tests can check the program's decisions and the simulator
//! can take them without a kernel.

use anyhow::{bail, Result};

/// One eBPF instruction (`struct bpf_insn`, 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The kernel's encoding: code, dst:4 | src:4 << 4, off (LE), imm (LE).
    pub fn encode(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0xf) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }
}

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `struct bpf_cgroup_dev_ctx`'s access_type: the device type in the low
/// 16 bits, the access in the high 16.
pub const DEV_BLOCK: u32 = 1;
pub const DEV_CHAR: u32 = 2;
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One rule of the allow list, as devices.allow takes it: `TYPE MAJ:MIN ACCESS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `DEV_BLOCK` or `DEV_CHAR`; None for `a` (any type).
    pub kind: Option<u32>,
    /// None for `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Some of `ACC_MKNOD | ACC_READ | ACC_WRITE`.
    pub access: u32,
}

impl Rule {
    /// Parse `c 1:3 rwm`, `b *:* m`, `a *:* rwm` (or `a` alone).
    pub fn parse(text: &str) -> Result<Rule> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let kind = match parts.first() {
            Some(&"a") => None,
            Some(&"b") => Some(DEV_BLOCK),
            Some(&"c") => Some(DEV_CHAR),
            _ => bail!("device rule {text:?}: the type must be a, b or c"),
        };
        if parts.len() == 1 && kind.is_none() {
            return Ok(Rule {
                kind,
                major: None,
                minor: None,
                access: ACC_ALL,
            });
        }
        let [_, numbers, access] = parts[..] else {
            bail!("device rule {text:?}: expected TYPE MAJOR:MINOR ACCESS, as `c 1:3 rwm`");
        };
        let number = |s: &str| -> Result<Option<u32>> {
            if s == "*" {
                return Ok(None);
            }
            s.parse::<u32>()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("device rule {text:?}: {s:?} is not a number or *"))
        };
        let Some((major, minor)) = numbers.split_once(':') else {
            bail!("device rule {text:?}: expected MAJOR:MINOR, as 1:3 or 136:*");
        };
        let mut bits = 0;
        for c in access.chars() {
            bits |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => bail!("device rule {text:?}: access {c:?} is not one of r, w, m"),
            };
        }
        Ok(Rule {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: bits,
        })
    }
}

/// The program for an allow list: deny everything not allowed (`deny_all`),
/// or, without it, allow everything (a privileged container).
pub fn program(deny_all: bool, allow: &[String]) -> Result<Vec<Insn>> {
    let rules: Vec<Rule> = allow
        .iter()
        .map(|r| Rule::parse(r))
        .collect::<Result<_>>()?;
    let ins = |code, dst, src, off, imm| Insn {
        code,
        dst,
        src,
        off,
        imm,
    };
    // R1 points at the context: R2 = type, R3 = access, R4 = major, R5 = minor.
    let mut p = vec![
        ins(LDX_MEM_W, 2, 1, 0, 0),
        ins(ALU_AND_K, 2, 0, 0, 0xffff),
        ins(LDX_MEM_W, 3, 1, 0, 0),
        ins(ALU_RSH_K, 3, 0, 0, 16),
        ins(LDX_MEM_W, 4, 1, 4, 0),
        ins(LDX_MEM_W, 5, 1, 8, 0),
    ];
    if deny_all {
        for rule in &rules {
            // Each check jumps past the rest of this block (to the next
            // rule's first instruction) on a mismatch.
            let mut checks: Vec<(u8, u8, u8, i32)> = Vec::new();
            if let Some(kind) = rule.kind {
                checks.push((JMP_JNE_K, 2, 0, kind as i32));
            }
            let check_access = rule.access != ACC_ALL;
            if checks.is_empty() && !check_access && rule.major.is_none() && rule.minor.is_none() {
                // `a *:* rwm` allows everything: nothing after it could run
                // (and the verifier refuses unreachable instructions).
                p.push(ins(ALU_MOV_K, 0, 0, 0, 1));
                p.push(ins(JMP_EXIT, 0, 0, 0, 0));
                return Ok(p);
            }
            if let Some(major) = rule.major {
                checks.push((JMP_JNE_K, 4, 0, major as i32));
            }
            if let Some(minor) = rule.minor {
                checks.push((JMP_JNE_K, 5, 0, minor as i32));
            }
            // Block length: checks, the 3-instruction access test, mov + exit.
            let len = checks.len() + if check_access { 3 } else { 0 } + 2;
            let mut at = 0usize;
            let jump = |p: &mut Vec<Insn>, code, dst, src, imm, at: &mut usize| {
                *at += 1;
                p.push(ins(code, dst, src, (len - *at) as i16, imm));
            };
            let mut checks = checks.into_iter();
            // The type first (as runc), then access, then the numbers.
            if rule.kind.is_some() {
                let (c, d, s, i) = checks.next().unwrap();
                jump(&mut p, c, d, s, i, &mut at);
            }
            if check_access {
                // R1 = R3 & access; the request must ask for nothing more.
                p.push(ins(ALU_MOV_X, 1, 3, 0, 0));
                p.push(ins(ALU_AND_K, 1, 0, 0, rule.access as i32));
                at += 2;
                jump(&mut p, JMP_JNE_X, 1, 3, 0, &mut at);
            }
            for (c, d, s, i) in checks {
                jump(&mut p, c, d, s, i, &mut at);
            }
            p.push(ins(ALU_MOV_K, 0, 0, 0, 1));
            p.push(ins(JMP_EXIT, 0, 0, 0, 0));
        }
    }
    p.push(ins(ALU_MOV_K, 0, 0, 0, if deny_all { 0 } else { 1 }));
    p.push(ins(JMP_EXIT, 0, 0, 0, 0));
    Ok(p)
}

/// What the program answers for one request (true: allowed), run as the
/// kernel runs it. Errors on an opcode this module never emits.
pub fn evaluate(program: &[Insn], kind: u32, major: u32, minor: u32, access: u32) -> Result<bool> {
    let ctx = [kind | access << 16, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..=program.len() {
        let Some(i) = program.get(pc) else {
            bail!("device program: ran off the end at {pc}");
        };
        let (d, s) = (i.dst as usize, i.src as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => {
                let Some(v) = ctx.get(i.off as usize / 4) else {
                    bail!(
                        "device program: load at offset {} is outside the context",
                        i.off
                    );
                };
                r[d] = *v as u64;
            }
            ALU_AND_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
            ALU_RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
            ALU_MOV_K => r[d] = i.imm as u32 as u64,
            ALU_MOV_X => r[d] = r[s] as u32 as u64,
            JMP_JNE_K | JMP_JNE_X => {
                let other = if i.code == JMP_JNE_K {
                    i.imm as i64 as u64
                } else {
                    r[s]
                };
                if r[d] != other {
                    pc = (pc as i64 + i.off as i64) as usize;
                }
            }
            JMP_EXIT => return Ok(r[0] != 0),
            other => bail!("device program: opcode {other:#x} not supported here"),
        }
    }
    bail!("device program: did not exit")
}

/// The whole program as bytes, as bpf(BPF_PROG_LOAD) takes it.
pub fn encode(program: &[Insn]) -> Vec<u8> {
    program.iter().flat_map(|i| i.encode()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        crate::confine::DEFAULT_DEVICE_RULES
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    fn allowed(p: &[Insn], kind: u32, major: u32, minor: u32, access: u32) -> bool {
        evaluate(p, kind, major, minor, access).unwrap()
    }

    #[test]
    fn the_default_list_allows_the_harmless_devices_only() {
        let p = program(true, &defaults()).unwrap();
        let rw = ACC_READ | ACC_WRITE;
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (136, 0),
            (136, 7),
            (10, 200),
        ] {
            assert!(allowed(&p, DEV_CHAR, major, minor, rw), "c {major}:{minor}");
            assert!(
                allowed(&p, DEV_CHAR, major, minor, ACC_ALL),
                "c {major}:{minor} rwm"
            );
        }
        // mknod of anything, but no read or write of the rest.
        assert!(allowed(&p, DEV_BLOCK, 8, 0, ACC_MKNOD));
        assert!(allowed(&p, DEV_CHAR, 1, 11, ACC_MKNOD));
        assert!(!allowed(&p, DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!allowed(&p, DEV_BLOCK, 8, 0, ACC_READ | ACC_MKNOD));
        assert!(!allowed(&p, DEV_CHAR, 1, 11, ACC_READ), "/dev/kmsg");
        assert!(!allowed(&p, DEV_CHAR, 1, 1, ACC_WRITE), "/dev/mem");
        assert!(
            !allowed(&p, DEV_CHAR, 1, 4, ACC_READ),
            "/dev/port is 1:4, next to 1:3"
        );
        assert!(
            !allowed(&p, DEV_BLOCK, 1, 3, ACC_READ),
            "a block 1:3 is not /dev/null"
        );
        assert!(!allowed(&p, DEV_CHAR, 137, 0, ACC_READ));
    }

    #[test]
    fn an_added_device_and_partial_access() {
        let mut rules = defaults();
        rules.push("b 8:0 r".into());
        let p = program(true, &rules).unwrap();
        assert!(allowed(&p, DEV_BLOCK, 8, 0, ACC_READ));
        assert!(
            !allowed(&p, DEV_BLOCK, 8, 0, ACC_READ | ACC_WRITE),
            "w was not given"
        );
        assert!(!allowed(&p, DEV_BLOCK, 8, 1, ACC_READ));
    }

    #[test]
    fn privileged_and_wildcards() {
        let p = program(false, &["a *:* rwm".into()]).unwrap();
        assert_eq!(p.len(), 8, "load the request, then return 1");
        assert!(allowed(&p, DEV_BLOCK, 8, 0, ACC_ALL));
        let p = program(
            true,
            &["c 1:3 rwm".into(), "a *:* rwm".into(), "c 1:5 rwm".into()],
        )
        .unwrap();
        assert_eq!(
            p.len(),
            6 + 5 + 2,
            "nothing after a rule that allows everything"
        );
        assert!(allowed(&p, DEV_BLOCK, 8, 0, ACC_ALL));
        let p = program(true, &["a *:* rw".into()]).unwrap();
        assert!(allowed(&p, DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!allowed(&p, DEV_BLOCK, 8, 0, ACC_MKNOD));
        let p = program(true, &[]).unwrap();
        assert!(!allowed(&p, DEV_CHAR, 1, 3, ACC_READ), "nothing allowed");
    }

    #[test]
    fn bad_rules_are_named() {
        for bad in [
            "x 1:3 rwm",
            "c 1:3",
            "c 1-3 rwm",
            "c one:3 rwm",
            "c 1:3 rwx",
        ] {
            let e = program(true, &[bad.to_string()]).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_encoding_is_the_kernels() {
        // ldxw r2, [r1+0]; jne r2, 2, +off
        assert_eq!(
            Insn {
                code: LDX_MEM_W,
                dst: 2,
                src: 1,
                off: 0,
                imm: 0
            }
            .encode(),
            [0x61, 0x12, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn {
                code: JMP_JNE_K,
                dst: 2,
                src: 0,
                off: 5,
                imm: 2
            }
            .encode(),
            [0x55, 0x02, 5, 0, 2, 0, 0, 0]
        );
    }
}
