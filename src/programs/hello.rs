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

/// The program's bytes for this machine (see [`super::Program::bytes`]).
pub fn program() -> Option<Vec<u8>> {
    super::Program::Hello.bytes()
}

pub(super) fn x86_64() -> Vec<u8> {
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
    super::elf::executable(&code, msg, None)
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
