//! Memory for RandomX: huge pages, the machine's available memory, and the hint that
//! tells an operator how to reserve huge pages.

use std::fmt;

/// Bytes in one 2 MiB huge page.
pub const HUGE_PAGE: u64 = 2 << 20;
/// Bytes of a RandomX cache (`RANDOMX_ARGON_MEMORY` KiB).
pub const CACHE_BYTES: u64 = 256 << 20;
/// Bytes of one VM's scratchpad (`RANDOMX_SCRATCHPAD_L3`).
pub const SCRATCHPAD_BYTES: u64 = 2 << 20;
/// Bytes of a RandomX dataset: 2 GiB plus `RANDOMX_DATASET_EXTRA_SIZE` (33 554 368).
pub const DATASET_BYTES: u64 = (2 << 30) + 33_554_368;

/// What the allocation of a dataset (or a cache) is asked to try.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HugePages {
    /// Reserved 2 MiB pages (hugetlb) first, then transparent huge pages, then normal
    /// pages.
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
    /// Reserved 2 MiB pages (`MAP_HUGETLB`, `vm.nr_hugepages`).
    HugeTlb,
    /// Normal memory the kernel was asked to back with transparent 2 MiB pages.
    Transparent,
    /// 4 KiB pages: every dataset read is likely a TLB miss.
    Normal,
}

impl PageMode {
    /// Returns the mode's short name: `hugetlb`, `thp` or `4k`.
    pub fn name(self) -> &'static str {
        match self {
            PageMode::HugeTlb => "hugetlb",
            PageMode::Transparent => "thp",
            PageMode::Normal => "4k",
        }
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
    let bytes = DATASET_BYTES + CACHE_BYTES + SCRATCHPAD_BYTES * threads as u64;
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
    DATASET_BYTES + 2 * CACHE_BYTES + SCRATCHPAD_BYTES * threads as u64
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
    /// Whether the kernel has 1 GiB pages (the library cannot use them; see ADR 0004).
    pub gigantic: bool,
    /// The pages a dataset would get now: `hugetlb`, `thp` or `4k`.
    pub pages: &'static str,
    /// The sysctl that reserves the pages, when too few are free.
    pub hint: Option<String>,
}

impl PagePlan {
    /// The plan from the texts of `/proc/meminfo` and
    /// `/sys/kernel/mm/transparent_hugepage/enabled` (`None`: absent), for `threads`
    /// hashing threads.
    pub fn from_texts(meminfo: &str, thp: Option<&str>, gigantic: bool, threads: usize) -> Self {
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
        let pages = if enough {
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
            gigantic,
            pages,
            hint: (!enough).then(|| huge_pages_hint(threads)),
        }
    }

    /// The plan of this machine for `threads` hashing threads.
    pub fn detect(threads: usize) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok();
        let gigantic =
            std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-1048576kB").exists();
        Self::from_texts(&meminfo, thp.as_deref(), gigantic, threads)
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
        let reserved = "MemAvailable: 1 kB\nHugePages_Total:    1170\nHugePages_Free:     1170\n";
        let plan = PagePlan::from_texts(reserved, Some("always [madvise] never\n"), true, 2);
        assert_eq!((plan.pages, plan.hint.is_none()), ("hugetlb", true));
        assert_eq!(plan.transparent.as_deref(), Some("madvise"));
        let none = "HugePages_Free:        0\n";
        let thp = PagePlan::from_texts(none, Some("[always] madvise never"), false, 2);
        assert_eq!(thp.pages, "thp");
        assert!(
            thp.hint
                .as_deref()
                .is_some_and(|h| h.contains("vm.nr_hugepages=1170"))
        );
        let off = PagePlan::from_texts(none, Some("always madvise [never]"), false, 2);
        assert_eq!(off.pages, "4k");
        assert_eq!(PagePlan::from_texts("", None, false, 1).pages, "4k");
    }

    /// The dataset takes 1040 pages, the cache 128, each scratchpad one.
    #[test]
    fn huge_page_counts() {
        assert_eq!(huge_pages_needed(0), 1040 + 128);
        assert_eq!(huge_pages_needed(2), 1170);
        assert!(huge_pages_hint(2).contains("sysctl -w vm.nr_hugepages=1170"));
    }
}
