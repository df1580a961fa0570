//! The one error type of the crate.

/// Why an event could not be signed, built or delivered, or a setting was refused.
///
/// The messages are written for the operator who typed the setting or reads the delivery log:
/// each names what was wrong and, where there is a fixed set of choices, what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// A delivery's transport could not be set up (the HTTP client, a NATS connection).
    #[error("{0}")]
    Transport(String),

    /// A webhook secret that is not `whsec_` + standard base64 of 24 to 64 random bytes.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(&'static str),

    /// The scimd event lacks a member the SET needs, or has one of the wrong shape.
    #[error("cannot build a SET from this event: {0}")]
    Event(String),

    /// The SET could not be signed (the key does not fit the algorithm).
    #[error("cannot sign the SET: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),

    /// A webhook URL that is not an acceptable target (scheme, credentials, host).
    #[error("webhook URL {url}: {reason}")]
    Url {
        /// The URL as given (credentials removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A host or address the SSRF guard does not let a delivery reach.
    #[error("{host} is not a permitted webhook target: {reason}")]
    Refused {
        /// The host name or address literal.
        host: String,
        /// Which range it falls in and why that range is refused.
        reason: &'static str,
    },

    /// The host name could not be resolved.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },

    /// A retry schedule that does not parse.
    #[error("invalid retry schedule {input:?}: {reason}")]
    Schedule {
        /// The schedule as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An event-type filter that does not parse.
    #[error("invalid event-type filter: {0}")]
    Filter(String),
}
