//! `rmap-bench gen-random`: a seeded random trace on standard output.

use rmap_kernel::tracegen::{GenOptions, gen_random_text};

/// Prints the trace; exit status 0.
pub(super) fn gen_random(opts: GenOptions) -> i32 {
    print!("{}", gen_random_text(&opts));
    0
}
