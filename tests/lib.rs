//! The integration suite lives in `suite/`; this crate has no library code.
