//! Depths (shares built on top, through parents and uncles) and the verification loop that
//! retries the shares a newly valid one unblocks, as P2Pool's `update_depths` and
//! `verify_loop` do.

use super::super::params::UNCLE_DEPTH;
use super::{ShareState, SideChain};

impl SideChain {
    /// Recomputes depths around a new share and verifies shares that became deep enough.
    pub(super) fn update_depths(&mut self, new: usize) {
        let (id, height) = (
            self.entries[new].id,
            self.entries[new].share.sidechain_height,
        );
        let children: Vec<(u64, usize)> = self.at_heights(height).collect();
        for (d, c) in children {
            let cd = self.entries[c].depth;
            let is_child = d == 1 && self.entries[c].share.parent == id;
            let is_nephew = self.entries[c].share.uncles.contains(&id);
            if is_child {
                self.raise_depth(new, cd + 1);
            }
            if is_nephew {
                self.raise_depth(new, cd + d);
            }
        }
        let deep = (self.params.window - 1) * 2 + UNCLE_DEPTH * 2;
        let mut work = vec![new];
        while let Some(b) = work.pop() {
            let e = &self.entries[b];
            if e.state == ShareState::Unverified
                && (e.depth > deep || e.share.sidechain_height == 0)
            {
                self.verify_loop(b);
            }
            let (bid, bh, bdepth) = (
                self.entries[b].id,
                self.entries[b].share.sidechain_height,
                self.entries[b].depth,
            );
            let children: Vec<(u64, usize)> = self.at_heights(bh).collect();
            for (d, c) in children {
                let mut raised = false;
                if d == 1 && self.entries[c].share.parent == bid && bdepth > 0 {
                    raised |= self.raise_depth(c, bdepth - 1);
                }
                if self.entries[c].share.uncles.contains(&bid) && bdepth > d {
                    raised |= self.raise_depth(c, bdepth - d);
                }
                if raised {
                    work.push(c);
                }
            }
            if let Some(p) = self.parent_of(b)
                && self.entries[p].share.sidechain_height + 1 == bh
                && self.raise_depth(p, bdepth + 1)
            {
                work.push(p);
            }
            let uncles = self.entries[b].share.uncles.clone();
            for u in uncles {
                let Some(ui) = self.get(&u) else { continue };
                let uh = self.entries[ui].share.sidechain_height;
                if uh >= bh || uh + UNCLE_DEPTH < bh {
                    continue;
                }
                if self.raise_depth(ui, bdepth + (bh - uh)) {
                    work.push(ui);
                }
            }
        }
    }

    /// Verifies `start` and then every share it unblocks.
    pub(super) fn verify_loop(&mut self, start: usize) {
        let mut work = vec![start];
        let mut best: Option<usize> = None;
        while let Some(b) = work.pop() {
            if self.entries[b].state != ShareState::Unverified {
                continue;
            }
            let state = self.verify(b);
            self.entries[b].state = state;
            if self.entries[b].state != ShareState::Valid {
                continue;
            }
            if self.is_longer_chain(best, b) {
                best = Some(b);
            }
            let (bid, bh, bdepth) = (
                self.entries[b].id,
                self.entries[b].share.sidechain_height,
                self.entries[b].depth,
            );
            let children: Vec<(u64, usize)> = self.at_heights(bh).collect();
            for (d, c) in children {
                if d == 1 && self.entries[c].share.parent == bid {
                    if self.entries[c].depth + 1 < bdepth {
                        self.entries[c].depth = bdepth - 1;
                    }
                    work.push(c);
                } else if self.entries[c].share.uncles.contains(&bid) {
                    if self.entries[c].depth + d < bdepth {
                        self.entries[c].depth = bdepth - d;
                    }
                    work.push(c);
                }
            }
        }
        if let Some(b) = best {
            self.update_tip(b);
        }
    }
}
