//! `agora-chain` will hold Agora's ledger anchoring: a `Ledger` trait with an embedded backend (the default,
//! no external service), an EVM backend (Polygon through alloy) and a Starknet backend, anchoring consent
//! hashes, dataset commitments, audit-log roots and GS1 EPCIS 2.0 / DSCSA supply-chain event hashes.
//! Nothing is implemented yet; see the ledger issue.
