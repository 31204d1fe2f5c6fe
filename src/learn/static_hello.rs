//! The static `hello` program lesson 07 puts in a `FROM scratch` image.
//!
//! The tutorials compile `hello.c` with `gcc -static`; a learner offline may
//! have no compiler (or no static libc), so glassbox carries the same kind of
//! program, assembled here byte by byte: an x86-64 ELF executable with one
//! loadable segment whose code makes two system calls, write(1, msg, len)
//! and exit(0). It needs no loader, no libc and no other file: exactly what
//! an empty (`scratch`) image can run. The lesson shows the C it stands for.

/// What the program prints.
pub const MESSAGE: &str = "Hello from glassbox!\n";

/// The C source the program stands for (shown to the learner, who may
/// compile it with `gcc -static -o hello hello.c` instead).
pub const C_SOURCE: &str =
    "#include <stdio.h>\nint main(void) { puts(\"Hello from glassbox!\"); return 0; }\n";

/// Where the kernel maps the file (the usual base of a static executable).
const BASE: u64 = 0x40_0000;
const ELF_HEADER: usize = 64;
const PROGRAM_HEADER: usize = 56;

/// The program's bytes for this machine, or None where glassbox carries none
/// (only x86-64 so far: the lesson then says to compile hello.c).
pub fn program() -> Option<Vec<u8>> {
    if cfg!(target_arch = "x86_64") {
        Some(x86_64())
    } else {
        None
    }
}

fn x86_64() -> Vec<u8> {
    let msg = MESSAGE.as_bytes();
    // The code; `lea` finds the message right after it, relative to the
    // instruction that follows the lea (x86-64's RIP-relative addressing).
    let mut code: Vec<u8> = Vec::new();
    code.extend([0xb8, 1, 0, 0, 0]); // mov eax, 1        (write)
    code.extend([0xbf, 1, 0, 0, 0]); // mov edi, 1        (stdout)
    let lea_end = code.len() + 7;
    code.extend([0x48, 0x8d, 0x35]); // lea rsi, [rip + rel32]
    let rel_at = code.len();
    code.extend([0, 0, 0, 0]);
    code.push(0xba); //                 mov edx, len
    code.extend((msg.len() as u32).to_le_bytes());
    code.extend([0x0f, 0x05]); //       syscall
    code.extend([0xb8, 60, 0, 0, 0]); // mov eax, 60      (exit)
    code.extend([0x31, 0xff]); //       xor edi, edi      (status 0)
    code.extend([0x0f, 0x05]); //       syscall
    let rel = (code.len() - lea_end) as u32;
    code[rel_at..rel_at + 4].copy_from_slice(&rel.to_le_bytes());

    let start = ELF_HEADER + PROGRAM_HEADER;
    let total = (start + code.len() + msg.len()) as u64;
    let mut f = Vec::with_capacity(total as usize);
    // ELF header: 64-bit, little-endian, version 1, System V ABI.
    f.extend([0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    f.extend([0u8; 8]); // ABI version and padding
    f.extend(2u16.to_le_bytes()); // e_type: ET_EXEC
    f.extend(0x3eu16.to_le_bytes()); // e_machine: EM_X86_64
    f.extend(1u32.to_le_bytes()); // e_version
    f.extend((BASE + start as u64).to_le_bytes()); // e_entry: the code
    f.extend((ELF_HEADER as u64).to_le_bytes()); // e_phoff
    f.extend(0u64.to_le_bytes()); // e_shoff: no section headers
    f.extend(0u32.to_le_bytes()); // e_flags
    f.extend((ELF_HEADER as u16).to_le_bytes()); // e_ehsize
    f.extend((PROGRAM_HEADER as u16).to_le_bytes()); // e_phentsize
    f.extend(1u16.to_le_bytes()); // e_phnum
    f.extend([0u8; 6]); // e_shentsize, e_shnum, e_shstrndx
                        // One PT_LOAD segment, readable and executable: the whole file at BASE.
    f.extend(1u32.to_le_bytes()); // p_type: PT_LOAD
    f.extend(5u32.to_le_bytes()); // p_flags: PF_R | PF_X
    f.extend(0u64.to_le_bytes()); // p_offset
    f.extend(BASE.to_le_bytes()); // p_vaddr
    f.extend(BASE.to_le_bytes()); // p_paddr
    f.extend(total.to_le_bytes()); // p_filesz
    f.extend(total.to_le_bytes()); // p_memsz
    f.extend(0x1000u64.to_le_bytes()); // p_align
    debug_assert_eq!(f.len(), start);
    f.extend(code);
    f.extend(msg);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_program_runs_and_prints_its_message() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        std::fs::write(&path, program().unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&path).output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout), MESSAGE);
    }
}
