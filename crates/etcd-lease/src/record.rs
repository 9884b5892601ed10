//! One lease as the v3 backend stores it; the format is in the crate documentation.

/// The backend table leases live in (etcd's bucket name).
pub const LEASE_TABLE: &str = "lease";

/// The version of the record format.
pub const RECORD_FORMAT: u8 = 1;

const LEN: usize = 25;

/// A lease's persisted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The lease ID.
    pub id: i64,
    /// The granted TTL in seconds.
    pub ttl: i64,
    /// Milliseconds left as of the last grant, renewal or checkpoint.
    pub remaining_ms: i64,
    /// How many renewals were applied.
    pub renewals: u64,
}

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease record {key:02x?} does not decode: {why}")]
pub struct RecordError {
    key: Vec<u8>,
    why: &'static str,
}

impl Record {
    /// The record's key in [`LEASE_TABLE`].
    pub fn key(&self) -> [u8; 8] {
        self.id.to_be_bytes()
    }

    /// The record's value.
    pub fn value(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0] = RECORD_FORMAT;
        out[1..9].copy_from_slice(&self.ttl.to_be_bytes());
        out[9..17].copy_from_slice(&self.remaining_ms.to_be_bytes());
        out[17..25].copy_from_slice(&self.renewals.to_be_bytes());
        out
    }

    /// Reads a record back from its key and value.
    pub fn decode(key: &[u8], value: &[u8]) -> Result<Self, RecordError> {
        let fail = |why| RecordError {
            key: key.to_vec(),
            why,
        };
        let id: [u8; 8] = key.try_into().map_err(|_| fail("the key is not 8 bytes"))?;
        if value.first() != Some(&RECORD_FORMAT) {
            return Err(fail("unknown record format"));
        }
        if value.len() != LEN {
            return Err(fail("wrong length"));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&value[at..at + 8]);
            b
        };
        Ok(Self {
            id: i64::from_be_bytes(id),
            ttl: i64::from_be_bytes(word(1)),
            remaining_ms: i64::from_be_bytes(word(9)),
            renewals: u64::from_be_bytes(word(17)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let r = Record {
            id: -5,
            ttl: 60,
            remaining_ms: 12_345,
            renewals: 3,
        };
        assert_eq!(Record::decode(&r.key(), &r.value()), Ok(r));
        assert!(Record::decode(&r.key()[..7], &r.value()).is_err());
        assert!(Record::decode(&r.key(), &r.value()[..24]).is_err());
        let mut newer = r.value();
        newer[0] = 2;
        assert!(Record::decode(&r.key(), &newer).is_err());
    }
}
