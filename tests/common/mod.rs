//! What the library-level lineage suites share: writing two generated models and running
//! the lineage test on them exactly as users run it.

#![allow(dead_code)] // each suite uses part of it

pub mod generated;

use mlprov::fingerprint::Comparison;
use mlprov_testkit::{write_in, Tensor};

/// Writes `a` and `b` as safetensors files and compares them with [`mlprov::compare`].
pub fn compare_written(a: &[Tensor], b: &[Tensor]) -> Comparison {
    let dir = mlprov_testkit::tempdir();
    let (pa, pb) = (
        write_in(dir.path(), "a.safetensors", a),
        write_in(dir.path(), "b.safetensors", b),
    );
    let (ma, mb) = (mlprov::open(&pa).unwrap(), mlprov::open(&pb).unwrap());
    mlprov::compare(&ma, &mb, &mlprov::Quiet).unwrap()
}
