//! Storage for scimd: the traits every backend implements, the records they hold, the clock, and
//! the filter→SQL compiler the backends share.
//!
//! Backends (`scimd-store-sqlite`, `scimd-store-postgres`) implement [`Store`]; everything above
//! them (HTTP, OAuth) sees only these traits, so the same conformance suite runs against each.
#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod model;
pub mod resources;
pub mod search;

pub use clock::{Clock, MockClock, SystemClock};
pub use error::{Result, StoreError};
pub use model::*;
pub use resources::{ResourceStore, UpdateFn};
pub use search::search_document;
