//! Tests of the sandbox practice: fixture facts, lookups and writebacks.
