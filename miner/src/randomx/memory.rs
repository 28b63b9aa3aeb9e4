//! Memory for RandomX: huge pages, the machine's available memory, and the hint that
//! tells an operator how to reserve huge pages.

use std::fmt;

/// Bytes in one 2 MiB huge page.
pub const HUGE_PAGE: u64 = 2 << 20;
/// Bytes in one 1 GiB ("gigantic") page.
pub const GIGANTIC_PAGE: u64 = 1 << 30;
/// Where the kernel counts its 1 GiB pages.
const GIGANTIC_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
/// Bytes of a RandomX cache (`RANDOMX_ARGON_MEMORY` KiB).
pub const CACHE_BYTES: u64 = 256 << 20;
/// Bytes of one VM's scratchpad (`RANDOMX_SCRATCHPAD_L3`).
pub const SCRATCHPAD_BYTES: u64 = 2 << 20;
/// Bytes of a RandomX dataset: 2 GiB plus `RANDOMX_DATASET_EXTRA_SIZE` (33 554 368).
pub const DATASET_BYTES: u64 = (2 << 30) + 33_554_368;

/// What the allocation of a dataset (or a cache) is asked to try.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HugePages {
    /// Reserved 1 GiB pages for a dataset, then reserved 2 MiB pages (hugetlb), then
    /// transparent huge pages, then normal pages.
    #[default]
    Auto,
    /// Transparent huge pages only (`madvise(MADV_HUGEPAGE)`), then normal pages.
    Transparent,
    /// Normal 4 KiB pages.
    Off,
}

/// The pages a dataset (or a cache) ended up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMode {
    /// Reserved 1 GiB pages for the dataset's whole gigabytes, its last 32 MiB on
    /// reserved 2 MiB pages where free, else transparent ones.
    Gigantic,
    /// Reserved 2 MiB pages (`MAP_HUGETLB`, `vm.nr_hugepages`).
    HugeTlb,
    /// Normal memory the kernel was asked to back with transparent 2 MiB pages.
    Transparent,
    /// 4 KiB pages: every dataset read is likely a TLB miss.
    Normal,
}

impl PageMode {
    /// Returns the mode's short name: `1g`, `hugetlb`, `thp` or `4k`.
    pub fn name(self) -> &'static str {
        match self {
            PageMode::Gigantic => "1g",
            PageMode::HugeTlb => "hugetlb",
            PageMode::Transparent => "thp",
            PageMode::Normal => "4k",
        }
    }
}

impl PageMode {
    /// Whether the pages were reserved by the operator (1 GiB or 2 MiB hugetlb pages).
    pub fn reserved(self) -> bool {
        matches!(self, PageMode::Gigantic | PageMode::HugeTlb)
    }
}

impl fmt::Display for PageMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Returns how many 2 MiB pages a fast-mode miner with `threads` hashing threads uses:
/// the dataset, one cache, and one scratchpad per thread.
pub fn huge_pages_needed(threads: usize) -> u64 {
    huge_pages_for_scratchpads(threads * hashes_per_thread())
}

fn huge_pages_for_scratchpads(scratchpads: usize) -> u64 {
    let bytes = DATASET_BYTES + CACHE_BYTES + SCRATCHPAD_BYTES * scratchpads as u64;
    bytes.div_ceil(HUGE_PAGE)
}

/// Returns the operator's hint for when reserved huge pages are missing.
pub fn huge_pages_hint(threads: usize) -> String {
    format!(
        "reserve 2 MiB huge pages for the RandomX dataset, cache and scratchpads: \
         sysctl -w vm.nr_hugepages={} (as root; add it to /etc/sysctl.conf to keep it)",
        huge_pages_needed(threads)
    )
}

/// Returns the bytes of `MemAvailable` in the text of `/proc/meminfo`.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemAvailable:")?;
        let mut parts = rest.split_whitespace();
        let kib: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => kib.checked_mul(1024),
            Some(_) => None,
        }
    })
}

/// Returns the memory available to new allocations, from `/proc/meminfo`; `None` where
/// the file does not exist (not Linux) or does not say.
pub fn mem_available() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(parse_mem_available)
}

/// Returns the bytes a fast-mode miner with `threads` threads needs: the dataset, the
/// cache while the dataset is built, the scratchpads, and 256 MiB left for everything
/// else.
pub fn fast_mode_bytes(threads: usize) -> u64 {
    let scratchpads = (threads * hashes_per_thread()) as u64;
    DATASET_BYTES + 2 * CACHE_BYTES + SCRATCHPAD_BYTES * scratchpads
}

/// Inputs a fast-mode thread hashes at once by default (`VmEngine::Auto`, x86-64
/// Linux): 2 where each core runs one hardware thread, else 1 (one scratchpad each).
pub fn hashes_per_thread() -> usize {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) && !cores_run_two_threads() {
        2
    } else {
        1
    }
}

/// What this machine offers a fast-mode RandomX miner: the reserved pages, the
/// transparent huge page setting, and the pages a dataset would get.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PagePlan {
    /// Reserved 2 MiB pages free now (`HugePages_Free`).
    pub hugetlb_free: u64,
    /// Reserved 2 MiB pages the miner would take (dataset, cache, scratchpads).
    pub hugetlb_needed: u64,
    /// The kernel's transparent huge page setting (`always`, `madvise`, `never`), if any.
    pub transparent: Option<String>,
    /// Reserved 1 GiB pages free now; `None` where the kernel has no 1 GiB pages.
    pub gigantic_free: Option<u64>,
    /// Reserved 1 GiB pages in all (free or in use); `None` as above.
    pub gigantic_total: Option<u64>,
    /// Reserved 1 GiB pages a dataset takes (its whole gigabytes).
    pub gigantic_needed: u64,
    /// The pages a dataset would get now: `1g`, `hugetlb`, `thp` or `4k`.
    pub pages: &'static str,
    /// The sysctl that reserves the pages, when too few are free.
    pub hint: Option<String>,
}

impl PagePlan {
    /// The plan from the texts of `/proc/meminfo` and
    /// `/sys/kernel/mm/transparent_hugepage/enabled` (`None`: absent) and the reserved
    /// and free 1 GiB pages (`None`: the kernel has none), for `threads` hashing threads.
    pub fn from_texts(
        meminfo: &str,
        thp: Option<&str>,
        gigantic: Option<(u64, u64)>,
        threads: usize,
    ) -> Self {
        let gigantic_total = gigantic.map(|g| g.0);
        let gigantic_free = gigantic.map(|g| g.1);
        let hugetlb_free = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Free:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let hugetlb_needed = huge_pages_needed(threads);
        // The setting in effect is the bracketed word: "always [madvise] never".
        let transparent = thp.and_then(|t| {
            let open = t.find('[')?;
            let close = t[open..].find(']')? + open;
            Some(t[open + 1..close].to_owned())
        });
        let enough = hugetlb_free >= hugetlb_needed;
        let on_gigantic = gigantic_free.is_some_and(|n| n >= GIGANTIC_PAGES_NEEDED);
        let pages = if on_gigantic {
            PageMode::Gigantic.name()
        } else if enough {
            PageMode::HugeTlb.name()
        } else if transparent.as_deref().is_some_and(|t| t != "never") {
            PageMode::Transparent.name()
        } else {
            PageMode::Normal.name()
        };
        Self {
            hugetlb_free,
            hugetlb_needed,
            transparent,
            gigantic_free,
            gigantic_total,
            gigantic_needed: GIGANTIC_PAGES_NEEDED,
            pages,
            hint: (!enough && !on_gigantic).then(|| {
                let mut hint = huge_pages_hint(threads);
                if let Some((total, free)) = gigantic {
                    // The pages in use elsewhere stay reserved; two more must be free.
                    let want = total + GIGANTIC_PAGES_NEEDED.saturating_sub(free);
                    hint.push_str(&format!(
                        "; or 1 GiB pages for the dataset: echo {want} > \
                         {GIGANTIC_DIR}/nr_hugepages"
                    ));
                }
                hint
            }),
        }
    }

    /// The plan of this machine for `threads` hashing threads.
    pub fn detect(threads: usize) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok();
        let gigantic = gigantic_pages_total().zip(gigantic_pages_free());
        Self::from_texts(&meminfo, thp.as_deref(), gigantic, threads)
    }
}

/// Reserved 1 GiB pages a dataset takes: its whole gigabytes (the last 32 MiB go on
/// 2 MiB pages).
pub const GIGANTIC_PAGES_NEEDED: u64 = DATASET_BYTES / GIGANTIC_PAGE;

/// Returns the reserved 1 GiB pages free now; `None` where the kernel has no 1 GiB
/// pages.
pub fn gigantic_pages_free() -> Option<u64> {
    read_count(&format!("{GIGANTIC_DIR}/free_hugepages"))
}

/// Returns the reserved 1 GiB pages, free or not; `None` as above.
fn gigantic_pages_total() -> Option<u64> {
    read_count(&format!("{GIGANTIC_DIR}/nr_hugepages"))
}

fn read_count(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Memory for a dataset whose whole gigabytes are on reserved 1 GiB pages and whose
/// tail is on reserved 2 MiB pages, else on memory advised to take transparent ones.
/// Unmapped when dropped.
#[derive(Debug)]
pub(crate) struct GiganticMapping {
    base: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; who writes it is the owner's
// business (the dataset's init threads, on disjoint ranges).
#[allow(unsafe_code)]
unsafe impl Send for GiganticMapping {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for GiganticMapping {}

impl GiganticMapping {
    /// Maps `len` bytes, or `None` when too few 1 GiB pages are free (or `len` has no
    /// whole gigabyte).
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    pub(crate) fn new(len: usize) -> Option<Self> {
        const GIB: usize = GIGANTIC_PAGE as usize;
        let whole = len / GIB;
        if whole == 0 || gigantic_pages_free()? < whole as u64 {
            return None;
        }
        let tail = (len - whole * GIB).next_multiple_of(HUGE_PAGE as usize);
        let span = whole * GIB + tail;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let failed = |p: *mut libc::c_void| p == libc::MAP_FAILED;
        // Address space with room to align the start to a gigabyte, then the pages
        // mapped over it; the slack either side is given back.
        let reserve = span + GIB;
        // SAFETY: a fresh anonymous mapping that touches no existing memory.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_NONE,
                anon | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if failed(area) {
            return None;
        }
        let start = area as usize;
        let base = start.next_multiple_of(GIB);
        // SAFETY (both): MAP_FIXED replaces only pages of the reservation above.
        let giant = unsafe {
            libc::mmap(
                base as *mut libc::c_void,
                whole * GIB,
                rw,
                anon | libc::MAP_FIXED | libc::MAP_HUGETLB | libc::MAP_HUGE_1GB,
                -1,
                0,
            )
        };
        let rest = (base + whole * GIB) as *mut libc::c_void;
        // The tail on 2 MiB pages, named: the default huge page size may be 1 GiB, and
        // a gigabyte there would run past the reservation.
        let hugetlb_2m = anon | libc::MAP_FIXED | libc::MAP_HUGETLB | libc::MAP_HUGE_2MB;
        // SAFETY: as above, over the reservation's pages after the gigabytes.
        let small = || unsafe {
            if tail == 0 {
                return true;
            }
            if libc::mmap(rest, tail, rw, hugetlb_2m, -1, 0) == rest {
                return true;
            }
            let mapped = libc::mmap(rest, tail, rw, anon | libc::MAP_FIXED, -1, 0) == rest;
            if mapped {
                advise_huge_pages(rest.cast(), tail);
            }
            mapped
        };
        if failed(giant) || !small() {
            // SAFETY: the whole reservation, ours alone, is given back.
            unsafe { libc::munmap(area, reserve) };
            return None;
        }
        // SAFETY: the slack before `base` and after the span is still the reservation.
        unsafe {
            if base > start {
                libc::munmap(area, base - start);
            }
            let end = base + span;
            if start + reserve > end {
                libc::munmap(end as *mut libc::c_void, start + reserve - end);
            }
        }
        Some(Self {
            base: std::ptr::NonNull::new(base as *mut u8)?,
            len: span,
        })
    }

    /// 1 GiB pages are a Linux feature.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new(_: usize) -> Option<Self> {
        None
    }

    /// Returns the mapping's first byte.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }
}

impl Drop for GiganticMapping {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the range `new` mapped, unmapped once; its owner no longer reads it.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// Whether the kernel's transparent huge pages are off altogether
/// (`/sys/kernel/mm/transparent_hugepage/enabled` is `[never]`), when `madvise` asks in
/// vain.
pub(crate) fn transparent_huge_pages_off() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .map(|s| s.contains("[never]"))
        // No file: no THP (not Linux, or a kernel built without it).
        .unwrap_or(true)
}

/// Whether a CPU core runs two (or more) hardware threads, from the siblings of CPU 0
/// in sysfs (`topology/thread_siblings_list`, "0" alone or "0,64", "0-1"). Unreadable
/// counts as yes, the case that keeps one hash a thread. Read once.
fn cores_run_two_threads() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
            .map(|s| siblings_listed(&s))
            .unwrap_or(true)
    })
}

/// Whether a sysfs CPU list names more than one CPU.
fn siblings_listed(list: &str) -> bool {
    list.trim().contains([',', '-'])
}

/// Asks the kernel to back `len` bytes at `ptr` with transparent huge pages.
///
/// Returns whether the kernel accepted the advice. The range is trimmed to whole 4 KiB
/// pages inside it, as `madvise` requires an aligned start.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn advise_huge_pages(ptr: *mut u8, len: usize) -> bool {
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize).saturating_add(len) & !(PAGE - 1);
    if end <= start {
        return false;
    }
    // SAFETY: `start..end` lies inside the allocation `ptr..ptr + len` the caller owns and
    // is page-aligned; MADV_HUGEPAGE changes no contents, only how the pages are backed.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) == 0 }
}

/// Transparent huge pages are a Linux feature; elsewhere the advice is not given.
#[cfg(not(target_os = "linux"))]
pub(crate) fn advise_huge_pages(_: *mut u8, _: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_with_siblings() {
        assert!(!siblings_listed("0\n"));
        assert!(!siblings_listed("17"));
        assert!(siblings_listed("0,64\n"));
        assert!(siblings_listed("0-1"));
    }

    #[test]
    fn meminfo_is_parsed() {
        let text = "MemTotal:       24591340 kB\nMemFree:        17900000 kB\n\
                    MemAvailable:   23112440 kB\nBuffers:          123 kB\n";
        assert_eq!(parse_mem_available(text), Some(23_112_440 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: 5 MB\n"), None);
        assert_eq!(parse_mem_available(""), None);
    }

    #[test]
    fn page_plans_follow_what_the_kernel_offers() {
        // Two threads: 1170 pages, or 1172 where each thread hashes two at once.
        let needed = huge_pages_needed(2);
        let reserved =
            format!("MemAvailable: 1 kB\nHugePages_Total: {needed}\nHugePages_Free: {needed}\n");
        let plan =
            PagePlan::from_texts(&reserved, Some("always [madvise] never\n"), Some((0, 0)), 2);
        assert_eq!((plan.pages, plan.hint.is_none()), ("hugetlb", true));
        let giant = PagePlan::from_texts("", Some("always [madvise] never\n"), Some((2, 2)), 2);
        assert_eq!((giant.pages, giant.hint.is_none()), ("1g", true));
        let one = PagePlan::from_texts("", Some("always [madvise] never\n"), Some((3, 1)), 2);
        assert_eq!(one.pages, "thp");
        assert!(
            one.hint.as_deref().is_some_and(|h| h
                .contains("echo 4 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")),
            "{:?}",
            one.hint
        );
        assert_eq!(plan.transparent.as_deref(), Some("madvise"));
        let none = "HugePages_Free:        0\n";
        let thp = PagePlan::from_texts(none, Some("[always] madvise never"), None, 2);
        assert_eq!(thp.pages, "thp");
        assert!(
            thp.hint
                .as_deref()
                .is_some_and(|h| h.contains(&format!("vm.nr_hugepages={needed}")))
        );
        assert!(thp.hint.as_deref().is_some_and(|h| !h.contains("1 GiB")));
        let off = PagePlan::from_texts(none, Some("always madvise [never]"), None, 2);
        assert_eq!(off.pages, "4k");
        assert_eq!(PagePlan::from_texts("", None, None, 1).pages, "4k");
    }

    /// A mapping of one whole gigabyte and a 3 MiB tail takes one free 1 GiB page while
    /// it lives (and cannot be made where none is free); its start is a gigabyte
    /// boundary and its bytes are writable.
    #[test]
    fn a_gigantic_mapping_takes_free_gigabyte_pages_only() {
        const GIB: usize = GIGANTIC_PAGE as usize;
        assert!(GiganticMapping::new(GIB - 1).is_none(), "no whole gigabyte");
        let free = gigantic_pages_free().unwrap_or(0);
        let len = GIB + (3 << 20);
        let Some(mapping) = GiganticMapping::new(len) else {
            assert_eq!(free, 0, "{free} free 1 GiB pages, no mapping");
            return;
        };
        assert_eq!(mapping.base() as usize % GIB, 0);
        for (i, at) in [0, GIB - 1, GIB, len - 1].into_iter().enumerate() {
            // SAFETY: `at` is inside the `len` bytes mapped, owned by this test.
            #[allow(unsafe_code)]
            unsafe {
                mapping.base().add(at).write(i as u8 + 1);
                assert_eq!(mapping.base().add(at).read(), i as u8 + 1);
            }
        }
        // Touched, the gigabyte is faulted in: one page less is free.
        assert_eq!(gigantic_pages_free(), Some(free - 1));
        drop(mapping);
        assert_eq!(gigantic_pages_free(), Some(free));
    }

    /// The dataset takes 1040 pages, the cache 128, each scratchpad one.
    #[test]
    fn huge_page_counts() {
        assert_eq!(huge_pages_for_scratchpads(0), 1040 + 128);
        assert_eq!(huge_pages_for_scratchpads(2), 1170);
        assert_eq!(huge_pages_for_scratchpads(4), 1172);
        // A scratchpad for each input a thread hashes at once.
        let two_threads = huge_pages_for_scratchpads(2 * hashes_per_thread());
        assert_eq!(huge_pages_needed(2), two_threads);
        let sysctl = format!("sysctl -w vm.nr_hugepages={two_threads}");
        assert!(huge_pages_hint(2).contains(&sysctl));
    }
}
