//! The loaded objects of the process, so that a reader can symbolize stacks without it.

use std::ffi::{CStr, c_int, c_void};

use gpuleak_trace::Module;

/// Lists every loaded object. Takes the loader's lock, so it is never called with gpuleak's own
/// lock held: a thread inside `dlopen` may be waiting for that lock in a constructor.
pub fn scan() -> Vec<Module> {
    let mut out: Vec<Module> = Vec::new();
    // SAFETY: the callback only reads the structures the loader hands it.
    unsafe {
        libc::dl_iterate_phdr(Some(visit), &mut out as *mut Vec<Module> as *mut c_void);
    }
    out
}

/// How many objects have ever been loaded: changes when a library loads, so a rescan is only
/// worth doing when it moved.
pub fn load_count() -> u64 {
    let mut adds: u64 = 0;
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        size: usize,
        data: *mut c_void,
    ) -> c_int {
        if size >= std::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) {
            // SAFETY: `data` is the `u64` passed below; `info` is valid for the callback and holds
            // `dlpi_adds` (size checked).
            unsafe { *(data as *mut u64) = (*info).dlpi_adds };
        }
        1
    }
    // SAFETY: the callback only writes the `u64` it is given.
    unsafe {
        libc::dl_iterate_phdr(Some(first), &mut adds as *mut u64 as *mut c_void);
    }
    adds
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Vec` `scan` passes, borrowed by nothing else during the walk.
    let out = unsafe { &mut *(data as *mut Vec<Module>) };
    // SAFETY: the loader's entry, valid for the callback.
    let info = unsafe { &*info };
    let base = info.dlpi_addr;
    // SAFETY: the object's program headers, `dlpi_phnum` of them, mapped while it is loaded.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let (mut start, mut end) = (u64::MAX, 0u64);
    let mut build_id = Vec::new();
    for ph in phdrs {
        match ph.p_type {
            libc::PT_LOAD => {
                start = start.min(base + ph.p_vaddr);
                end = end.max(base + ph.p_vaddr + ph.p_memsz);
            }
            libc::PT_NOTE if build_id.is_empty() => {
                // SAFETY: a PT_NOTE segment of a loaded object: mapped, `p_memsz` bytes.
                build_id = unsafe { find_build_id(base + ph.p_vaddr, ph.p_memsz) };
            }
            _ => {}
        }
    }
    if start >= end {
        return 0;
    }
    let name = if info.dlpi_name.is_null() {
        ""
    } else {
        // SAFETY: the loader's NUL-terminated name of the object.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_str()
            .unwrap_or("")
    };
    let path = if name.is_empty() {
        // The main program has no name here. /proc/self/exe is the loader itself when a program
        // is started as `ld-linux-x86-64.so.2 PROGRAM` (an interpreter built for a newer glibc),
        // so the file mapped where the program lies comes first.
        mapped_path(start)
            .or_else(|| {
                std::fs::read_link("/proc/self/exe")
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .unwrap_or_default()
    } else if !name.starts_with('/') && name.contains('/') {
        // Found through a relative LD_LIBRARY_PATH entry: readers may run elsewhere.
        std::fs::canonicalize(name)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| name.to_string())
    } else {
        name.to_string()
    };
    out.push(Module {
        path,
        base,
        start,
        end,
        build_id,
    });
    0
}

/// The file mapped at `addr`, from /proc/self/maps; `None` for an anonymous mapping or when the
/// file cannot be read.
fn mapped_path(addr: u64) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        // "start-end perms offset dev inode   path"
        let mut fields = line.splitn(6, ' ');
        let (lo, hi) = fields.next()?.split_once('-')?;
        let (lo, hi) = (
            u64::from_str_radix(lo, 16).ok()?,
            u64::from_str_radix(hi, 16).ok()?,
        );
        if !(lo..hi).contains(&addr) {
            return None;
        }
        let path = fields.nth(4)?.trim_start();
        path.starts_with('/').then(|| path.to_string())
    })
}

/// Reads NT_GNU_BUILD_ID from a loaded PT_NOTE segment.
unsafe fn find_build_id(addr: u64, len: u64) -> Vec<u8> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let mut p = addr;
    let end = addr + len;
    let align4 = |n: u64| (n + 3) & !3;
    while p + 12 <= end {
        // SAFETY: 12 header bytes inside the note segment (`p + 12 <= end`).
        let (namesz, descsz, ty) = unsafe {
            (
                *(p as *const u32) as u64,
                *((p + 4) as *const u32) as u64,
                *((p + 8) as *const u32),
            )
        };
        let name_at = p + 12;
        let desc_at = name_at + align4(namesz);
        let next = desc_at + align4(descsz);
        if next > end {
            break;
        }
        if ty == NT_GNU_BUILD_ID && namesz == 4 {
            // SAFETY: the name lies before `next`, inside the segment.
            let name = unsafe { std::slice::from_raw_parts(name_at as *const u8, 4) };
            if name == b"GNU\0" {
                // SAFETY: the descriptor lies before `next`, inside the segment.
                return unsafe {
                    std::slice::from_raw_parts(desc_at as *const u8, descsz as usize)
                }
                .to_vec();
            }
        }
        p = next;
    }
    Vec::new()
}

/// The loaded range of the object holding `addr`, found without allocating or touching files:
/// this runs in every process at load time, CUDA or not.
pub fn loaded_range(addr: u64) -> Option<(u64, u64)> {
    struct Search {
        addr: u64,
        found: Option<(u64, u64)>,
    }
    unsafe extern "C" fn visit_one(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `data` is the `Search` passed below, used by nothing else meanwhile.
        let search = unsafe { &mut *(data as *mut Search) };
        // SAFETY: the loader's entry, valid for the callback.
        let info = unsafe { &*info };
        // SAFETY: the object's program headers, `dlpi_phnum` of them.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let (mut start, mut end) = (u64::MAX, 0u64);
        for ph in phdrs.iter().filter(|ph| ph.p_type == libc::PT_LOAD) {
            start = start.min(info.dlpi_addr + ph.p_vaddr);
            end = end.max(info.dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        if search.addr >= start && search.addr < end {
            search.found = Some((start, end));
            return 1;
        }
        0
    }
    let mut search = Search { addr, found: None };
    // SAFETY: the callback only touches the `Search` it is given.
    unsafe {
        libc::dl_iterate_phdr(Some(visit_one), &mut search as *mut Search as *mut c_void);
    }
    search.found
}

/// Whether `addr` lies in one of `modules`.
pub fn known(addr: u64, modules: &[Module]) -> bool {
    modules.iter().any(|m| addr >= m.start && addr < m.end)
}
