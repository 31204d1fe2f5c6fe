//! The smallest executable file Linux runs: an ELF header and one or two
//! loadable segments, no sections, no dynamic loader.

/// Where the kernel maps the file (the usual base of a static executable).
pub const BASE: u64 = 0x40_0000;
const ELF_HEADER: usize = 64;
const PROGRAM_HEADER: usize = 56;

/// An executable whose code (`code`, then `rodata`, read-only and
/// executable) is mapped at BASE and entered at its first byte; `bss`
/// bytes of zeroed, writable memory come at `bss_at` when asked for.
/// `code` finds `rodata` RIP-relative: it starts at [`code_offset`] +
/// `code.len()`.
pub fn executable(code: &[u8], rodata: &[u8], bss: Option<(u64, u64)>) -> Vec<u8> {
    let phnum: u16 = if bss.is_some() { 2 } else { 1 };
    let start = code_offset(bss.is_some());
    let total = (start + code.len() + rodata.len()) as u64;
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
    f.extend(phnum.to_le_bytes()); // e_phnum
    f.extend([0u8; 6]); // e_shentsize, e_shnum, e_shstrndx
                        // PT_LOAD, readable and executable: the whole file at BASE.
    segment(&mut f, 5, 0, BASE, total, total);
    if let Some((at, size)) = bss {
        // PT_LOAD, readable and writable: nothing from the file, `size`
        // zeroed bytes at `at`.
        segment(&mut f, 6, 0, at, 0, size);
    }
    debug_assert_eq!(f.len(), start);
    f.extend(code);
    f.extend(rodata);
    f
}

/// Where the code starts in the file (after the headers).
pub fn code_offset(with_bss: bool) -> usize {
    ELF_HEADER + PROGRAM_HEADER * if with_bss { 2 } else { 1 }
}

fn segment(f: &mut Vec<u8>, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) {
    f.extend(1u32.to_le_bytes()); // p_type: PT_LOAD
    f.extend(flags.to_le_bytes()); // p_flags
    f.extend(offset.to_le_bytes()); // p_offset
    f.extend(vaddr.to_le_bytes()); // p_vaddr
    f.extend(vaddr.to_le_bytes()); // p_paddr
    f.extend(filesz.to_le_bytes()); // p_filesz
    f.extend(memsz.to_le_bytes()); // p_memsz
    f.extend(0x1000u64.to_le_bytes()); // p_align
}
