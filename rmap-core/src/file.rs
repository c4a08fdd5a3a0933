//! Files: an address space per file with its page cache, its stored
//! contents, and `i_mmap`, the set of VMAs that map it.
//!
//! A declared file (`file NAME SIZE`) is one object for every process and
//! every mapping, as one inode is in Linux. Shared anonymous memory is an
//! anonymous file object too (Linux's shmem), one per `mmap`, freed when the
//! last VMA that maps it goes away.
//!
//! `i_mmap` holds the linear VMAs of the file, in the shape the system
//! chooses ([`IMapShape`]); VMAs made nonlinear by remap_file_pages move to
//! `i_mmap_nonlinear`, which each era's reclaim treats its own way
//! ([`crate::nonlinear`]), with a scan cursor per VMA (`nl_cursor`) where
//! it sweeps them in clusters.
//!
//! Contents: a page that was never written back reads as its initial
//! contents ([`initial_content`], or zero for shmem); written-back pages are
//! kept in `store`.

use std::collections::BTreeMap;

use crate::addr::{Pfn, PgOff};
use crate::itree::IntervalTree;
use crate::vma::{FileId, VmaId};

/// The shape of every file's `i_mmap`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum IMapShape {
    /// A list: a walk visits every VMA of the file (2.6.0 objrmap).
    List,
    /// An interval tree over page offsets: a walk visits only the VMAs that
    /// cover the page (prio tree, later `vma_interval_tree`).
    #[default]
    IntervalTree,
}

/// The linear mappers of a file.
#[derive(Clone, Debug)]
pub enum IMap {
    List(Vec<VmaId>),
    Tree(IntervalTree),
}

impl IMap {
    pub fn new(shape: IMapShape) -> IMap {
        match shape {
            IMapShape::List => IMap::List(Vec::new()),
            IMapShape::IntervalTree => IMap::Tree(IntervalTree::new()),
        }
    }
    /// Add `vma`, which maps file pages `first..=last`.
    pub fn insert(&mut self, vma: VmaId, first: PgOff, last: PgOff) {
        match self {
            IMap::List(v) => v.push(vma),
            IMap::Tree(t) => t.insert(first.0, last.0, vma.0),
        }
    }
    /// Remove; `first` is the VMA's page offset when it was inserted.
    pub fn remove(&mut self, vma: VmaId, first: PgOff) -> bool {
        match self {
            IMap::List(v) => match v.iter().position(|&x| x == vma) {
                Some(p) => {
                    v.remove(p);
                    true
                }
                None => false,
            },
            IMap::Tree(t) => t.remove(first.0, vma.0),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            IMap::List(v) => v.len(),
            IMap::Tree(t) => t.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The VMAs a walk for page `pgoff` must visit: every VMA for a list,
    /// the covering ones for a tree.
    pub fn candidates(&self, pgoff: PgOff, f: &mut dyn FnMut(VmaId)) {
        match self {
            IMap::List(v) => v.iter().for_each(|&x| f(x)),
            IMap::Tree(t) => t.query(pgoff.0, &mut |id| f(VmaId(id))),
        }
    }
    /// Every member, in a deterministic order.
    pub fn members(&self) -> Vec<VmaId> {
        match self {
            IMap::List(v) => v.clone(),
            IMap::Tree(t) => t.items().into_iter().map(|(_, _, id)| VmaId(id)).collect(),
        }
    }
}

/// One file object.
#[derive(Clone, Debug)]
pub struct File {
    pub id: FileId,
    /// The trace's name; empty for shared anonymous memory.
    pub name: String,
    /// Size in bytes; pages at or past `pages_for(size)` give SIGBUS.
    pub size: u64,
    /// Shared anonymous memory (shmem): initial contents are zero, and the
    /// object dies with its last mapping.
    pub shmem: bool,
    /// Page cache: page offset to frame.
    pub cache: BTreeMap<u64, Pfn>,
    /// Contents of pages written back (absent: initial contents).
    pub store: BTreeMap<u64, u64>,
    pub i_mmap: IMap,
    pub i_mmap_nonlinear: Vec<VmaId>,
    /// The cluster scan's cursor of each nonlinear VMA (Linux keeps it in
    /// `vm_private_data`); see [`crate::nonlinear`].
    pub nl_cursor: crate::nonlinear::Cursors,
    /// VMAs that map this object (linear or not).
    pub map_count: u64,
}

/// The deterministic initial content token of page `pgoff` of a declared
/// file: non-zero, with the top bit clear (write tokens have it set).
pub fn initial_content(file: FileId, pgoff: u64) -> u64 {
    let mut z = ((file.0 as u64) << 40) ^ pgoff ^ 0x5bd1_e995_1234_5678;
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^= z >> 33;
    (z & !(1 << 63)) | 1
}

impl File {
    pub fn new(id: FileId, name: String, size: u64, shmem: bool, shape: IMapShape) -> File {
        File {
            id,
            name,
            size,
            shmem,
            cache: BTreeMap::new(),
            store: BTreeMap::new(),
            i_mmap: IMap::new(shape),
            i_mmap_nonlinear: Vec::new(),
            nl_cursor: Default::default(),
            map_count: 0,
        }
    }
    /// Pages in the file (a partial last page counts).
    pub fn pages(&self) -> u64 {
        crate::addr::pages_for(self.size)
    }
    /// What page `pgoff` holds on the backing store.
    pub fn stored(&self, pgoff: u64) -> u64 {
        match self.store.get(&pgoff) {
            Some(&c) => c,
            None if self.shmem => 0,
            None => initial_content(self.id, pgoff),
        }
    }
}
