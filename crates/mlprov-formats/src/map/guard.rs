//! A SIGBUS guard for memory maps (hand-written: no maintained crate turns a truncated map
//! into an error). Each live map is registered in a fixed table of address ranges. When
//! reading a page of a registered map raises SIGBUS (the file was shortened underneath),
//! the handler maps anonymous zero pages over the rest of that region with `MAP_FIXED`,
//! marks the region, and returns: the faulting read is retried and reads zeros, and the
//! owner reports the file as changed. A SIGBUS at any other address is left to the
//! handler that was installed before (by default: the process dies, as it would have).
//!
//! Only async-signal-safe work happens in the handler: atomic loads and stores over a
//! static table, one `mmap` system call, and `sigaction` to restore the previous handler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Maps that can be guarded at once; more are still mapped, just not guarded.
const SLOTS: usize = 4096;
/// A slot being claimed: not yet a region the handler may act on.
const CLAIMING: usize = usize::MAX;

static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Length of each registered region; 0 = free.
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// Whether our handler is in place.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The handler that was installed before ours, for faults that are not ours.
static mut PREVIOUS: Option<libc::sigaction> = None;

/// One registered map; unregistered on drop.
#[derive(Debug)]
pub(super) struct Region {
    slot: usize,
}

impl Region {
    /// Registers `len` bytes mapped at `start`; `None` when the table is full or the
    /// handler could not be installed (the map then works unguarded).
    pub(super) fn register(start: usize, len: usize) -> Option<Region> {
        install();
        if !INSTALLED.load(Ordering::Acquire) || len == 0 {
            return None;
        }
        for slot in 0..SLOTS {
            if LENS[slot]
                .compare_exchange(0, CLAIMING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                FAULTED[slot].store(false, Ordering::Relaxed);
                STARTS[slot].store(start, Ordering::Relaxed);
                LENS[slot].store(len, Ordering::Release);
                return Some(Region { slot });
            }
        }
        None
    }

    /// Whether a SIGBUS replaced part of the region with zeros.
    pub(super) fn faulted(&self) -> bool {
        FAULTED[self.slot].load(Ordering::Acquire)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        LENS[self.slot].store(0, Ordering::Release);
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags) that we then
        // fill; `sigaction` reads `new` and writes `old`, both valid for the call. This runs
        // once, before any region is registered, so the handler never sees `PREVIOUS`
        // half-written.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &new, &mut old) == 0 {
                PREVIOUS = Some(old);
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
}

/// The faulting address of a SIGBUS.
///
/// # Safety
/// `info` must be the `siginfo_t` the kernel passed to an `SA_SIGINFO` handler.
unsafe fn fault_address(info: *const libc::siginfo_t) -> usize {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: the caller passes the kernel's siginfo; for SIGBUS `si_addr` is set.
    let addr = unsafe { (*info).si_addr() } as usize;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: as above; on the BSDs and macOS `si_addr` is a plain field.
    let addr = unsafe { (*info).si_addr } as usize;
    addr
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: installed with SA_SIGINFO, so `info` is the kernel's siginfo.
    let addr = unsafe { fault_address(info) };
    let page = PAGE.load(Ordering::Relaxed);
    for slot in 0..SLOTS {
        let len = LENS[slot].load(Ordering::Acquire);
        if len == 0 || len == CLAIMING {
            continue;
        }
        let start = STARTS[slot].load(Ordering::Relaxed);
        if addr < start || addr - start >= len {
            continue;
        }
        let from = addr & !(page - 1);
        let end = (start + len).div_ceil(page) * page;
        // SAFETY: [from, end) lies inside the registered map, which is alive (its owner
        // unregisters before unmapping) and read-only; replacing its pages with private
        // zero pages changes only what this process reads there.
        let zeros = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            FAULTED[slot].store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not a guarded map (or the remap failed): hand the signal to the previous handler by
    // restoring it; returning re-runs the faulting access, which raises SIGBUS again.
    // SAFETY: `PREVIOUS` was written once before any region existed and is only read here.
    unsafe {
        let previous = std::ptr::addr_of!(PREVIOUS).read();
        match previous {
            Some(old) => {
                libc::sigaction(libc::SIGBUS, &old, std::ptr::null_mut());
            }
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
        }
    }
    let _ = (signal, context);
}
