#!/usr/bin/env python3
"""Write the busybox rootfs tarball that build.rs embeds, byte for byte.

    scripts/mkrootfs.py [--busybox /bin/busybox] OUT.tar

build.rs builds the embedded default image with the Rust `tar` crate; the test
fixtures must be the *same* layer (same diff_id), so this script reproduces the
exact bytes that `tar::Builder` + `Header::new_ustar()` write:

  * ustar headers, numeric fields as zero-padded octal filling the field with a
    single trailing NUL (mode "0000755\\0", size "00000000000\\0"),
  * checksum as 7 octal digits + NUL (Python's tarfile writes 6 digits + NUL +
    space, which is why we do not use tarfile here),
  * empty uname/gname, zero devmajor/devminor (all NUL bytes),
  * no padding to a 10 KiB record: the archive ends with exactly two zero blocks.

Keep the layout (entries, modes, MTIME, passwd/group text) in sync with
build_tar() in build.rs. `scripts/fixtures` checks the two agree when an
embedded tarball from a previous cargo build is around.
"""
import argparse
import os
import subprocess
import sys

MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z, same as build.rs

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"

DIRS = [
    ("dev/", 0o755), ("etc/", 0o755), ("home/", 0o755), ("proc/", 0o555),
    ("root/", 0o700), ("run/", 0o755), ("sbin/", 0o755), ("sys/", 0o555),
    ("tmp/", 0o1777), ("usr/", 0o755), ("usr/bin/", 0o755), ("usr/sbin/", 0o755),
    ("var/", 0o755), ("var/log/", 0o755), ("var/spool/", 0o755),
    ("var/tmp/", 0o1777), ("var/www/", 0o755),
]


def octal(val, width):
    """Zero-padded octal filling `width` bytes, the last one NUL (tar crate's octal_into)."""
    s = format(val, "o").encode()
    if len(s) > width - 1:
        raise ValueError(f"{val} does not fit in {width} bytes")
    return s.rjust(width - 1, b"0") + b"\0"


def field(b, width):
    """A string field: the bytes, NUL-padded (copy_into: NUL appended if room)."""
    if len(b) > width:
        raise ValueError(f"{b!r} longer than {width}")
    return b.ljust(width, b"\0")


def header(name, mode, size, typeflag, linkname=b""):
    h = bytearray(512)
    h[0:100] = field(name.encode(), 100)
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)  # uid
    h[116:124] = octal(0, 8)  # gid
    h[124:136] = octal(size, 12)
    h[136:148] = octal(MTIME, 12)
    h[156:157] = typeflag
    h[157:257] = field(linkname, 100)
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    # checksum: sum of the header with the checksum field taken as 8 spaces
    h[148:156] = b" " * 8
    h[148:156] = octal(sum(h), 8)
    return bytes(h)


def applets(busybox):
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True).stdout.decode()
    names = sorted({
        l.strip() for l in out.splitlines()
        if l.strip() and l.strip() not in ("busybox", ".", "..") and "/" not in l and "\0" not in l
    })
    if "sh" not in names:
        names = sorted(names + ["sh"])
    return names


def build(busybox):
    with open(busybox, "rb") as f:
        bb = f.read()
    entries = [("bin/", 0o755, "dir", None), ("bin/busybox", 0o755, "file", bb)]
    entries += [(f"bin/{a}", 0o777, "link", "busybox") for a in applets(busybox)]
    entries += [(d, m, "dir", None) for d, m in DIRS]
    entries += [("etc/group", 0o644, "file", GROUP), ("etc/passwd", 0o644, "file", PASSWD)]
    entries.sort(key=lambda e: e[0].encode())

    out = bytearray()
    for name, mode, kind, data in entries:
        if kind == "dir":
            out += header(name, mode, 0, b"5")
        elif kind == "link":
            out += header(name, mode, 0, b"2", data.encode())
        else:
            out += header(name, mode, len(data), b"0")
            out += data
            out += b"\0" * (-len(data) % 512)
    out += b"\0" * 1024
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busybox", default=os.environ.get("GLASSBOX_BUSYBOX", "/bin/busybox"))
    ap.add_argument("out")
    a = ap.parse_args()
    data = build(a.busybox)
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)  # atomic: a half-written fixture is never visible


if __name__ == "__main__":
    sys.exit(main())
