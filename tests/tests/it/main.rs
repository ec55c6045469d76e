//! Cross-process integration tests: real `agora-hub` and `agora-node` binaries on loopback (built by
//! `cargo build --bins` first; `scripts/test` does that). One binary, as reth's `tests/it` does.

mod credentials;
mod expected;
mod fake_hub;
mod federation;
mod ingest;
mod privacy;
