//! Identifiers minted on the hot paths. Ids that must not be guessed (processes, token ids,
//! webhook events) come from aws-lc's in-process CSPRNG (a per-thread DRBG, no system call per
//! id, unlike `uuid`'s `getrandom` per call). Request ids only need to be unique: they come from
//! a per-thread generator seeded once from that CSPRNG.

use std::cell::Cell;
use uuid::{Builder, Uuid};

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's DRBG does not fail once the process is seeded; should it ever, `getrandom`
    // through `uuid` is the fallback.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes.copy_from_slice(&Uuid::new_v4().as_bytes()[..N]);
    }
    bytes
}

/// A random (version 4) UUID.
pub fn uuid_v4() -> Uuid {
    Builder::from_random_bytes(random()).into_uuid()
}

thread_local! {
    /// The request-id generator's state (SplitMix64), seeded from the CSPRNG on first use.
    static REQUEST_ID_STATE: Cell<u64> = Cell::new(u64::from_le_bytes(random()));
}

/// The next output of this thread's SplitMix64 generator (seeds differ between threads and
/// processes; a request id keeps 74 of its bits, so ids are unique with overwhelming
/// probability, not by construction).
fn next_request_bits() -> u64 {
    REQUEST_ID_STATE.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A time-ordered (version 7) UUID for `unix_millis`, unique but not unpredictable: for request
/// ids, never for anything that grants access.
pub fn request_id(unix_millis: u64) -> Uuid {
    let (high, low) = (next_request_bits(), next_request_bits());
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&high.to_le_bytes());
    bits[8..].copy_from_slice(&low.to_le_bytes()[..2]);
    Builder::from_unix_timestamp_millis(unix_millis, &bits).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_version_and_differ() {
        let a = uuid_v4();
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(a, uuid_v4());
        let b = request_id(1_700_000_000_123);
        assert_eq!(b.get_version_num(), 7);
        let many: std::collections::HashSet<Uuid> =
            (0..10_000).map(|_| request_id(1_700_000_000_123)).collect();
        assert_eq!(
            many.len(),
            10_000,
            "request ids within one millisecond differ"
        );
        let (secs, nanos) = b.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_700_000_000, 123));
    }
}
