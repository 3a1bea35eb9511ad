//! Dataset identity for mlprov: readers that stream records from JSON Lines, JSON arrays,
//! CSV/TSV, Parquet, text and folders of files (compressed or not); a canonical record form
//! and exact record digests; an order-independent dataset digest; a bottom-k sketch for
//! exact overlap; MinHash (text) and perceptual hashes (images) for near duplicates;
//! privacy signals; all of it mergeable across shards. `docs/datasets.md` documents every
//! construction and estimate.

// Two unsafe blocks, each calling an AVX2 build of a loop after checking that the CPU has
// AVX2 (the throughput targets need the wider lanes): the MinHash loop in `minhash`, and
// the canonical check of a string's content in `canonical_fast`. Nothing else may.
#![deny(unsafe_code)]

pub mod bottomk;
pub mod canonical;
pub mod canonical_fast;
pub mod compare;
pub mod digests;
mod error;
pub mod exact;
pub mod identity;
pub mod lsh;
#[allow(unsafe_code)]
pub mod minhash;
pub mod phash;
pub mod privacy;
pub mod readers;
pub mod record;
pub mod scan;
pub mod sketch;

pub use error::{Error, Result};
