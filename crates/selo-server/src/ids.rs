//! Identifiers minted on the hot paths, from aws-lc's in-process CSPRNG (a per-thread DRBG,
//! no system call per id, unlike `uuid`'s `getrandom` per call).

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

/// A time-ordered (version 7) UUID for `unix_millis`.
pub fn uuid_v7(unix_millis: u64) -> Uuid {
    Builder::from_unix_timestamp_millis(unix_millis, &random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_version_and_differ() {
        let a = uuid_v4();
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(a, uuid_v4());
        let b = uuid_v7(1_700_000_000_123);
        assert_eq!(b.get_version_num(), 7);
        assert_ne!(b, uuid_v7(1_700_000_000_123));
        let (secs, nanos) = b.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_700_000_000, 123));
    }
}
