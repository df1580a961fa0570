//! Which event types an endpoint receives.
//!
//! Standard Webhooks 1.0, "Event types": "It is also recommended to let webhook consumers choose
//! which event types they would like to receive for which endpoints, and do the filtering on the
//! producing end." Its naming recommendation ("an hierarchical, and full-stop delimited, list of
//! identifiers") is what scimd's types already are, so a family is the first identifier:
//! `user.*`, `group.*`.

use std::fmt;
use std::str::FromStr;

use scimd_store::EventType;

use crate::EventsError;

/// The families a `family.*` pattern may name.
pub const FAMILIES: [&str; 2] = ["user", "group"];

/// The type of a test delivery: not an event of the log, sent on request to check an endpoint's
/// URL, secret and receiver. A ping is queued for its endpoint directly, never fanned out, so no
/// filter holds it back.
pub const PING: &str = "ping";

/// One pattern of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `*`: every type.
    All,
    /// `user.*` or `group.*`: the types of one family.
    Family(&'static str),
    /// One type, such as `user.deactivated`.
    Exact(EventType),
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
        EventType::parse(s).map(Self::Exact)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Family(family) => write!(f, "{family}.*"),
            Self::Exact(t) => f.write_str(t.as_str()),
        }
    }
}

/// An endpoint's event-type filter, as an administrator gives it: validated and made canonical
/// here, stored as its patterns' text, and applied when the log is fanned out
/// ([`scimd_store::delivery::type_matches`]: an event goes when any pattern matches its type).
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
}

/// The accepted patterns, for error messages.
fn valid() -> String {
    let mut all = vec!["*".to_owned()];
    all.extend(FAMILIES.iter().map(|f| format!("{f}.*")));
    all.extend(EventType::ALL.iter().map(|t| t.as_str().to_owned()));
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

    /// What a filter lets through, as fan-out applies its stored text.
    fn keeps(f: &EventFilter, t: &str) -> bool {
        let stored: Vec<String> = f.patterns().iter().map(ToString::to_string).collect();
        scimd_store::delivery::type_matches(&stored, t)
    }

    fn types() -> impl Iterator<Item = &'static str> {
        EventType::ALL.into_iter().map(EventType::as_str)
    }

    #[test]
    fn exact_family_and_all() {
        let f = EventFilter::parse(["user.deactivated", "group.*"]).unwrap();
        assert!(keeps(&f, "user.deactivated"));
        assert!(!keeps(&f, "user.created"));
        for t in types().filter(|t| t.starts_with("group.")) {
            assert!(keeps(&f, t), "{t}");
        }
        let all = EventFilter::all();
        assert!(types().all(|t| keeps(&all, t)));
        assert_eq!(all, "*".parse().unwrap());
        let users: EventFilter = "user.*".parse().unwrap();
        assert_eq!(types().filter(|t| keeps(&users, t)).count(), 5);
        assert!(!keeps(&users, "userx.created"));
        assert!(!keeps(&users, "user"));
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
        assert_eq!(f.patterns(), [Pattern::Exact(EventType::UserDeactivated), Pattern::Family("group")]);
        assert_eq!(f.to_string(), "user.deactivated,group.*");
        assert_eq!(f.to_string().parse::<EventFilter>().unwrap(), f);
    }
}
