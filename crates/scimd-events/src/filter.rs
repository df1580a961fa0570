//! Which event types an endpoint receives.
//!
//! Standard Webhooks 1.0, "Event types": "It is also recommended to let webhook consumers choose
//! which event types they would like to receive for which endpoints, and do the filtering on the
//! producing end." Its naming recommendation ("an hierarchical, and full-stop delimited, list of
//! identifiers") is what scimd's types already are, so a family is the first identifier:
//! `user.*`, `group.*`.

use std::fmt;
use std::str::FromStr;

use crate::EventsError;

/// Every scimd event type (docs/events.md, "Types").
pub const EVENT_TYPES: [&str; 10] = [
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
];

/// The families a `family.*` pattern may name.
pub const FAMILIES: [&str; 2] = ["user", "group"];

/// The type of a test delivery: not an event of the log, sent on request to check an endpoint's
/// URL, secret and receiver. Every filter matches it (see [`EventFilter::matches`]).
pub const PING: &str = "ping";

/// One pattern of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `*`: every type.
    All,
    /// `user.*` or `group.*`: the types of one family.
    Family(&'static str),
    /// One type, such as `user.deactivated`.
    Exact(&'static str),
}

impl Pattern {
    /// The pattern `s`, if it is one; case-sensitive, as the types are.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Self::All);
        }
        if let Some(family) = s.strip_suffix(".*") {
            return FAMILIES.into_iter().find(|f| *f == family).map(Self::Family);
        }
        EVENT_TYPES.into_iter().find(|t| *t == s).map(Self::Exact)
    }

    /// Whether an event of `type_name` matches.
    #[must_use]
    pub fn matches(self, type_name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Family(f) => type_name.split_once('.').is_some_and(|(family, _)| family == f),
            Self::Exact(t) => t == type_name,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Family(family) => write!(f, "{family}.*"),
            Self::Exact(t) => f.write_str(t),
        }
    }
}

/// An endpoint's event-type filter: an event is delivered when any pattern matches its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Vec<Pattern>,
}

impl EventFilter {
    /// The filter of every type (`*`).
    #[must_use]
    pub fn all() -> Self {
        Self { patterns: vec![Pattern::All] }
    }

    /// A filter of these patterns, duplicates dropped.
    ///
    /// # Errors
    /// [`EventsError::Filter`] for an unknown pattern, naming the valid ones, or for none at all:
    /// an endpoint that receives nothing is a mistake, and `*` says "everything" explicitly.
    pub fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, EventsError> {
        let mut parsed = Vec::new();
        for p in patterns {
            let Some(pattern) = Pattern::parse(p) else {
                return Err(EventsError::Filter(format!("unknown event type {p:?}; valid: {}", valid())));
            };
            if !parsed.contains(&pattern) {
                parsed.push(pattern);
            }
        }
        if parsed.is_empty() {
            return Err(EventsError::Filter(format!("no event types given; valid: {}", valid())));
        }
        Ok(Self { patterns: parsed })
    }

    /// The patterns, in the order given.
    #[must_use]
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether an event of `type_name` is delivered to the endpoint.
    ///
    /// [`PING`] always matches: a test delivery checks that the endpoint is reachable and
    /// verifies signatures, whatever types it subscribed to, and an endpoint filtered to
    /// `group.*` must still be testable.
    #[must_use]
    pub fn matches(&self, type_name: &str) -> bool {
        type_name == PING || self.patterns.iter().any(|p| p.matches(type_name))
    }
}

/// The accepted patterns, for error messages.
fn valid() -> String {
    let mut all = vec!["*".to_owned()];
    all.extend(FAMILIES.iter().map(|f| format!("{f}.*")));
    all.extend(EVENT_TYPES.iter().map(|t| (*t).to_owned()));
    all.join(", ")
}

impl FromStr for EventFilter {
    type Err = EventsError;

    /// Comma-separated patterns, spaces around them ignored: `user.deactivated, group.*`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.split(',').map(str::trim).filter(|p| !p.is_empty()))
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_family_and_all() {
        let f = EventFilter::parse(["user.deactivated", "group.*"]).unwrap();
        assert!(f.matches("user.deactivated"));
        assert!(!f.matches("user.created"));
        for t in EVENT_TYPES.iter().filter(|t| t.starts_with("group.")) {
            assert!(f.matches(t), "{t}");
        }
        let all = EventFilter::all();
        assert!(EVENT_TYPES.iter().all(|t| all.matches(t)));
        assert_eq!(all, "*".parse().unwrap());
        let users: EventFilter = "user.*".parse().unwrap();
        assert_eq!(EVENT_TYPES.iter().filter(|t| users.matches(t)).count(), 5);
        assert!(!users.matches("userx.created"));
        assert!(!users.matches("user"));
    }

    #[test]
    fn ping_passes_every_filter() {
        for f in ["user.created", "group.*", "*"] {
            assert!(f.parse::<EventFilter>().unwrap().matches(PING), "{f}");
        }
    }

    #[test]
    fn refuses_unknown_patterns_naming_the_valid_ones() {
        for bad in
            ["user", "users.*", "User.created", "user.**", ".*", "*.*", "user.created ", "ping", "device.*"]
        {
            let e = EventFilter::parse([bad]).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("user.*, group.*, user.created"), "{e}");
            assert!(e.contains("group.member_removed"), "{e}");
        }
        assert!(EventFilter::parse([]).unwrap_err().to_string().contains("no event types"));
        assert!("".parse::<EventFilter>().is_err());
        assert!(" , ".parse::<EventFilter>().is_err());
    }

    #[test]
    fn parses_lists_and_prints_them_back() {
        let f: EventFilter = " user.deactivated , group.*,user.deactivated".parse().unwrap();
        assert_eq!(f.patterns(), [Pattern::Exact("user.deactivated"), Pattern::Family("group")]);
        assert_eq!(f.to_string(), "user.deactivated,group.*");
        assert_eq!(f.to_string().parse::<EventFilter>().unwrap(), f);
    }
}
