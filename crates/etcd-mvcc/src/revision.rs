//! Revisions: `(main, sub)`, one main revision per write request and one sub revision per change inside it.
//!
//! On disk a revision is 16 bytes, `main` then `sub`, both big-endian `u64` (revisions are never negative), so the
//! backend's byte order is revision order.

/// The position of one change in the store's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    /// The write request's revision: what clients see as `mod_revision` and `create_revision`.
    pub main: i64,
    /// The change's place inside that request (0 for the first).
    pub sub: i64,
}

impl Revision {
    /// A revision.
    pub const fn new(main: i64, sub: i64) -> Self {
        Self { main, sub }
    }

    /// The 16-byte big-endian key of this revision in the backend.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&(self.main as u64).to_be_bytes());
        out[8..].copy_from_slice(&(self.sub as u64).to_be_bytes());
        out
    }

    /// Reads a backend key; `None` when it is not 16 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let main: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        let sub: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
        if bytes.len() != 16 {
            return None;
        }
        Some(Self::new(
            u64::from_be_bytes(main) as i64,
            u64::from_be_bytes(sub) as i64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_bytes_sort_as_revisions() {
        let a = Revision::new(1, 9);
        let b = Revision::new(2, 0);
        assert!(a.to_bytes() < b.to_bytes());
        assert_eq!(Revision::from_bytes(&b.to_bytes()), Some(b));
        assert_eq!(Revision::from_bytes(&[0; 15]), None);
        assert_eq!(Revision::from_bytes(&[0; 17]), None);
    }
}
