//! Fuzzes the ggml reader: any bytes must give tensors or an error, never a panic,
//! a hang or an allocation larger than the input justifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlprov_formats::{fuzz_parse, Sniffed};

fuzz_target!(|data: &[u8]| {
    let _ = fuzz_parse(Sniffed::Ggml, data);
});
