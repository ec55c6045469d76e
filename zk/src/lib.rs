//! `agora-zk` will hold Agora's STARK proofs (winterfell): the versioned dataset commitment a node
//! publishes, the AIR that proves each aggregate of an answer (counts, sums, sums of squares, histogram
//! bins, group cells, and that a suppressed cell is below the threshold) was computed over exactly the
//! committed snapshot with the query's predicate, and a verifier that links no prover-only code so the hub
//! and auditors can check archived answers offline. Nothing is implemented yet; see the STARK issue.
