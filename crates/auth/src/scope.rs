//! What a credential may do: scopes (operations) and, optionally, the collections it may touch.

use std::fmt;
use std::str::FromStr;

/// An operation family. `admin` may do everything, including managing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    /// `POST /v1/detect`.
    FacesDetect,
    /// `POST /v1/compare`, `POST /v1/verify-id`.
    FacesCompare,
    /// Listing and reading collections and faces, and searching them.
    CollectionsRead,
    /// Creating and deleting collections, indexing and deleting faces.
    CollectionsWrite,
    /// Registering, reading and deleting users, revoking their tokens.
    Users,
    /// Liveness checks and sessions.
    Liveness,
    /// `GET /metrics`.
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::Admin,
        Scope::FacesDetect,
        Scope::FacesCompare,
        Scope::CollectionsRead,
        Scope::CollectionsWrite,
        Scope::Users,
        Scope::Liveness,
        Scope::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::FacesDetect => "faces:detect",
            Scope::FacesCompare => "faces:compare",
            Scope::CollectionsRead => "collections:read",
            Scope::CollectionsWrite => "collections:write",
            Scope::Users => "users",
            Scope::Liveness => "liveness",
            Scope::Metrics => "metrics",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; scopes are: admin, faces:detect, faces:compare, collections:read, collections:write, users, liveness, metrics")]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s).ok_or_else(|| ScopeError(s.to_string()))
    }
}

/// What the caller of a request may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The key id (`admin` for the configured admin key, `anonymous` on an open loopback server).
    pub key_id: String,
    pub scopes: Vec<Scope>,
    /// `None`: every collection.
    pub collections: Option<Vec<String>>,
    /// The S3 buckets it may read and write (`S3Object` inputs, liveness output), among those the server opens to
    /// callers; `None`: every one of those.
    pub buckets: Option<Vec<String>>,
    /// Whether requests count against a stored key's usage and quota.
    pub stored: bool,
}

/// The owner of what a caller without a key creates through an open route (`open_routes`): no key reaches it.
pub const ANONYMOUS: &str = "anonymous";

impl Access {
    /// A caller without a key on an open route: these scopes, no stored key, owner [`ANONYMOUS`].
    pub fn anonymous(scopes: Vec<Scope>) -> Self {
        Access { key_id: ANONYMOUS.to_string(), scopes, collections: None, buckets: None, stored: false }
    }

    /// Whether this is a caller without a key on an open route.
    pub fn is_anonymous(&self) -> bool {
        !self.stored && self.key_id == ANONYMOUS
    }

    /// Everything, everywhere (the configured admin key; every caller of an open loopback server).
    pub fn unrestricted(key_id: &str) -> Self {
        Access {
            key_id: key_id.to_string(),
            scopes: vec![Scope::Admin],
            collections: None,
            buckets: None,
            stored: false,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.is_admin() || self.scopes.contains(&scope)
    }

    /// Whether the caller may touch the collection `id` (admin keys and keys without a collection list may
    /// touch all).
    pub fn may_use_collection(&self, id: &str) -> bool {
        match &self.collections {
            None => true,
            Some(list) => list.iter().any(|c| c == id),
        }
    }

    /// Whether the caller's own list lets it read or write the S3 bucket `name` (admin keys and keys without a
    /// bucket list: yes; the server's own limits apply on top).
    pub fn may_use_bucket(&self, name: &str) -> bool {
        self.is_admin() || self.buckets.as_ref().is_none_or(|list| list.iter().any(|b| b == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_unknown_ones_are_named() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        let e = "collections:delete".parse::<Scope>().unwrap_err();
        assert!(e.to_string().contains("collections:delete"));
    }

    #[test]
    fn access_checks() {
        let reader = Access {
            key_id: "k".into(),
            scopes: vec![Scope::CollectionsRead],
            collections: Some(vec!["a".into()]),
            buckets: Some(vec!["faces".into()]),
            stored: true,
        };
        assert!(reader.allows(Scope::CollectionsRead));
        assert!(!reader.allows(Scope::CollectionsWrite));
        assert!(reader.may_use_collection("a"));
        assert!(!reader.may_use_collection("b"));
        assert!(reader.may_use_bucket("faces") && !reader.may_use_bucket("other"));
        let admin = Access::unrestricted("admin");
        assert!(admin.allows(Scope::Users) && admin.may_use_collection("b") && admin.may_use_bucket("other"));
    }
}
