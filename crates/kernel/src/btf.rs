//! The kernel BTF the loader needs — to name a `tp_btf` attach point, and to relocate the
//! object's CO-RE accesses — without parsing all of it.
//!
//! aya 0.14 looks a `tp_btf` attach point up as the typedef `btf_trace_NAME` in a parsed [`Btf`],
//! and parsing the whole of `/sys/kernel/btf/vmlinux` (~150k types) costs ~30 ms per run on top
//! of the loader's own parse. BTF type ids are positions in the type section, so the types up to
//! and including that typedef form a BTF in which it has the kernel's id. [`attach_btf`] finds
//! it by walking the type headers of a mapping of the file (sizes only, nothing allocated per
//! type) and parses only that prefix, every other type in it replaced by a placeholder of the
//! same id and the string section reduced to the one name (little is allocated, and nothing
//! stays: the runner's peak memory is asserted by a kernel test). The prefix serves the lookup
//! only. CO-RE relocation gets [`relocation_btf`]: only the records the object's relocations
//! can reach, renumbered (the loader otherwise parses all ~150k types and scans them by name
//! once per relocated type). The input is the running kernel's own BTF; a malformed one
//! is an error, never a panic (tested on every truncation of a sample).
//! Imports: nothing from the crate.

use aya::{Btf, Endianness};

/// Where the kernel publishes its BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_HEADER_LEN: usize = 12;
const KIND_PTR: u32 = 2;
const KIND_TYPEDEF: u32 = 8;

/// Why the attach point's BTF could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BtfPrefixError {
    #[error("reading {VMLINUX}: {0}")]
    Read(#[from] std::io::Error),
    #[error("malformed kernel BTF: {0}")]
    Malformed(&'static str),
    #[error("typedef `{0}` is not in the kernel BTF")]
    NotFound(String),
    #[error("parsing the kernel BTF prefix: {0}")]
    Parse(#[from] aya::BtfError),
}

/// The kernel BTF, cut after the typedef `btf_trace_{tracepoint}`.
pub fn attach_btf(tracepoint: &str) -> Result<Btf, BtfPrefixError> {
    let name = format!("btf_trace_{tracepoint}");
    let file = std::fs::File::open(VMLINUX)?;
    match Mapped::new(&file) {
        Some(m) => prefix_btf(m.bytes(), &name),
        // kernels that cannot map it: read() returns a page per call (~1,300 calls, ~8 ms)
        None => prefix_btf(&std::fs::read(VMLINUX)?, &name),
    }
}

/// A read-only private mapping of the whole kernel BTF file: only the pages the walk touches
/// are read.
struct Mapped {
    ptr: std::ptr::NonNull<std::ffi::c_void>,
    len: std::num::NonZeroUsize,
}

impl Mapped {
    fn new(file: &std::fs::File) -> Option<Mapped> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap};
        let len = std::num::NonZeroUsize::new(file.metadata().ok()?.len().try_into().ok()?)?;
        // SAFETY: a fresh read-only private mapping of `len` bytes of a file the kernel never
        // changes (its own BTF), placed by the kernel; unmapped once, in `drop`.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ,
                MapFlags::MAP_PRIVATE,
                file,
                0,
            )
        }
        .ok()?;
        Some(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `self` is dropped, and the slice
        // borrows `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len.get()) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no slice of it outlives `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len.get()) };
    }
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BtfPrefixError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
        .ok_or(BtfPrefixError::Malformed("cut short"))
}

/// `data` (a native-endian BTF blob) cut after its first typedef named `typedef`, parsed.
pub fn prefix_btf(data: &[u8], typedef: &str) -> Result<Btf, BtfPrefixError> {
    let (types, strings) = sections(data)?;
    let (count, target, end) = find_typedef(types, strings, typedef.as_bytes())?
        .ok_or_else(|| BtfPrefixError::NotFound(typedef.to_string()))?;
    // Only the lookup reads this BTF (it is never loaded into the kernel), and it needs nothing
    // but positions and the one name: every type before the target becomes an anonymous pointer
    // to void (12 bytes, nothing parsed behind it), the target keeps its header with the name
    // at offset 1 of a string section holding that name only. Little is allocated, and the
    // kernel's strings are neither copied nor kept.
    let mut prefix = Vec::with_capacity((count + 1) * TYPE_HEADER_LEN);
    let placeholder = [0u32, KIND_PTR << 24, 0];
    for _ in 0..count {
        placeholder
            .iter()
            .for_each(|v| prefix.extend_from_slice(&v.to_ne_bytes()));
    }
    prefix.extend_from_slice(&1u32.to_ne_bytes());
    prefix.extend_from_slice(&types[target + 4..end]);
    let end = prefix.len();
    let mut names = vec![0u8];
    names.extend_from_slice(typedef.as_bytes());
    names.push(0);
    let mut blob = Vec::with_capacity(HEADER_LEN + end + names.len());
    blob.extend_from_slice(&data[..4]); // magic, version, flags
    for field in [HEADER_LEN, 0, end, end, names.len()] {
        let v = u32::try_from(field).map_err(|_| BtfPrefixError::Malformed("too large"))?;
        blob.extend_from_slice(&v.to_ne_bytes());
    }
    blob.extend_from_slice(&prefix);
    blob.extend_from_slice(&names);
    Ok(Btf::parse(&blob, Endianness::default())?)
}

/// The kernel BTF for CO-RE relocation of `object` (an ELF BPF object with a `.BTF` section),
/// with everything the relocations cannot reach left out. The loader looks every relocated
/// type up by name among all of the kernel's ~150k types and parses them all first, which cost
/// tens of milliseconds per run; this BTF keeps the kernel's string section but only the full
/// records of the struct, union, enum and typedef names the object's own BTF
/// declares, and of the types those records embed (members by value, arrays, modifiers,
/// typedefs — not what they point to), renumbered: a few hundred types instead of ~150k. A
/// relocation matches exactly as against the whole kernel BTF (`kernel_relocation_btf_matches`
/// tests a relocation of the real object).
pub fn relocation_btf(object: &[u8]) -> Result<Btf, BtfPrefixError> {
    let wanted = object_type_names(object)?;
    let file = std::fs::File::open(VMLINUX)?;
    match Mapped::new(&file) {
        Some(m) => pruned_btf(m.bytes(), &wanted),
        None => pruned_btf(&std::fs::read(VMLINUX)?, &wanted),
    }
}

/// The names of the named struct, union, enum and typedef types of an ELF object's `.BTF`.
fn object_type_names(object: &[u8]) -> Result<std::collections::HashSet<Vec<u8>>, BtfPrefixError> {
    let btf = elf_section(object, b".BTF").ok_or(BtfPrefixError::Malformed("no .BTF section"))?;
    let (types, strings) = sections(btf)?;
    let mut names = std::collections::HashSet::new();
    let mut off = 0;
    while off < types.len() {
        let (name_off, kind, size) = type_at(types, off)?;
        if matches!(kind, 4 | 5 | 6 | 8 | 19) && name_off != 0 {
            names.insert(cstr(strings, name_off)?.to_vec());
        }
        off += size;
    }
    Ok(names)
}

/// The contents of the ELF64 section named `name` (little-endian, as BPF objects here are).
fn elf_section<'a>(elf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 {
        return None;
    }
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let (entsize, count, strndx) = (
        u16_at(0x3a)? as usize,
        u16_at(0x3c)? as usize,
        u16_at(0x3e)? as usize,
    );
    let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    let body = |h: usize| -> Option<&'a [u8]> {
        let start = usize::try_from(u64_at(h + 0x18)?).ok()?;
        let len = usize::try_from(u64_at(h + 0x20)?).ok()?;
        elf.get(start..start.checked_add(len)?)
    };
    let names = body(header(strndx)?)?;
    (0..count).find_map(|i| {
        let h = header(i)?;
        let n = u32_at(h)? as usize;
        let rest = names.get(n..)?;
        (rest.starts_with(name) && rest.get(name.len()) == Some(&0))
            .then(|| body(h))
            .flatten()
    })
}

/// The type and string sections of a native-endian BTF blob.
fn sections(data: &[u8]) -> Result<(&[u8], &[u8]), BtfPrefixError> {
    let magic = data
        .get(..2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes);
    if magic != Some(MAGIC) {
        return Err(BtfPrefixError::Malformed("no BTF magic"));
    }
    let section = |off_at: usize, len_at: usize| -> Result<&[u8], BtfPrefixError> {
        let start = (u32_at(data, 4)? as usize)
            .checked_add(u32_at(data, off_at)? as usize)
            .ok_or(BtfPrefixError::Malformed("section offset"))?;
        let end = start
            .checked_add(u32_at(data, len_at)? as usize)
            .ok_or(BtfPrefixError::Malformed("section length"))?;
        data.get(start..end)
            .ok_or(BtfPrefixError::Malformed("section out of bounds"))
    };
    Ok((section(8, 12)?, section(16, 20)?))
}

/// The NUL-terminated string at `off`.
fn cstr(strings: &[u8], off: usize) -> Result<&[u8], BtfPrefixError> {
    let s = strings
        .get(off..)
        .ok_or(BtfPrefixError::Malformed("name offset"))?;
    let end = s
        .iter()
        .position(|&b| b == 0)
        .ok_or(BtfPrefixError::Malformed("name not ended"))?;
    Ok(&s[..end])
}

/// `data` with only the records of the types named in `wanted` and what they embed, renumbered
/// in order (ids are not what a field relocation computes: offsets are; the relocation test
/// would see a difference). A pointer to a type left out points to `void`.
pub fn pruned_btf(
    data: &[u8],
    wanted: &std::collections::HashSet<Vec<u8>>,
) -> Result<Btf, BtfPrefixError> {
    let (types, strings) = sections(data)?;
    // every type's offset, kind and size; ids start at 1
    let mut at: Vec<(u32, u32, u32)> = Vec::new();
    let mut keep: Vec<u32> = Vec::new();
    let mut off = 0;
    while off < types.len() {
        let (name_off, kind, size) = type_at(types, off)?;
        let id = at.len() as u32 + 1;
        if matches!(kind, 4 | 5 | 6 | 8 | 19)
            && name_off != 0
            && wanted.contains(cstr(strings, name_off)?)
        {
            keep.push(id);
        }
        at.push((off as u32, kind, size as u32));
        off += size;
    }
    let mut kept = vec![false; at.len() + 1];
    // the closure over embedded types: members, array elements, modifiers, typedefs and
    // function prototypes (a pointer is kept, not what it points to)
    while let Some(id) = keep.pop() {
        let Some(k) = kept.get_mut(id as usize) else {
            return Err(BtfPrefixError::Malformed("type id out of range"));
        };
        if *k || id == 0 {
            continue;
        }
        *k = true;
        let (off, kind, size) = at[id as usize - 1];
        for (field, pointer) in references(off as usize, kind, size as usize)? {
            if !pointer {
                keep.push(u32_at(types, field)?);
            }
        }
    }
    let mut new_id = vec![0u32; at.len() + 1];
    let mut next = 0u32;
    for id in 1..=at.len() {
        if kept[id] {
            next += 1;
            new_id[id] = next;
        }
    }
    let mut body = Vec::new();
    for id in 1..=at.len() {
        if !kept[id] {
            continue;
        }
        let (off, kind, size) = at[id - 1];
        let (off, size) = (off as usize, size as usize);
        let start = body.len();
        body.extend_from_slice(&types[off..off + size]);
        for (field, _) in references(off, kind, size)? {
            let old = u32_at(types, field)? as usize;
            let renumbered = new_id.get(old).copied().unwrap_or(0);
            let at = start + field - off;
            body[at..at + 4].copy_from_slice(&renumbered.to_ne_bytes());
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + strings.len());
    out.extend_from_slice(&data[..4]); // magic, version, flags
    for field in [HEADER_LEN, 0, body.len(), body.len(), strings.len()] {
        let v = u32::try_from(field).map_err(|_| BtfPrefixError::Malformed("too large"))?;
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(strings);
    Ok(Btf::parse(&out, Endianness::default())?)
}

/// Where the type record at `off` names other types: each field's offset in `types`, and
/// whether it is a pointer's (whose target the pruned BTF does not need).
fn references(off: usize, kind: u32, size: usize) -> Result<Vec<(usize, bool)>, BtfPrefixError> {
    let mut out = Vec::new();
    match kind {
        KIND_PTR => out.push((off + 8, true)),
        // typedef, volatile, const, restrict, type_tag: the type they name
        8 | 9 | 10 | 11 | 18 => out.push((off + 8, false)),
        3 => out.extend([(off + 12, false), (off + 16, false)]),
        4 | 5 => {
            let mut m = off + TYPE_HEADER_LEN;
            while m + 12 <= off + size {
                out.push((m + 4, false));
                m += 12;
            }
        }
        13 => {
            out.push((off + 8, false));
            let mut p = off + TYPE_HEADER_LEN;
            while p + 8 <= off + size {
                out.push((p + 4, false));
                p += 8;
            }
        }
        // func, var, datasec and decl_tag are never reached from a struct's members
        12 | 14 | 15 | 17 => return Err(BtfPrefixError::Malformed("unexpected kind in a type")),
        _ => {}
    }
    Ok(out)
}

/// The type at `off`: its name offset, kind and size in bytes (header and what follows it).
fn type_at(types: &[u8], off: usize) -> Result<(usize, u32, usize), BtfPrefixError> {
    let name_off = u32_at(types, off)? as usize;
    let info = u32_at(types, off + 4)?;
    let vlen = (info & 0xffff) as usize;
    let kind = (info >> 24) & 0x1f;
    let extra = match kind {
        // ptr, fwd, typedef, volatile, const, restrict, func, float, type_tag
        2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0,
        1 | 14 | 17 => 4,             // int, var, decl_tag
        3 => 12,                      // array
        4 | 5 | 15 | 19 => 12 * vlen, // struct, union, datasec, enum64
        6 | 13 => 8 * vlen,           // enum, func_proto
        _ => return Err(BtfPrefixError::Malformed("unknown type kind")),
    };
    let size = TYPE_HEADER_LEN + extra;
    if off + size > types.len() {
        return Err(BtfPrefixError::Malformed("type cut short"));
    }
    Ok((name_off, kind, size))
}

/// The first typedef named `name` in the type section: how many types come before it, where it
/// starts and where it ends.
fn find_typedef(
    types: &[u8],
    strings: &[u8],
    name: &[u8],
) -> Result<Option<(usize, usize, usize)>, BtfPrefixError> {
    let (mut off, mut before) = (0usize, 0usize);
    while off < types.len() {
        let (name_off, kind, size) = type_at(types, off)?;
        if kind == KIND_TYPEDEF
            && strings
                .get(name_off..)
                .is_some_and(|s| s.starts_with(name) && s.get(name.len()) == Some(&0))
        {
            return Ok(Some((before, off, off + size)));
        }
        off += size;
        before += 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aya_obj::btf::BtfKind;

    /// A small BTF: int, a two-member struct, a func_proto with one parameter, then typedefs.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0btf_trace_other\0btf_trace_x\0".to_vec();
        let at = |s: &str| {
            strings
                .windows(s.len() + 2)
                .position(|w| w[0] == 0 && &w[1..=s.len()] == s.as_bytes() && w[s.len() + 1] == 0)
                .unwrap() as u32
                + 1
        };
        let mut t: Vec<u32> = Vec::new();
        t.extend([at("int"), 1 << 24, 4, 32]); // [1] int
        t.extend([at("s"), (4 << 24) | 2, 8]); // [2] struct s { int a; int b; }
        t.extend([at("a"), 1, 0, at("b"), 1, 32]);
        t.extend([0, (13 << 24) | 1, 0, 0, 1]); // [3] func_proto(int)
        t.extend([at("btf_trace_other"), 8 << 24, 3]); // [4] typedef
        t.extend([at("btf_trace_x"), 8 << 24, 3]); // [5] typedef
        t.extend([0, 2 << 24, 2]); // [6] ptr to s
        let types: Vec<u8> = t.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_ne_bytes());
        b.extend_from_slice(&[1, 0]);
        let tl = types.len() as u32;
        for v in [HEADER_LEN as u32, 0, tl, tl, strings.len() as u32] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(&strings);
        b
    }

    /// The object relocated against the pruned kernel BTF is instruction for instruction the
    /// object relocated against the whole kernel BTF.
    #[test]
    #[ignore = "kernel test: needs the kernel BTF; scripts/test runs it (cargo test -- --include-ignored)"]
    fn kernel_relocation_btf_matches() {
        assert!(
            std::fs::metadata(VMLINUX).is_ok(),
            "this kernel test needs {VMLINUX}"
        );
        let object = crate::bpf::OBJECT;
        let relocated = |btf: &Btf| {
            let mut obj = aya_obj::Object::parse(object).unwrap();
            obj.relocate_btf(btf).unwrap();
            obj.functions
                .values()
                .map(|f| {
                    let code: Vec<(u8, u8, i16, i32)> = f
                        .instructions
                        .iter()
                        .map(|i| (i.code, i.dst_reg() | (i.src_reg() << 4), i.off, i.imm))
                        .collect();
                    (f.name.clone(), code)
                })
                .collect::<Vec<_>>()
        };
        let pruned = relocated(&relocation_btf(object).unwrap());
        let full = relocated(&Btf::from_sys_fs().unwrap());

        assert_eq!(pruned.len(), full.len());
        // A relocation that fails (aya poisons the instruction: call 0xbad2310) may only be a
        // field of other kernel versions, behind a `bpf_core_field_exists` branch the verifier
        // removes (`kernfs_node.parent` before Linux 6.15): the same ones fail against the whole
        // BTF, and every program of the object loads (the kernel tests).
        type Code = Vec<(u8, u8, i16, i32)>;
        let poisoned = |fs: &[(String, Code)]| -> usize {
            fs.iter()
                .map(|(_, c)| c.iter().filter(|i| i.0 == 0x85 && i.3 == 0xbad2310).count())
                .sum()
        };
        assert_eq!(poisoned(&pruned), poisoned(&full));
        for ((name, a), (_, b)) in pruned.iter().zip(&full) {
            assert_eq!(a, b, "{name}");
        }
    }

    #[test]
    fn the_prefix_gives_the_typedef_its_full_id() {
        let data = blob();
        let full = Btf::parse(&data, Endianness::default()).unwrap();
        let id = full
            .id_by_type_name_kind("btf_trace_x", BtfKind::Typedef)
            .unwrap();
        assert_eq!(id, 5);
        let prefix = prefix_btf(&data, "btf_trace_x").unwrap();
        assert_eq!(
            prefix
                .id_by_type_name_kind("btf_trace_x", BtfKind::Typedef)
                .unwrap(),
            id
        );
        // the types before it keep their places, not their names
        assert!(
            prefix
                .id_by_type_name_kind("btf_trace_other", BtfKind::Typedef)
                .is_err()
        );
        assert!(matches!(
            prefix_btf(&data, "btf_trace_"),
            Err(BtfPrefixError::NotFound(_))
        ));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let data = blob();
        let wanted: std::collections::HashSet<Vec<u8>> = [b"s".to_vec()].into();
        for cut in 0..data.len() {
            let _ = prefix_btf(&data[..cut], "btf_trace_x");
            let _ = pruned_btf(&data[..cut], &wanted);
            let _ = elf_section(&data[..cut], b".BTF");
        }
        // the pruned blob keeps ids: struct s is still [2], the pointer to it [6]
        let pruned = pruned_btf(&data, &wanted).unwrap();
        assert_eq!(
            pruned.id_by_type_name_kind("s", BtfKind::Struct).unwrap(),
            2
        );
        let mut bad = data.clone();
        bad[HEADER_LEN + 7] = 31; // kind 31 in the first type's info
        assert!(matches!(
            prefix_btf(&bad, "btf_trace_x"),
            Err(BtfPrefixError::Malformed(_))
        ));
    }

    /// On a host with kernel BTF, the prefix and the full parse agree on the id.
    #[test]
    #[ignore = "kernel test: needs the kernel BTF; scripts/test runs it (cargo test -- --include-ignored)"]
    fn the_kernel_prefix_matches_the_full_parse() {
        let data = std::fs::read(VMLINUX).expect("this kernel test needs the kernel BTF");
        let full = Btf::parse(&data, Endianness::default()).unwrap();
        let name = "btf_trace_sys_exit";
        let want = full.id_by_type_name_kind(name, BtfKind::Typedef).unwrap();
        let prefix = prefix_btf(&data, name).unwrap();
        assert_eq!(
            prefix.id_by_type_name_kind(name, BtfKind::Typedef).unwrap(),
            want
        );
        // the same through the mapping (or its read fallback)
        let mapped = attach_btf("sys_exit").unwrap();
        assert_eq!(
            mapped.id_by_type_name_kind(name, BtfKind::Typedef).unwrap(),
            want
        );
    }
}
