//! The SQLite store's integration tests: one binary (link time dominates on two cores), one module
//! per concern.

#[cfg(test)]
mod differential;
