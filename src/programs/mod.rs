//! Programs glassbox carries, assembled here byte by byte as static x86-64
//! executables: no libc, no loader, so they run in any image, `scratch`
//! included, and a learner offline needs no compiler.
//!
//! - `hello` (lesson 07's `FROM scratch` image): write(1, msg) and exit(0).
//! - `udp-echo` (UDP port publishing): sends each datagram back to its sender.
//!
//! The simulated kernel knows them by their bytes and does what their
//! system calls do, so the same image runs in both worlds.

mod elf;
pub mod hello;
pub mod udp_echo;

/// One of the programs glassbox carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Hello,
    UdpEcho,
}

impl Program {
    pub const ALL: [Program; 2] = [Program::Hello, Program::UdpEcho];

    /// The program's bytes for this machine, or None where glassbox carries
    /// none (only x86-64 so far).
    pub fn bytes(self) -> Option<Vec<u8>> {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        Some(match self {
            Program::Hello => hello::x86_64(),
            Program::UdpEcho => udp_echo::x86_64(),
        })
    }

    /// Which of glassbox's programs a file is, by its bytes.
    pub fn recognise(data: &[u8]) -> Option<Program> {
        if !data.starts_with(b"\x7fELF") {
            return None;
        }
        Program::ALL
            .into_iter()
            .find(|p| p.bytes().is_some_and(|b| b == data))
    }
}
