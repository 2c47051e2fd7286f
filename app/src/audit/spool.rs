//! The durable local spool: group-committed JSONL with a hash chain.
