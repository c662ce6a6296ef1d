//! API contract: processes, validation, scenarios.
