//! The parts of scimd's event delivery that are rules rather than I/O: what a delivery carries,
//! how it is signed, where it may go, when it is retried, and which events an endpoint gets.
//!
//! scimd pushes the events of its log (docs/events.md) to endpoints in one of two formats:
//!
//! - **Webhooks**, per Standard Webhooks 1.0: the event's JSON as the body, signed with the
//!   endpoint's HMAC secret ([`signature`]: [`WebhookSecret`], [`sign`]).
//! - **SCIM events**, per RFC 9967: each event as an RFC 8417 Security Event Token, signed with
//!   the server's Ed25519 key and pushed per RFC 8935 ([`set`]: [`set_claims`], [`sign_set`]).
//!
//! Either way:
//!
//! - [`ssrf`] keeps deliveries away from internal addresses: [`check_url`] on the endpoint's URL
//!   and [`GuardedResolver`] on what its name resolves to.
//! - [`schedule`] says when a failed delivery is tried again ([`RetrySchedule`]) and reads the
//!   receiver's `Retry-After` ([`retry_after`]).
//! - [`filter`] picks the event types an endpoint receives ([`EventFilter`]).
//!
//! Nothing here reads the clock or a random source: times and random bytes are parameters, so
//! every rule is tested with fixed values. The one network call is the name resolution in
//! [`GuardedResolver`], which reqwest makes when it connects.
#![warn(missing_docs)]

pub mod deliver;
pub mod error;
pub mod filter;
pub mod schedule;
pub mod set;
pub mod signature;
pub mod ssrf;

pub use deliver::{Deliverer, DeliveryMetrics, Settings};
pub use error::EventsError;
pub use filter::{EventFilter, PING, Pattern};
pub use schedule::{MAX_RETRY_AFTER, RetrySchedule, retry_after};
pub use set::{Mode, PushError, push_succeeded, set_claims, sign_set};
pub use signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret, sign};
pub use ssrf::{GuardedResolver, check_url, refusal, refused};
