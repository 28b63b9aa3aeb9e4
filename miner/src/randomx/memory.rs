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

    /// The dataset takes 1040 pages, the cache 128, each scratchpad one.
    #[test]
    fn huge_page_counts() {
        assert_eq!(huge_pages_needed(0), 1040 + 128);
        assert_eq!(huge_pages_needed(2), 1170);
        assert!(huge_pages_hint(2).contains("sysctl -w vm.nr_hugepages=1170"));
    }
}
