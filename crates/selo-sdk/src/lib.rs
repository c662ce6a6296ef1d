//! Selo client SDK (work in progress).
