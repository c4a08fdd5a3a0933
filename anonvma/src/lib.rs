//! # anonvma (not implemented yet)
//!
//! This crate will hold the `anonvma` reverse-mapping backend for rmap-lab (see
//! the project's issues). It is a placeholder so that the workspace layout is
//! final; it exports nothing yet and no backend list includes it.
