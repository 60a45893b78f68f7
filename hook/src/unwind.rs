//! Native stack capture: raw instruction pointers only, symbolized later by the reader.
//!
//! Two unwinders give the same frames: libgcc's (through the `backtrace` crate), which works
//! everywhere, and on x86-64 an in-process DWARF CFI walk with `framehop` (see `cfi`), which
//! caches the unwind rule of each return address and looks FDEs up in the module's own
//! `.eh_frame_hdr`: several times cheaper per frame than libgcc, which finds the object
//! (`_dl_find_object`) and interprets the CFI again for every frame of every event. Whenever the
//! CFI walk cannot vouch for a stack (no unwind data for a frame, an unreadable stack slot, a
//! signal frame), the event is unwound again with libgcc, so a stack is never worse than
//! libgcc's.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::config::{MAX_STACK_DEPTH, Unwinder};

/// Address range of gpuleak's own code; its frames are left out of every stack.
static OWN_START: AtomicU64 = AtomicU64::new(0);
static OWN_END: AtomicU64 = AtomicU64::new(0);

/// The unwinder in effect (`Unwinder as u8`), set from GPULEAK_UNWIND with the configuration.
static METHOD: AtomicU8 = AtomicU8::new(Unwinder::DEFAULT as u8);

pub fn set_own_range(start: u64, end: u64) {
    OWN_START.store(start, Ordering::Relaxed);
    OWN_END.store(end, Ordering::Relaxed);
}

pub fn set_unwinder(u: Unwinder) {
    METHOD.store(u as u8, Ordering::Relaxed);
}

/// True for an address inside gpuleak's own loaded image.
pub fn is_own(addr: u64) -> bool {
    addr >= OWN_START.load(Ordering::Relaxed) && addr < OWN_END.load(Ordering::Relaxed)
}

/// Uninitialised past `len`: zeroing 2 KiB on every event costs more than copying the few
/// frames most events keep.
pub struct Frames {
    ips: [MaybeUninit<u64>; MAX_STACK_DEPTH],
    len: usize,
}

impl Frames {
    pub fn as_slice(&self) -> &[u64] {
        // SAFETY: `capture` wrote the first `len` entries.
        unsafe { std::slice::from_raw_parts(self.ips.as_ptr().cast::<u64>(), self.len) }
    }
}

/// What both unwinders do with each frame they find, so that they record the same stack.
struct Walk {
    f: Frames,
    own: (u64, u64),
    stop: (u64, u64),
    depth: usize,
    leading: bool,
}

impl Walk {
    /// Takes the next frame, innermost first; false once the stack is complete.
    #[inline(always)]
    fn push(&mut self, ip: u64) -> bool {
        if self.leading && ip >= self.own.0 && ip < self.own.1 {
            return true;
        }
        self.leading = false;
        if ip == 0 {
            // The end of the chain, below `_start`.
            return false;
        }
        self.f.ips[self.f.len].write(ip);
        self.f.len += 1;
        self.f.len < self.depth && !(ip >= self.stop.0 && ip < self.stop.1)
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn restart(&mut self) {
        self.f.len = 0;
        self.leading = true;
    }
}

/// Walks the calling thread's stack, innermost first, skipping the leading frames that belong to
/// gpuleak. Runs before any lock is taken: unwinding is the expensive part of an event.
///
/// `stop`: an address range (the interpreter's code) whose first frame ends the walk, itself
/// kept. A thread running Python has its Python frames recorded already, and what lies outside
/// them is the interpreter's own C frames, which readers drop: unwinding them (about 100 ns a
/// frame with libgcc, most of a Python event's cost) would buy nothing. The boundary frame stays
/// so that readers still see where the native frames enter the interpreter.
///
/// Inlined into the wrappers, with the recording around it: each gpuleak frame above the
/// program's call is unwound only to be skipped. The CFI walk also needs it inlined: it starts
/// from the registers of the wrapper's own frame, read where this code lands.
#[inline(always)]
pub fn capture(depth: usize, stop: Option<(u64, u64)>) -> Frames {
    let mut w = Walk {
        f: Frames {
            ips: [MaybeUninit::uninit(); MAX_STACK_DEPTH],
            len: 0,
        },
        own: (
            OWN_START.load(Ordering::Relaxed),
            OWN_END.load(Ordering::Relaxed),
        ),
        stop: stop.unwrap_or((0, 0)),
        depth: depth.min(MAX_STACK_DEPTH),
        leading: true,
    };
    let method = METHOD.load(Ordering::Relaxed);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = method;
    #[cfg(target_arch = "x86_64")]
    {
        if method != Unwinder::Libgcc as u8 {
            let regs = cfi::registers();
            if cfi::walk(regs, &mut w) {
                return w.f;
            }
            w.restart();
            if method == Unwinder::CfiOnly as u8 {
                return w.f;
            }
        }
    }
    libgcc(&mut w);
    w.f
}

/// Inlined like `capture`: a frame of its own would be one more of gpuleak's to unwind.
#[inline(always)]
fn libgcc(w: &mut Walk) {
    // SAFETY: trace_unsynchronized is safe when no other unwinder runs concurrently on this
    // thread; gpuleak is the only one here, and libgcc's unwinder is itself thread-safe.
    unsafe {
        backtrace::trace_unsynchronized(|frame| w.push(frame.ip() as u64));
    }
}

/// The DWARF CFI walk with framehop, x86-64 only.
///
/// Per thread (in TLS, so nothing is shared and gpuleak takes no lock of its own): the stack's
/// bounds, the framehop unwinder with one module per loaded object that has an `.eh_frame_hdr`,
/// and framehop's rule cache. The module list is rebuilt when the loader's load count moves,
/// which also covers an object unloaded and another loaded at its addresses; unloading alone
/// cannot put an address of the unloaded object on a live stack. Section data is the loaded
/// image's own memory, read in place. Reading the load count is one `dl_iterate_phdr` per event,
/// which holds the loader's (recursive) list lock for a moment, as libgcc's unwinder did for
/// every frame before glibc 2.35.
///
/// Where it can differ from libgcc: a return address inside an object with `.eh_frame_hdr` but
/// outside every FDE (hand-written assembly without CFI) is stepped over with the frame pointer
/// by framehop, where libgcc ends the stack; at worst a wrong frame past that point, read from
/// this thread's stack.
///
/// Safety of the walk itself: stack memory is read only inside `[sp, top of stack)` of this
/// thread (framehop's reads go through a callback that refuses anything else); unwind data is
/// read only through slices over mapped segments of loaded objects; framehop's parsers are
/// bounds-checked and do not allocate (`MustNotAllocateDuringUnwind`).
#[cfg(target_arch = "x86_64")]
mod cfi {
    use std::cell::{Cell, RefCell};
    use std::ffi::{c_int, c_void};
    use std::ops::Deref;

    use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
    use framehop::{
        ExplicitModuleSectionInfo, FrameAddress, Module, MustNotAllocateDuringUnwind, Unwinder,
    };

    use super::Walk;
    use crate::config::MAX_STACK_DEPTH;

    /// Bytes of a loaded object, valid while it stays loaded (see the module comment for why
    /// that holds whenever they are read).
    struct Mem {
        ptr: *const u8,
        len: usize,
    }

    impl Deref for Mem {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            // SAFETY: `ptr..ptr + len` lies in one PT_LOAD segment of a loaded object.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    type Cache = CacheX86_64<MustNotAllocateDuringUnwind>;

    struct Table {
        /// The loader's load count this table was built at.
        loads: u64,
        unwinder: UnwinderX86_64<Mem, MustNotAllocateDuringUnwind>,
        /// Executable segments of the objects given to `unwinder`, sorted: a frame elsewhere
        /// (JIT code, an object without `.eh_frame_hdr`) is left to libgcc, which may know
        /// more (registered frames), rather than to framehop's frame-pointer guess.
        code: Vec<(u64, u64)>,
    }

    impl Table {
        /// The executable segment holding `addr`.
        #[inline]
        fn code_at(&self, addr: u64) -> Option<(u64, u64)> {
            let i = self.code.partition_point(|&(start, _)| start <= addr);
            let (start, end) = *self.code.get(i.checked_sub(1)?)?;
            (addr >= start && addr < end).then_some((start, end))
        }
    }

    struct Thread {
        table: Option<Table>,
        cache: Cache,
    }

    thread_local! {
        /// Dropped with the thread; a capture during teardown, after that, uses libgcc.
        static THREAD: RefCell<Option<Box<Thread>>> = const { RefCell::new(None) };
        /// `[lowest, top)` of this thread's stack, `(0, 0)` when unknown; `None` until first
        /// asked. Apart from `THREAD` and without a destructor: checked before `THREAD` is
        /// touched, so that a capture on another stack (a small signal stack) builds nothing.
        static STACK: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
    }

    /// rip, rsp and rbp where this is inlined (the wrapper's frame).
    #[inline(always)]
    pub fn registers() -> (u64, u64, u64) {
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers, touches nothing else.
        unsafe {
            std::arch::asm!(
                "lea {ip}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                ip = out(reg) ip,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            );
        }
        (ip, sp, bp)
    }

    /// Walks the stack from `regs` into `w`; false when libgcc must do it instead (whatever
    /// was pushed is then discarded).
    #[inline(never)]
    pub fn walk(regs: (u64, u64, u64), w: &mut Walk) -> bool {
        let Ok(stack) = STACK.try_with(|s| match s.get() {
            Some(b) => b,
            None => {
                let b = stack_bounds().unwrap_or((0, 0));
                s.set(Some(b));
                b
            }
        }) else {
            return false;
        };
        if !(regs.1 >= stack.0 && regs.1 < stack.1) {
            // Another stack (sigaltstack, a coroutine): bounds unknown.
            return false;
        }
        THREAD
            .try_with(|t| match t.try_borrow_mut() {
                Ok(mut t) => walk_in(&mut t, regs, stack.1, w),
                Err(_) => false,
            })
            .unwrap_or(false)
    }

    fn walk_in(
        slot: &mut Option<Box<Thread>>,
        (ip, sp, bp): (u64, u64, u64),
        top: u64,
        w: &mut Walk,
    ) -> bool {
        let t = slot.get_or_insert_with(|| {
            Box::new(Thread {
                table: None,
                cache: Cache::new_in(),
            })
        });
        let loads = crate::modules::load_count();
        if t.table.as_ref().is_none_or(|tb| tb.loads != loads) {
            t.table = Some(build(loads));
            // framehop keys cached rules by a module-list generation; a fresh cache also
            // rules out a stale rule after that 16-bit generation wraps.
            t.cache = Cache::new_in();
        }
        let Thread { table, cache, .. } = &mut **t;
        let Some(table) = table.as_ref() else {
            return false;
        };
        let mut read = |addr: u64| -> Result<u64, ()> {
            if addr >= sp && addr.checked_add(8).is_some_and(|end| end <= top) {
                // SAFETY: inside the used part of this thread's stack, which is mapped.
                Ok(unsafe { (addr as *const u64).read_unaligned() })
            } else {
                Err(())
            }
        };
        let mut regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frame = FrameAddress::from_instruction_pointer(ip);
        // Gpuleak's own frames are pushed (and skipped) too: a bound on steps, not frames.
        for _ in 0..MAX_STACK_DEPTH + 64 {
            if !w.push(frame.address()) {
                return true;
            }
            let Some((_, code_end)) = table.code_at(frame.address_for_lookup()) else {
                return false;
            };
            if let FrameAddress::ReturnAddress(ra) = frame
                && is_sigreturn(ra.get(), code_end)
            {
                // A signal handler's frame: libgcc knows how to step over the kernel's
                // signal frame, framehop does not.
                return false;
            }
            match table
                .unwinder
                .unwind_frame(frame, &mut regs, cache, &mut read)
            {
                Ok(Some(ra)) => match FrameAddress::from_return_address(ra) {
                    Some(next) => frame = next,
                    // libgcc reports a zero return address, which ends the walk.
                    None => return true,
                },
                // The outermost frame (`_start`, `clone3`): its CFI leaves the return address
                // undefined, which is also where libgcc stops.
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        false
    }

    /// Whether `ra` is glibc's `__restore_rt` (`mov $15, %rax; syscall`), the return address
    /// of a signal handler. Reads code only inside the executable segment holding it.
    fn is_sigreturn(ra: u64, code_end: u64) -> bool {
        const RESTORE_RT: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
        if ra.checked_add(9).is_none_or(|end| end > code_end) {
            return false;
        }
        // SAFETY: `ra..ra + 9` lies in a mapped executable segment.
        unsafe { std::ptr::read_unaligned(ra as *const [u8; 9]) == RESTORE_RT }
    }

    fn stack_bounds() -> Option<(u64, u64)> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_getattr_np before use and destroyed after.
        unsafe {
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                return None;
            }
            let mut addr: *mut c_void = std::ptr::null_mut();
            let mut size: usize = 0;
            let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            let lo = addr as u64;
            (rc == 0 && size > 0).then(|| (lo, lo + size as u64))
        }
    }

    /// One framehop module per loaded object with a usable `.eh_frame_hdr`. Runs only when the
    /// load count moved, never with a lock of gpuleak held: `dl_iterate_phdr` takes the
    /// loader's lock.
    fn build(loads: u64) -> Table {
        let mut table = Table {
            loads,
            unwinder: UnwinderX86_64::new(),
            code: Vec::new(),
        };
        // SAFETY: the callback only reads the structures the loader hands it.
        unsafe {
            libc::dl_iterate_phdr(Some(visit), &mut table as *mut Table as *mut c_void);
        }
        table.code.sort_unstable();
        table
    }

    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `data` is the `Table` its caller passes, used by nothing else meanwhile.
        let table = unsafe { &mut *(data as *mut Table) };
        // SAFETY: the loader's entry, valid for the callback.
        let info = unsafe { &*info };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        let base = info.dlpi_addr;
        // SAFETY: the object's program headers, `dlpi_phnum` of them.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let loads = || phdrs.iter().filter(|ph| ph.p_type == libc::PT_LOAD);
        let Some(hdr) = phdrs.iter().find(|ph| ph.p_type == libc::PT_GNU_EH_FRAME) else {
            return 0;
        };
        let (hdr_svma, hdr_len) = (hdr.p_vaddr, hdr.p_memsz);
        // The header must lie in a loaded segment, so that reading it cannot fault.
        let in_segment = |svma: u64, len: u64| {
            loads().find(|ph| svma >= ph.p_vaddr && svma + len <= ph.p_vaddr + ph.p_memsz)
        };
        if hdr_len < 12 || in_segment(hdr_svma, hdr_len).is_none() {
            return 0;
        }
        let hdr_avma = base.wrapping_add(hdr_svma);
        // SAFETY: 12 bytes inside the loaded header.
        let head = unsafe { std::ptr::read_unaligned(hdr_avma as *const [u8; 12]) };
        // Version 1; eh_frame_ptr pc-relative sdata4; a count; a sorted table of datarel
        // sdata4 pairs, which is what framehop's binary search reads. Anything else is left to
        // libgcc.
        const PCREL_SDATA4: u8 = 0x1b;
        const DATAREL_SDATA4: u8 = 0x3b;
        const OMIT: u8 = 0xff;
        if head[0] != 1 || head[1] != PCREL_SDATA4 || head[2] == OMIT || head[3] != DATAREL_SDATA4 {
            return 0;
        }
        let rel = i32::from_le_bytes([head[4], head[5], head[6], head[7]]) as i64;
        let eh_svma = (hdr_svma + 4).wrapping_add_signed(rel);
        // `.eh_frame` has no size here: it runs to its zero terminator, which lies within its
        // segment, so the slice ends with the segment.
        let Some(seg) = in_segment(eh_svma, 0) else {
            return 0;
        };
        let eh_end = seg.p_vaddr + seg.p_memsz;
        let (mut start, mut end) = (u64::MAX, 0u64);
        for ph in loads() {
            start = start.min(ph.p_vaddr);
            end = end.max(ph.p_vaddr + ph.p_memsz);
        }
        if start >= end || base.checked_add(end).is_none() {
            return 0;
        }
        let mut text: Option<(u64, u64)> = None;
        for ph in loads().filter(|ph| ph.p_flags & libc::PF_X != 0) {
            let (s, e) = (ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
            table.code.push((base + s, base + e));
            text.get_or_insert((s, e));
        }
        let section = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: text.map(|(s, e)| s..e),
            eh_frame_hdr_svma: Some(hdr_svma..hdr_svma + hdr_len),
            eh_frame_hdr: Some(Mem {
                ptr: hdr_avma as *const u8,
                len: hdr_len as usize,
            }),
            eh_frame_svma: Some(eh_svma..eh_end),
            eh_frame: Some(Mem {
                ptr: base.wrapping_add(eh_svma) as *const u8,
                len: (eh_end - eh_svma) as usize,
            }),
            text: None,
            stubs_svma: None,
            stub_helper_svma: None,
            got_svma: None,
            unwind_info: None,
            debug_frame: None,
            text_segment_svma: None,
            text_segment: None,
        };
        table.unwinder.add_module(Module::new(
            String::new(),
            base + start..base + end,
            base,
            section,
        ));
        0
    }
}
