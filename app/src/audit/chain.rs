//! The hash chain over audit entries and its verifier.
