//! Web & SDK processes and Magic Links: created by the API, finished by their journeys.

use crate::StoreResult;
use crate::model::*;
use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::web::WebProcessRecord;

/// Web & SDK processes and Magic Links, and the captures their journeys refused.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait Journeys: Send + Sync {
    /// Stores a new Web & SDK process, completing its idempotency record in the same
    /// transaction when there is one.
    fn insert_web_process(
        &self,
        process: &WebProcessRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()>;
    /// A Web & SDK process of a tenant (`None` for another tenant's).
    fn web_process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WebProcessRecord>>;
    /// A Web & SDK process by id alone (the journey, authenticated by the process token).
    fn web_process_by_id(&self, id: &str) -> StoreResult<Option<WebProcessRecord>>;
    /// A tenant's Web & SDK processes with this client reference, newest first, at most `limit`.
    fn web_processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebProcessRecord>>;
    /// Records the person's capture, once, only before the process expires (the capture's
    /// `at` is compared with the expiry in the same statement) and never once its personal
    /// data were forgotten: `false` otherwise.
    fn complete_web_process(
        &self,
        process: &WebProcessRecord,
        event: Option<&EventDraft>,
    ) -> StoreResult<bool>;
    /// Sets the document of a process created without one, once: `false` when it had one or
    /// its personal data were forgotten.
    fn set_web_document(&self, process: &WebProcessRecord) -> StoreResult<bool>;
    /// Counts a selfie the journey of Web & SDK process `id` refused at the engines' gates at
    /// `now`; the journey's count so far (`None`: it takes no capture any more — captured,
    /// forgotten or expired by `now`).
    fn refuse_web_capture(&self, id: &str, now: i64) -> StoreResult<Option<u32>>;
    /// Counts a selfie the journey of magic link `token` refused at the engines' gates; the
    /// count so far (`None`: the link takes no capture any more).
    fn refuse_link_capture(&self, token: &str) -> StoreResult<Option<u32>>;
    /// Stores a new magic link, completing its idempotency record in the same transaction.
    fn insert_magic_link(
        &self,
        link: &MagicLinkRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()>;
    /// A magic link of a tenant by token (`None` for another tenant's).
    fn magic_link(&self, tenant_id: &str, token: &str) -> StoreResult<Option<MagicLinkRecord>>;
    /// A magic link by token alone (the journey: the token is the credential).
    fn magic_link_by_token(&self, token: &str) -> StoreResult<Option<MagicLinkRecord>>;
    /// Records the journey's capture, once: `false` when the link was already used or its
    /// personal data were forgotten (a scrub and a capture never overwrite each other).
    fn complete_magic_link(&self, link: &MagicLinkRecord) -> StoreResult<bool>;
}
