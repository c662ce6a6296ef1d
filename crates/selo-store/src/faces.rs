//! The faces the local engines compare (CONTRACT §17): the identity base (faces enrolled per
//! tenant under a person code) and each process's face. Embeddings are biometric personal
//! data: stored per tenant, never logged, never returned by the server, erased with their
//! identity or when their process's window ends.

use crate::StoreResult;

/// Most faces one identity holds; an enrolment over it is refused (remove the identity and
/// enrol again).
pub const MAX_FACES_PER_IDENTITY: u32 = 20;

/// One identity of the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySummary {
    /// The person's code.
    pub code: String,
    /// Faces enrolled under it.
    pub faces: u32,
    /// When its latest face was enrolled, Unix seconds.
    pub enrolled_at: i64,
}

/// What an enrolment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    /// Enrolled: the code's faces now.
    Enrolled(u32),
    /// Nothing enrolled: the code would hold more than [`MAX_FACES_PER_IDENTITY`] faces; it
    /// holds this many.
    Full(u32),
}

/// The identity base and the process faces.
pub trait Faces: Send + Sync {
    /// Enrols `embeddings` under `code` at `at`, all or none.
    fn enroll(
        &self,
        tenant_id: &str,
        code: &str,
        embeddings: &[Vec<f32>],
        at: i64,
    ) -> StoreResult<Enrolment>;
    /// The faces enrolled under `code`.
    fn identity_faces(&self, tenant_id: &str, code: &str) -> StoreResult<Vec<Vec<f32>>>;
    /// The tenant's identities (only `code`'s when given), by code.
    fn identities(&self, tenant_id: &str, code: Option<&str>) -> StoreResult<Vec<IdentitySummary>>;
    /// Erases the faces enrolled under `code`; how many there were.
    fn remove_identity(&self, tenant_id: &str, code: &str) -> StoreResult<u32>;
    /// The face of a process (`None`: absent, another tenant's, without a face, or past its
    /// window).
    fn process_face(&self, tenant_id: &str, process_id: &str) -> StoreResult<Option<Vec<f32>>>;
}

/// The 1:N search of the fraud check, apart from the store that holds the faces so that a
/// backend can answer it with a vector index instead of a scan.
pub trait FaceSearch: Send + Sync {
    /// The distance from `embedding` to the nearest face the tenant enrolled under any code
    /// other than `code` (`None`: there is none).
    fn nearest_other(
        &self,
        tenant_id: &str,
        code: &str,
        embedding: &[f32],
    ) -> StoreResult<Option<f32>>;
}

/// An embedding as stored: its floats, little-endian.
pub fn to_bytes(embedding: &[f32]) -> Vec<u8> {
    embedding.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An embedding from its stored bytes (`None`: not a whole number of floats).
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    bytes.len().is_multiple_of(4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_round_trip_their_bytes() {
        let e = vec![0.5, -1.25, f32::MIN_POSITIVE];
        assert_eq!(from_bytes(&to_bytes(&e)), Some(e));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
    }
}
