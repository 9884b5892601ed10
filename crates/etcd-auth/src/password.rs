//! Password hashing: bcrypt, as etcd stores passwords, with the cost of `--bcrypt-cost`.
//!
//! Hashing and checking cost tens of milliseconds each at the default cost by design: callers run them off the
//! raft apply path and off the threads that serve requests.

/// etcd's default `--bcrypt-cost` (Go's `bcrypt.DefaultCost`).
pub const DEFAULT_BCRYPT_COST: u32 = 10;
/// The smallest cost bcrypt takes.
pub const MIN_BCRYPT_COST: u32 = 4;
/// The largest cost bcrypt takes.
pub const MAX_BCRYPT_COST: u32 = 31;

/// A cost outside bcrypt's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid bcrypt-cost {0}: it must be between {MIN_BCRYPT_COST} and {MAX_BCRYPT_COST}")]
pub struct BadCost(pub u32);

/// Hashes `password` into the "$2a$" form Go's bcrypt writes.
pub fn hash_password(password: &str, cost: u32) -> Result<String, BadCost> {
    if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(BadCost(cost));
    }
    bcrypt::hash_with_result(password, cost)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|_| BadCost(cost))
}

/// Whether `password` matches `hash` (any of bcrypt's "$2a$", "$2b$", "$2y$" forms); a malformed hash matches
/// nothing.
pub fn password_matches(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_go_writes_them_and_checks_them() {
        let hash = hash_password("secret", MIN_BCRYPT_COST).expect("hash");
        assert!(hash.starts_with("$2a$04$"), "{hash}");
        assert!(password_matches("secret", &hash));
        assert!(!password_matches("Secret", &hash));
        assert!(!password_matches("secret", "not a hash"));
        assert_eq!(hash_password("x", 3), Err(BadCost(3)));
        assert_eq!(hash_password("x", 32), Err(BadCost(32)));
    }
}
