//! Scopes (docs/operations.md, `scimd token create`): what a credential may do. Shared by static tokens,
//! OAuth clients and the access tokens issued to them, so a scope means the same whichever way a
//! caller authenticated.

use std::fmt;

/// One SCIM permission (the scope names are listed in docs/operations.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read Users (GET, list, search).
    UsersRead,
    /// Create Users (POST).
    UsersCreate,
    /// Change Users (PUT, PATCH).
    UsersUpdate,
    /// Delete Users.
    UsersDelete,
    /// Read Groups.
    GroupsRead,
    /// Create Groups.
    GroupsCreate,
    /// Change Groups (PUT, PATCH, membership).
    GroupsUpdate,
    /// Delete Groups.
    GroupsDelete,
    /// The admin API (`/admin/v1/...`) of the credential's own tenant. Not one of the SCIM scopes:
    /// `scim` and a token created without `--scope` do not include it.
    Admin,
    /// Read the tenant's event log (`/admin/v1/tenants/{slug}/events`, docs/events.md): for the
    /// application that acts on provisioning, which needs no other admin right. `admin` includes it.
    EventsRead,
}

impl Scope {
    /// Every scope, in canonical order: the eight SCIM scopes, then `admin` and `events:read`.
    pub const ALL: [Scope; 10] = [
        Scope::UsersRead,
        Scope::UsersCreate,
        Scope::UsersUpdate,
        Scope::UsersDelete,
        Scope::GroupsRead,
        Scope::GroupsCreate,
        Scope::GroupsUpdate,
        Scope::GroupsDelete,
        Scope::Admin,
        Scope::EventsRead,
    ];

    /// The canonical name (`users:read`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersCreate => "users:create",
            Scope::UsersUpdate => "users:update",
            Scope::UsersDelete => "users:delete",
            Scope::GroupsRead => "groups:read",
            Scope::GroupsCreate => "groups:create",
            Scope::GroupsUpdate => "groups:update",
            Scope::GroupsDelete => "groups:delete",
            Scope::Admin => "admin",
            Scope::EventsRead => "events:read",
        }
    }

    /// What the scope allows, in a few words for people (the consent page, the console).
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Scope::UsersRead => "Read users",
            Scope::UsersCreate => "Create users",
            Scope::UsersUpdate => "Update and deactivate users",
            Scope::UsersDelete => "Delete users",
            Scope::GroupsRead => "Read groups",
            Scope::GroupsCreate => "Create groups",
            Scope::GroupsUpdate => "Update groups and their members",
            Scope::GroupsDelete => "Delete groups",
            Scope::Admin => "Administer this tenant (clients, tokens, logs)",
            Scope::EventsRead => "Read the log of what was provisioned (events)",
        }
    }

    /// The Auth0-style names that stand for this scope ([`Scopes::parse_name`]).
    #[must_use]
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            Scope::UsersRead => &["get:users"],
            Scope::UsersCreate => &["post:users"],
            Scope::UsersUpdate => &["put:users", "patch:users"],
            Scope::UsersDelete => &["delete:users"],
            Scope::GroupsRead => &["get:groups"],
            Scope::GroupsCreate => &["post:groups"],
            Scope::GroupsUpdate => &["put:groups", "patch:groups"],
            Scope::GroupsDelete => &["delete:groups"],
            Scope::Admin | Scope::EventsRead => &[],
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no scope scimd knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; known scopes: {known}", known = Scopes::KNOWN_NAMES.join(", "))]
pub struct UnknownScope(pub String);

/// A set of [`Scope`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u16);

impl Scopes {
    /// Every name accepted, canonical names first, then `scim` and the Auth0-style aliases.
    pub const KNOWN_NAMES: [&'static str; 21] = [
        "users:read",
        "users:create",
        "users:update",
        "users:delete",
        "groups:read",
        "groups:create",
        "groups:update",
        "groups:delete",
        "scim",
        "get:users",
        "post:users",
        "put:users",
        "patch:users",
        "delete:users",
        "get:groups",
        "post:groups",
        "put:groups",
        "patch:groups",
        "delete:groups",
        "admin",
        "events:read",
    ];

    /// No scope.
    #[must_use]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// All eight SCIM scopes (what `scim` stands for, and what a token created without `--scope`
    /// gets).
    #[must_use]
    pub const fn all() -> Self {
        Self(0xff)
    }

    /// The scopes one name stands for: a canonical name, `scim` (all eight), or an Auth0-style
    /// alias (`get:users` = `users:read`, `post:users` = `users:create`, `put:users` and
    /// `patch:users` = `users:update`, `delete:users` = `users:delete`; the same for groups).
    /// Names are case-sensitive, as OAuth scope tokens are (RFC 6749 §3.3).
    #[must_use]
    pub fn parse_name(name: &str) -> Option<Self> {
        let one = |s: Scope| Some(Self(s.bit()));
        match name {
            "scim" => Some(Self::all()),
            "users:read" | "get:users" => one(Scope::UsersRead),
            "users:create" | "post:users" => one(Scope::UsersCreate),
            "users:update" | "put:users" | "patch:users" => one(Scope::UsersUpdate),
            "users:delete" | "delete:users" => one(Scope::UsersDelete),
            "groups:read" | "get:groups" => one(Scope::GroupsRead),
            "groups:create" | "post:groups" => one(Scope::GroupsCreate),
            "groups:update" | "put:groups" | "patch:groups" => one(Scope::GroupsUpdate),
            "groups:delete" | "delete:groups" => one(Scope::GroupsDelete),
            "admin" => one(Scope::Admin),
            "events:read" => one(Scope::EventsRead),
            _ => None,
        }
    }

    /// The union of the scopes the names stand for; the first unknown name is an error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownScope> {
        names.into_iter().try_fold(Self::empty(), |acc, n| {
            Self::parse_name(n).map(|s| acc.union(s)).ok_or_else(|| UnknownScope(n.to_owned()))
        })
    }

    /// Like [`Scopes::parse`] but skips names it does not know (stored credentials may carry scopes
    /// of a later version, such as `admin`, which grant nothing here).
    #[must_use]
    pub fn parse_lenient<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().filter_map(Self::parse_name).fold(Self::empty(), Self::union)
    }

    /// Both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `self` is in `other` (RFC 6749 §3.3: a client may be granted at most
    /// what it was registered for).
    #[must_use]
    pub const fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The RFC 6749 §3.3 `scope` value: canonical names separated by single spaces.
    #[must_use]
    pub fn to_scope_string(self) -> String {
        self.names().join(" ")
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes held, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Canonical names of the scopes held: what the store keeps.
    #[must_use]
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Scope::as_str)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_parses_to_its_scope() {
        for scope in Scope::ALL {
            for alias in scope.aliases() {
                assert_eq!(
                    Scopes::parse_name(alias).map(|s| s.iter().collect::<Vec<_>>()),
                    Some(vec![scope]),
                    "{alias}"
                );
            }
        }
        let listed: usize = Scope::ALL.iter().map(|s| s.aliases().len()).sum();
        let aliases = Scopes::KNOWN_NAMES
            .iter()
            .filter(|n| {
                n.starts_with(|c: char| c.is_ascii_lowercase())
                    && (n.starts_with("get:")
                        || n.starts_with("post:")
                        || n.starts_with("put:")
                        || n.starts_with("patch:")
                        || n.starts_with("delete:"))
            })
            .count();
        assert_eq!(listed, aliases, "every Auth0-style name is some scope's alias");
    }

    #[test]
    fn scope_names_and_aliases() {
        assert_eq!(Scopes::parse(["scim"]).unwrap(), Scopes::all());
        assert_eq!(Scopes::parse(["get:users"]).unwrap(), Scopes::parse(["users:read"]).unwrap());
        let upd = Scopes::parse(["users:update"]).unwrap();
        assert_eq!(Scopes::parse(["put:users"]).unwrap(), upd);
        assert_eq!(Scopes::parse(["patch:users"]).unwrap(), upd);
        assert_eq!(
            Scopes::parse(["delete:groups"]).unwrap().iter().collect::<Vec<_>>(),
            [Scope::GroupsDelete]
        );
        assert_eq!(Scopes::parse(["users:read", "nope"]), Err(UnknownScope("nope".into())));
        assert!(Scopes::parse(["Users:Read"]).is_err(), "scope names are case-sensitive");
        assert_eq!(Scopes::parse_lenient(["later:scope", "groups:read"]).names(), ["groups:read"]);
        assert!(!Scopes::all().contains(Scope::Admin), "scim does not open the admin API");
        assert_eq!(Scopes::parse(["admin"]).unwrap().names(), ["admin"]);
        assert_eq!(Scopes::all().names().len(), 8);
        assert!(Scopes::empty().is_empty());
        let read = Scopes::parse(["users:read"]).unwrap();
        assert!(read.is_subset_of(Scopes::all()) && !Scopes::all().is_subset_of(read));
        assert_eq!(
            Scopes::parse(["groups:read", "users:read"]).unwrap().to_scope_string(),
            "users:read groups:read"
        );
        for name in Scopes::KNOWN_NAMES {
            assert!(Scopes::parse_name(name).is_some(), "{name}");
        }
        for s in Scope::ALL {
            assert_eq!(Scopes::parse([s.as_str()]).unwrap().iter().collect::<Vec<_>>(), [s]);
        }
    }

    #[test]
    fn unknown_scope_message_lists_the_known_ones() {
        let msg = UnknownScope("users:write".into()).to_string();
        assert!(msg.contains("users:write") && msg.contains("users:update") && msg.contains("patch:users"));
    }
}
