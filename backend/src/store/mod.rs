//! Where projects and runs are kept.

pub mod pql;
