//! `udp-echo [PORT]`: the echo service (RFC 862) over UDP. It binds
//! 0.0.0.0:PORT (7 when no port is given) and sends every datagram back to
//! whoever sent it, until it is killed; it exits 1 when the socket cannot
//! be made or bound. What a UDP port published with `-p HOST:PORT/udp`
//! needs behind it to answer, in an image with no UDP server (busybox's
//! `nc` has no `-u`).
//!
//! Five system calls: socket, bind, then recvfrom and sendto in a loop;
//! the C it stands for is [`C_SOURCE`]. The bytes below were assembled
//! from the listing in the comments (GNU as, Intel syntax).

/// The C the program stands for.
pub const C_SOURCE: &str = r#"#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 7) };
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) != 0) return 1;
    for (;;) {
        static char buf[65536];
        struct sockaddr_in from; socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n >= 0) sendto(fd, buf, n, 0, (struct sockaddr *)&from, len);
    }
}
"#;

/// The port it listens on when given none (the echo service's).
pub const DEFAULT_PORT: u16 = 7;

/// Its writable memory: the address (sockaddr_in at +0, the sender's at
/// +16, the sender's length at +32, the buffer at +64) and the size.
const BSS: u64 = 0x50_0000;
const BSS_SIZE: u64 = 64 + 65536;

/// The port `udp-echo` listens on, from its arguments as it reads them:
/// the leading digits of the first one (a port that is no number is 0,
/// one the kernel picks).
pub fn port_of(args: &[String]) -> u16 {
    match args.first() {
        None => DEFAULT_PORT,
        Some(a) => {
            let digits: String = a.chars().take_while(|c| c.is_ascii_digit()).collect();
            // The program keeps the low 16 bits of what it read.
            (digits.bytes().fold(0u32, |n, d| {
                n.wrapping_mul(10).wrapping_add((d - b'0') as u32)
            }) & 0xffff) as u16
        }
    }
}

pub(super) fn x86_64() -> Vec<u8> {
    #[rustfmt::skip]
    let code: [u8; 195] = [
        // The port: 7, or argv[1]'s leading digits (rsp: argc, argv...).
        0xb9, 0x07, 0x00, 0x00, 0x00,             // mov ecx, 7
        0x48, 0x83, 0x3c, 0x24, 0x02,             // cmp qword ptr [rsp], 2
        0x72, 0x1c,                               // jb port_done
        0x48, 0x8b, 0x74, 0x24, 0x10,             // mov rsi, [rsp+16]     argv[1]
        0x31, 0xc9,                               // xor ecx, ecx
        0x0f, 0xb6, 0x06,                         // digit: movzx eax, byte ptr [rsi]
        0x83, 0xe8, 0x30,                         // sub eax, '0'
        0x83, 0xf8, 0x09,                         // cmp eax, 9
        0x77, 0x0a,                               // ja port_done          (not a digit)
        0x6b, 0xc9, 0x0a,                         // imul ecx, ecx, 10
        0x01, 0xc1,                               // add ecx, eax
        0x48, 0xff, 0xc6,                         // inc rsi
        0xeb, 0xeb,                               // jmp digit
        0x66, 0xc1, 0xc1, 0x08,                   // port_done: rol cx, 8  (network byte order)
        0x49, 0xc7, 0xc7, 0x00, 0x00, 0x50, 0x00, // mov r15, 0x500000     (the bss)
        0x66, 0x41, 0xc7, 0x07, 0x02, 0x00,       // mov word ptr [r15], AF_INET
        0x66, 0x41, 0x89, 0x4f, 0x02,             // mov word ptr [r15+2], cx
        // fd = socket(AF_INET, SOCK_DGRAM, 0)
        0xb8, 0x29, 0x00, 0x00, 0x00,             // mov eax, 41           (socket)
        0xbf, 0x02, 0x00, 0x00, 0x00,             // mov edi, 2
        0xbe, 0x02, 0x00, 0x00, 0x00,             // mov esi, 2
        0x31, 0xd2,                               // xor edx, edx
        0x0f, 0x05,                               // syscall
        0x85, 0xc0,                               // test eax, eax
        0x78, 0x62,                               // js fail
        0x41, 0x89, 0xc4,                         // mov r12d, eax
        // bind(fd, &me, 16)
        0x44, 0x89, 0xe7,                         // mov edi, r12d
        0x4c, 0x89, 0xfe,                         // mov rsi, r15
        0xba, 0x10, 0x00, 0x00, 0x00,             // mov edx, 16
        0xb8, 0x31, 0x00, 0x00, 0x00,             // mov eax, 49           (bind)
        0x0f, 0x05,                               // syscall
        0x85, 0xc0,                               // test eax, eax
        0x75, 0x49,                               // jnz fail
        // n = recvfrom(fd, buf, 65536, 0, &from, &len)
        0x41, 0xc7, 0x47, 0x20, 0x10, 0x00, 0x00, 0x00, // again: mov dword ptr [r15+32], 16
        0x44, 0x89, 0xe7,                         // mov edi, r12d
        0x49, 0x8d, 0x77, 0x40,                   // lea rsi, [r15+64]
        0xba, 0x00, 0x00, 0x01, 0x00,             // mov edx, 65536
        0x45, 0x31, 0xd2,                         // xor r10d, r10d
        0x4d, 0x8d, 0x47, 0x10,                   // lea r8, [r15+16]
        0x4d, 0x8d, 0x4f, 0x20,                   // lea r9, [r15+32]
        0xb8, 0x2d, 0x00, 0x00, 0x00,             // mov eax, 45           (recvfrom)
        0x0f, 0x05,                               // syscall
        0x48, 0x85, 0xc0,                         // test rax, rax
        0x78, 0xd5,                               // js again
        // sendto(fd, buf, n, 0, &from, len)
        0x48, 0x89, 0xc2,                         // mov rdx, rax
        0x44, 0x89, 0xe7,                         // mov edi, r12d
        0x49, 0x8d, 0x77, 0x40,                   // lea rsi, [r15+64]
        0x45, 0x31, 0xd2,                         // xor r10d, r10d
        0x4d, 0x8d, 0x47, 0x10,                   // lea r8, [r15+16]
        0x45, 0x8b, 0x4f, 0x20,                   // mov r9d, dword ptr [r15+32]
        0xb8, 0x2c, 0x00, 0x00, 0x00,             // mov eax, 44           (sendto)
        0x0f, 0x05,                               // syscall
        0xeb, 0xb7,                               // jmp again
        // exit(1)
        0xbf, 0x01, 0x00, 0x00, 0x00,             // fail: mov edi, 1
        0xb8, 0x3c, 0x00, 0x00, 0x00,             // mov eax, 60           (exit)
        0x0f, 0x05,                               // syscall
    ];
    super::elf::executable(&code, &[], Some((BSS, BSS_SIZE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_as_the_program_reads_it() {
        let a = |s: &str| vec![s.to_string()];
        assert_eq!(port_of(&[]), 7);
        assert_eq!(port_of(&a("53")), 53);
        assert_eq!(port_of(&a("5353x")), 5353);
        assert_eq!(port_of(&a("x")), 0);
        assert_eq!(port_of(&a("65537")), 1);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn it_echoes_datagrams_on_its_port() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("udp-echo");
        std::fs::write(&path, super::super::Program::UdpEcho.bytes().unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A port the kernel has free: bind one, note it, let it go.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(&path)
            .arg(port.to_string())
            .spawn()
            .unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..25 {
            sock.send_to(b"ping", ("127.0.0.1", port)).unwrap();
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got.as_deref(), Some(&b"ping"[..]));
    }
}
