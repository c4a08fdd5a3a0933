//! The page-table entry encoding: one `u64` per entry.
//!
//! ```text
//! present:     bit 0 = 1
//!   bit 1 W (hardware writable)   bit 2 U/R (readable)   bit 3 X
//!   bit 4 A (accessed)            bit 5 D (dirty)
//!   bits 8..11 saved protection (r w x), the page's own protection in a
//!              many-prots VMA
//!   bits 12..  frame number
//! not present, non-zero: bit 0 = 0, bits 1..3 = type
//!   001 swap entry:        bits 4..7 device, bits 8..11 saved prot, 12.. slot
//!   010 nonlinear file:    bits 8..11 saved prot, bits 12.. file page offset
//!   011 guard marker
//!   100 protection marker: bits 8..11 saved prot (an unpopulated page of a
//!       many-prots VMA whose protection differs from the VMA's)
//! zero: none (nothing mapped, nothing remembered)
//! ```
//! Bit 11 of the saved-protection field says "a saved protection is present".

use crate::addr::Pfn;
use crate::ops::Prot;

/// One page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Pte(pub u64);

const P: u64 = 1;
const W: u64 = 1 << 1;
const R: u64 = 1 << 2;
const X: u64 = 1 << 3;
const A: u64 = 1 << 4;
const D: u64 = 1 << 5;
const SAVED_SHIFT: u32 = 8;
const SAVED_VALID: u64 = 1 << 11;
const TYPE_SHIFT: u32 = 1;
const TYPE_MASK: u64 = 0b111 << TYPE_SHIFT;
const T_SWAP: u64 = 1 << TYPE_SHIFT;
const T_FILE: u64 = 2 << TYPE_SHIFT;
const T_GUARD: u64 = 3 << TYPE_SHIFT;
const T_PROT: u64 = 4 << TYPE_SHIFT;
const PAYLOAD_SHIFT: u32 = 12;

/// What a PTE holds, decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PteKind {
    None,
    Present(Pfn),
    Swap { slot: u32 },
    File { pgoff: u64 },
    Guard,
    ProtOnly,
}

impl Pte {
    pub const NONE: Pte = Pte(0);
    pub const GUARD: Pte = Pte(T_GUARD);

    fn saved_bits(prot: Option<Prot>) -> u64 {
        match prot {
            Some(p) => SAVED_VALID | ((p.0 as u64 & 7) << SAVED_SHIFT),
            None => 0,
        }
    }

    /// A present entry mapping `pfn`. `hw` gives the hardware protection
    /// (write cleared for copy-on-write); `saved` the page's own protection
    /// in a many-prots VMA.
    #[inline]
    pub fn present(pfn: Pfn, hw: Prot, saved: Option<Prot>) -> Pte {
        let mut v = P | ((pfn.0 as u64) << PAYLOAD_SHIFT) | Self::saved_bits(saved);
        if hw.write() {
            v |= W;
        }
        if hw.read() || hw.write() {
            v |= R;
        }
        if hw.exec() {
            v |= X;
        }
        Pte(v)
    }
    #[inline]
    pub fn swap(slot: u32, saved: Option<Prot>) -> Pte {
        Pte(T_SWAP | ((slot as u64) << PAYLOAD_SHIFT) | Self::saved_bits(saved))
    }
    #[inline]
    pub fn file(pgoff: u64, saved: Option<Prot>) -> Pte {
        Pte(T_FILE | (pgoff << PAYLOAD_SHIFT) | Self::saved_bits(saved))
    }
    #[inline]
    pub fn prot_only(prot: Prot) -> Pte {
        Pte(T_PROT | Self::saved_bits(Some(prot)))
    }

    #[inline]
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    #[inline]
    pub fn is_present(self) -> bool {
        self.0 & P != 0
    }
    #[inline]
    pub fn kind(self) -> PteKind {
        if self.0 == 0 {
            return PteKind::None;
        }
        if self.0 & P != 0 {
            return PteKind::Present(Pfn((self.0 >> PAYLOAD_SHIFT) as u32));
        }
        match self.0 & TYPE_MASK {
            T_SWAP => PteKind::Swap {
                slot: (self.0 >> PAYLOAD_SHIFT) as u32,
            },
            T_FILE => PteKind::File {
                pgoff: self.0 >> PAYLOAD_SHIFT,
            },
            T_GUARD => PteKind::Guard,
            _ => PteKind::ProtOnly,
        }
    }
    /// The frame of a present entry.
    #[inline]
    pub fn pfn(self) -> Option<Pfn> {
        self.is_present()
            .then_some(Pfn((self.0 >> PAYLOAD_SHIFT) as u32))
    }
    #[inline]
    pub fn writable(self) -> bool {
        self.0 & (P | W) == (P | W)
    }
    #[inline]
    pub fn accessed(self) -> bool {
        self.0 & A != 0
    }
    #[inline]
    pub fn dirty(self) -> bool {
        self.0 & D != 0
    }
    #[inline]
    pub fn mkyoung(self) -> Pte {
        Pte(self.0 | A)
    }
    #[inline]
    pub fn mkold(self) -> Pte {
        Pte(self.0 & !A)
    }
    #[inline]
    pub fn mkdirty(self) -> Pte {
        Pte(self.0 | D | A)
    }
    #[inline]
    pub fn mkclean(self) -> Pte {
        Pte(self.0 & !D)
    }
    #[inline]
    pub fn wrprotect(self) -> Pte {
        Pte(self.0 & !W)
    }
    #[inline]
    pub fn mkwrite(self) -> Pte {
        Pte(self.0 | W)
    }
    /// A present entry with its hardware bits set for protection `prot`:
    /// readable if `prot` has read or write (write implies read on x86),
    /// executable per `prot`, and writable only if it was and `prot` allows.
    pub fn apply_prot(self, prot: Prot) -> Pte {
        let mut v = self.0 & !(R | X);
        if prot.read() || prot.write() {
            v |= R;
        }
        if prot.exec() {
            v |= X;
        }
        if !prot.write() {
            v &= !W;
        }
        Pte(v)
    }
    /// The hardware protection of a present entry.
    pub fn hw_prot(self) -> Prot {
        Prot::new(self.0 & R != 0, self.0 & W != 0, self.0 & X != 0)
    }
    /// The page's own saved protection, if the entry carries one.
    #[inline]
    pub fn saved_prot(self) -> Option<Prot> {
        (self.0 & SAVED_VALID != 0).then_some(Prot(((self.0 >> SAVED_SHIFT) & 7) as u8))
    }
    /// The same entry with its saved protection replaced (not for none or
    /// guard entries).
    pub fn with_saved_prot(self, prot: Option<Prot>) -> Pte {
        Pte((self.0 & !(SAVED_VALID | (7 << SAVED_SHIFT))) | Self::saved_bits(prot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let p = Pte::present(Pfn(0xabcde), Prot::RW, Some(Prot::R));
        assert_eq!(p.kind(), PteKind::Present(Pfn(0xabcde)));
        assert!(p.writable());
        assert_eq!(p.saved_prot(), Some(Prot::R));
        assert!(!p.accessed());
        assert!(p.mkyoung().accessed());
        assert!(!p.wrprotect().writable());
        let s = Pte::swap(77, Some(Prot::new(true, false, true)));
        assert_eq!(s.kind(), PteKind::Swap { slot: 77 });
        assert_eq!(s.saved_prot(), Some(Prot::new(true, false, true)));
        assert!(!s.is_present());
        let f = Pte::file(1 << 30, None);
        assert_eq!(f.kind(), PteKind::File { pgoff: 1 << 30 });
        assert_eq!(f.saved_prot(), None);
        assert_eq!(Pte::GUARD.kind(), PteKind::Guard);
        assert_eq!(Pte::prot_only(Prot::NONE).kind(), PteKind::ProtOnly);
        assert_eq!(Pte::prot_only(Prot::NONE).saved_prot(), Some(Prot::NONE));
        assert_eq!(Pte::NONE.kind(), PteKind::None);
        // every non-none encoding is distinct from none
        assert!(!Pte::prot_only(Prot::NONE).is_none());
        assert!(!Pte::file(0, None).is_none());
        assert!(!Pte::swap(0, None).is_none());
    }
}
