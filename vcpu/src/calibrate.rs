//! `rmap-bench calibrate` (to be written).
