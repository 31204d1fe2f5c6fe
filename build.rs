//! Build script: embed a default `busybox:latest` rootfs into the binary.
//!
//! If a statically linked busybox is available at build time (`/bin/busybox`,
//! or the path in `GLASSBOX_BUSYBOX`), we generate a small, reproducible root
//! filesystem tarball from it and write it gzip'd to
//! `$OUT_DIR/default-rootfs.tar.gz`; `src/image/embedded.rs` then includes it
//! with `include_bytes!` behind `cfg(glassbox_embedded)`.
//!
//! Why static only: the rootfs contains nothing but busybox, so a dynamically
//! linked busybox would fail to exec inside the container (no ld.so, no libc).
//! We check that by reading the ELF program headers ourselves (no PT_INTERP
//! segment means there is no dynamic loader to find), so no `file`/`readelf`
//! is needed.
//!
//! Reproducibility: every entry has uid/gid 0, a fixed mtime, a fixed mode and
//! empty user/group names, entries are written in a fixed sorted order, and the
//! gzip header carries no name and mtime 0. The uncompressed tar is therefore a
//! pure function of the busybox binary and its applet list, so its digest (the
//! image's diff_id) is stable across builds and machines. `scripts/mkrootfs.py`
//! writes byte-for-byte the same tar for the test fixtures.
//!
//! Environment:
//! - `GLASSBOX_BUSYBOX=/path`  use this busybox (must be a static ELF for the
//!   target architecture, else the build fails: an explicit request should not
//!   be silently ignored).
//! - `GLASSBOX_BUSYBOX=none`   (or empty) do not embed anything.

use std::env;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fixed mtime for every entry: 2024-01-01T00:00:00Z. Must match scripts/mkrootfs.py.
const MTIME: u64 = 1_704_067_200;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(glassbox_embedded)");
    // glassbox-monitor stays resident for a detached container's whole
    // life: linked at a fixed address, the loader has no relocations to
    // apply, so its pointer tables stay shared file pages, not private
    // copies (bench/runtime.sh's monitor row).
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=glassbox-monitor=-no-pie");
    }
    static_unwinder();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GLASSBOX_BUSYBOX");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let out = out_dir.join("default-rootfs.tar.gz");

    let (busybox, explicit) = match env::var_os("GLASSBOX_BUSYBOX") {
        Some(v) if v.is_empty() || v == "none" => {
            let _ = fs::remove_file(&out);
            return;
        }
        Some(v) => (PathBuf::from(v), true),
        None => (PathBuf::from("/bin/busybox"), false),
    };

    // Only watch the binary if it exists: cargo treats a missing
    // rerun-if-changed path as always dirty, which would rerun this script on
    // every build on machines without busybox.
    // When it is missing, watch its directory instead, so installing
    // busybox-static after a first build still embeds the image next time.
    if busybox.exists() {
        println!("cargo:rerun-if-changed={}", busybox.display());
    } else if let Some(dir) = busybox.parent().filter(|d| d.is_dir()) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }

    match generate(&busybox, &out) {
        Ok(()) => println!("cargo:rustc-cfg=glassbox_embedded"),
        Err(e) => {
            let _ = fs::remove_file(&out);
            if explicit {
                panic!("GLASSBOX_BUSYBOX={}: {e}", busybox.display());
            }
            // Not an error: the binary simply has no built-in image.
            if busybox.exists() {
                println!(
                    "cargo:warning=not embedding a default image from {}: {e}",
                    busybox.display()
                );
            }
        }
    }
}

fn generate(busybox: &Path, out: &Path) -> Result<(), String> {
    let bin = fs::read(busybox).map_err(|e| format!("cannot read: {e}"))?;
    check_static_elf(&bin)?;
    let applets = applet_list(busybox)?;
    let tar = build_tar(&bin, &applets).map_err(|e| format!("building tar: {e}"))?;

    let tmp = out.with_extension("gz.tmp");
    let f = fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    // GzBuilder with no filename/mtime: deterministic header (mtime 0).
    let mut gz = flate2::GzBuilder::new().write(io::BufWriter::new(f), flate2::Compression::best());
    gz.write_all(&tar)
        .and_then(|_| gz.finish()?.flush())
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(())
}

/// Reject anything that is not an ELF executable for the target architecture
/// without a PT_INTERP program header (i.e. a static or static-pie binary).
fn check_static_elf(b: &[u8]) -> Result<(), String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let is64 = match b[4] {
        1 => false,
        2 => true,
        c => return Err(format!("unknown ELF class {c}")),
    };
    let le = match b[5] {
        1 => true,
        2 => false,
        d => return Err(format!("unknown ELF data encoding {d}")),
    };
    let rd = |off: usize, n: usize| -> Result<u64, String> {
        let s = b.get(off..off + n).ok_or("truncated ELF header")?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { s[n - 1 - i] } else { s[i] } as u64;
            v = (v << 8) | byte;
        }
        Ok(v)
    };

    let machine = rd(18, 2)?;
    if let Some(want) = target_machine() {
        if machine != want {
            return Err(format!(
                "ELF machine {machine} does not match the target architecture (want {want})"
            ));
        }
    }

    let (phoff, phentsize, phnum) = if is64 {
        (rd(32, 8)?, rd(54, 2)?, rd(56, 2)?)
    } else {
        (rd(28, 4)?, rd(42, 2)?, rd(44, 2)?)
    };
    if phnum == 0 {
        return Err("no program headers (not an executable?)".into());
    }
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        let off = phoff
            .checked_add(i * phentsize)
            .ok_or("bad program header offset")? as usize;
        if rd(off, 4)? == PT_INTERP {
            return Err("dynamically linked (has PT_INTERP); need a static busybox".into());
        }
    }
    Ok(())
}

/// ELF e_machine for the architecture we are compiling for, if we know it.
fn target_machine() -> Option<u64> {
    Some(match env::var("CARGO_CFG_TARGET_ARCH").ok()?.as_str() {
        "x86_64" => 62,
        "x86" => 3,
        "aarch64" => 183,
        "arm" => 40,
        "riscv64" | "riscv32" => 243,
        "powerpc64" => 21,
        "s390x" => 22,
        "loongarch64" => 258,
        _ => return None,
    })
}

/// Applet names from `busybox --list` (one per line), sorted, deduplicated,
/// without `busybox` itself and without anything that is not a plain name.
fn applet_list(busybox: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("running `{} --list`: {e}", busybox.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} --list` failed: {}",
            busybox.display(),
            out.status
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| "non-UTF-8 applet list")?;
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "busybox" && *l != "." && *l != "..")
        .filter(|l| !l.contains('/') && !l.contains('\0'))
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    if !v.iter().any(|a| a == "sh") {
        // Every image needs /bin/sh (it is the default Cmd).
        v.push("sh".into());
        v.sort();
    }
    Ok(v)
}

enum Kind<'a> {
    Dir,
    File(&'a [u8]),
    Symlink(&'a str),
}

/// The rootfs layout. Keep in sync with scripts/mkrootfs.py.
fn build_tar(busybox: &[u8], applets: &[String]) -> io::Result<Vec<u8>> {
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

    let mut entries: Vec<(String, u32, Kind)> = vec![
        ("bin/".into(), 0o755, Kind::Dir),
        ("bin/busybox".into(), 0o755, Kind::File(busybox)),
    ];
    for a in applets {
        entries.push((format!("bin/{a}"), 0o777, Kind::Symlink("busybox")));
    }
    for (dir, mode) in [
        ("dev/", 0o755),
        ("etc/", 0o755),
        ("home/", 0o755),
        ("proc/", 0o555),
        ("root/", 0o700),
        ("run/", 0o755),
        ("sbin/", 0o755),
        ("sys/", 0o555),
        ("tmp/", 0o1777),
        ("usr/", 0o755),
        ("usr/bin/", 0o755),
        ("usr/sbin/", 0o755),
        ("var/", 0o755),
        ("var/log/", 0o755),
        ("var/spool/", 0o755),
        ("var/tmp/", 0o1777),
        ("var/www/", 0o755),
    ] {
        entries.push((dir.into(), mode, Kind::Dir));
    }
    entries.push(("etc/group".into(), 0o644, Kind::File(GROUP.as_bytes())));
    entries.push(("etc/passwd".into(), 0o644, Kind::File(PASSWD.as_bytes())));
    // Sort by path (bytewise) so parents come before children and the order
    // never depends on how the list above was written.
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, kind) in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        match kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, io::empty())?;
            }
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data)?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(target)?;
                b.append_data(&mut h, path, io::empty())?;
            }
        }
    }
    b.into_inner()
}

/// Link GCC's unwinder from libgcc_eh.a into glassbox's binaries instead of
/// loading libgcc_s.so.1 (what `gcc -static-libgcc` does). Every process
/// that loads a library pays for its mapped, relocated pages: ~100 kB of
/// RSS in each glassbox-monitor, which stays with a detached container for
/// its whole life, and one library fewer for the loader at every start.
/// Where the C compiler knows no libgcc_eh.a, libgcc_s stays.
fn static_unwinder() {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu")
    {
        return;
    }
    println!("cargo:rerun-if-env-changed=CC");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // An unknown file is echoed back bare, without a directory.
    if !path.is_absolute() || !path.exists() {
        return;
    }
    if let Some(dir) = path.parent() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static=gcc_eh");
    }
}
