//! Helpers shared by the fingerprint test suites.

/// One SplitMix64 step: advances `state` and returns the next pseudo-random word.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Symmetric 4-bit quantization in blocks of 32, dequantized back to f32 (the round trip a
/// GPTQ-style block quantizer leaves).
pub fn q4_round_trip(m: &[f32]) -> Vec<f32> {
    m.chunks(32)
        .flat_map(|b| {
            let s = b.iter().fold(0f32, |a, v| a.max(v.abs())) / 7.0;
            b.iter().map(move |v| {
                if s > 0.0 {
                    (v / s).round().clamp(-8.0, 7.0) * s
                } else {
                    0.0
                }
            })
        })
        .collect()
}
