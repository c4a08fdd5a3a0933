//! The backend's own invariants (`validate`): chains and anon_vma sets
//! mirror each other; counters match the structures; every mapped
//! anonymous page names a live anon_vma.

use rmap_core::frame::flags as pf;
use rmap_core::{Core, VmaId};

use crate::{AnonVmaRmap, Era};

impl AnonVmaRmap {
    /// Every invariant of the backend (the module doc lists them).
    pub(crate) fn check(&self, core: &Core) -> Result<(), String> {
        let (active, links) = self.check_chains(core)?;
        self.check_anon_vmas(&active)?;
        if self.p.era == Era::Chains && links != self.chain_links {
            return Err(format!(
                "anonvma: {} chain links counted, {links} found",
                self.chain_links
            ));
        }
        self.check_pages(core)
    }

    /// Each VMA's chain against the anon_vmas' VMA sets; returns the VMAs
    /// whose own anon_vma each anon_vma is, and the chain links.
    fn check_chains(&self, core: &Core) -> Result<(Vec<u32>, u64), String> {
        let mut active = vec![0u32; self.avs.len()];
        let mut links = 0u64;
        for (i, chain) in self.chains.iter().enumerate() {
            let vma = VmaId(i as u32);
            if chain.is_empty() {
                continue;
            }
            if !core.vmas.is_live(vma) {
                return Err(format!("anonvma: dead VMA {vma:?} still has a chain"));
            }
            for &av in chain {
                if !self.avs[av as usize].live || !self.avs[av as usize].members.contains(vma) {
                    return Err(format!(
                        "anonvma: VMA {vma:?} links to anon_vma {av} that does not list it"
                    ));
                }
            }
            links += chain.len() as u64;
            if let Some(own) = Self::own(core, vma) {
                if !chain.contains(&own) {
                    return Err(format!(
                        "anonvma: VMA {vma:?}'s own anon_vma {own} is not on its chain"
                    ));
                }
                active[own as usize] += 1;
            }
        }
        Ok((active, links))
    }

    /// Each live anon_vma's VMA set against the chains, and its counters
    /// (`num_active_vmas`, `num_children`, root references) against the
    /// structures.
    fn check_anon_vmas(&self, active: &[u32]) -> Result<(), String> {
        let mut children = vec![0u32; self.avs.len()];
        let mut descendants = vec![0u32; self.avs.len()];
        let mut live = 0;
        for (i, a) in self.avs.iter().enumerate().filter(|(_, a)| a.live) {
            live += 1;
            if !a.members.is_empty() {
                // an emptied anon_vma no longer counts as its parent's child
                children[a.parent as usize] += 1;
            }
            if a.root != i as u32 && self.p.root_refs {
                descendants[a.root as usize] += 1;
            }
            for v in a.members.iter() {
                if !self.chain_of(v).contains(&(i as u32)) {
                    return Err(format!(
                        "anonvma: anon_vma {i} lists VMA {v:?} whose chain lacks it"
                    ));
                }
            }
        }
        for (i, a) in self.avs.iter().enumerate().filter(|(_, a)| a.live) {
            if a.num_active_vmas != active[i] {
                return Err(format!(
                    "anonvma: anon_vma {i}: num_active_vmas {} but {} VMAs",
                    a.num_active_vmas, active[i]
                ));
            }
            if a.num_children != children[i] {
                return Err(format!(
                    "anonvma: anon_vma {i}: num_children {} but {} point to it",
                    a.num_children, children[i]
                ));
            }
            if a.refcount != 1 + descendants[i] {
                return Err(format!(
                    "anonvma: anon_vma {i}: refcount {} with {} live descendants",
                    a.refcount, descendants[i]
                ));
            }
        }
        if live != self.live {
            return Err(format!("anonvma: {} counted live, {live} found", self.live));
        }
        Ok(())
    }

    /// Every mapped anonymous page names a live anon_vma.
    fn check_pages(&self, core: &Core) -> Result<(), String> {
        for pfn in core.frames.touched() {
            let f = core.frames.get(pfn);
            if f.has(pf::USED) && f.has(pf::ANON) && f.mapcount > 0 {
                match Self::page_av(core, pfn) {
                    Some(av) if self.avs[av as usize].live => {}
                    _ => {
                        return Err(format!(
                            "anonvma: mapped anonymous {pfn:?} names no live anon_vma"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
