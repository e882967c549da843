//! How a used instance slot is made ready for the next instance: in place,
//! rewriting only the pages the last instance wrote, where that is known to
//! be safe; otherwise wasmtime's default, which gives the pages back to the
//! kernel (`madvise`) for the next instance to fault in again.

use wasmtime::{Enabled, PoolingAllocationConfig};

/// How much of each linear memory, and of each table, a slot keeps
/// resident between instances when reset in place. A small handler's
/// request then took no page faults and no `madvise` calls, against 5 and
/// 3, and 10–20% less server CPU (docs/bench/history.md, "Instance slots reset in
/// place"). The cost is memory: a used slot keeps up to this much of what
/// its instances wrote resident.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The way slots are reset, decided once when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotReset {
    /// `PAGEMAP_SCAN` (Linux 6.7+) finds the pages an instance wrote, and
    /// wasmtime rewrites those below the marks back to the component's
    /// image.
    InPlace,
    /// wasmtime's default. Kept where the kernel lacks the ioctl (keeping
    /// pages resident would then mean rewriting the whole mark on every
    /// reset), and where swap is on: wasmtime 48's scan only finds written
    /// pages that are in memory, so a page swapped out before its slot is
    /// reset would be neither rewritten nor given back, and the next
    /// instance in the slot could read what the last one wrote there
    /// (wasmtime pull request 14357).
    Default,
}

impl SlotReset {
    /// What this machine allows now. Swap turned on after the server
    /// started is not seen: restart it then.
    pub fn detect() -> Self {
        let swaps = std::fs::read_to_string("/proc/swaps").ok();
        Self::choose(
            PoolingAllocationConfig::is_pagemap_scan_available(),
            swaps.as_deref(),
        )
    }

    /// `swaps` is `/proc/swaps`; unreadable counts as swap on.
    fn choose(pagemap_scan: bool, swaps: Option<&str>) -> Self {
        let swap_on = swaps.is_none_or(|text| text.lines().skip(1).any(|l| !l.trim().is_empty()));
        if pagemap_scan && !swap_on {
            SlotReset::InPlace
        } else {
            SlotReset::Default
        }
    }

    /// Applies this way to `pool`.
    pub fn configure(self, pool: &mut PoolingAllocationConfig) {
        if self == SlotReset::InPlace {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
                .table_keep_resident(TABLE_KEEP_RESIDENT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    #[test]
    fn slots_are_reset_in_place_only_with_the_scan_and_no_swap() {
        let with_swap = format!(
            "{HEADER}/dev/zram0                              partition\t4194300\t\t0\t\t100\n"
        );
        assert_eq!(SlotReset::choose(true, Some(HEADER)), SlotReset::InPlace);
        assert_eq!(
            SlotReset::choose(true, Some(&with_swap)),
            SlotReset::Default
        );
        assert_eq!(SlotReset::choose(false, Some(HEADER)), SlotReset::Default);
        assert_eq!(
            SlotReset::choose(true, None),
            SlotReset::Default,
            "unreadable /proc/swaps counts as swap on"
        );
    }
}
