//! What tensor names hint at: the layer a tensor belongs to and the norm gain in front of
//! a matrix. Names choose normalizations and group layers for alignment; they are never
//! evidence of lineage.

use crate::model::TensorFingerprint;

/// A norm gain: a vector of the residual width named as a norm.
pub(crate) fn is_gain(t: &TensorFingerprint, width: usize) -> bool {
    let name = t.name.to_lowercase();
    t.shape.iter().filter(|&&d| d != 1).count() == 1
        && t.elements as usize == width
        && !name.contains("bias")
        && (name.contains("norm")
            || name.contains("ln_")
            || name.contains("ln1")
            || name.contains("ln2"))
}

/// Which sub-block a name belongs to, from the naming conventions of common families.
/// (Names only choose which gain to fold; they are never evidence of lineage.)
#[derive(PartialEq, Eq, Clone, Copy)]
enum Block {
    Attention,
    Mlp,
}

/// The sub-block of a name: MLP words are tried first (`post_attention_layernorm` is the
/// MLP's norm), then attention words.
fn block_of(name: &str, mlp: &[&str], attention: &[&str]) -> Option<Block> {
    let n = name.to_lowercase();
    if mlp.iter().any(|p| n.contains(p)) {
        Some(Block::Mlp)
    } else if attention.iter().any(|p| n.contains(p)) {
        Some(Block::Attention)
    } else {
        None
    }
}

/// The sub-block a norm gain feeds.
fn gain_block(name: &str) -> Option<Block> {
    const MLP: [&str; 6] = [
        "post_attention",
        "ffn",
        "mlp",
        "ln_2",
        "ln2",
        "feed_forward",
    ];
    const ATTN: [&str; 5] = ["input_layernorm", "attn", "attention", "ln_1", "ln1"];
    block_of(name, &MLP, &ATTN)
}

/// The sub-block a matrix belongs to.
fn matrix_block(name: &str) -> Option<Block> {
    const MLP: [&str; 8] = [
        "mlp",
        "ffn",
        "feed_forward",
        "gate",
        "up_proj",
        "fc1",
        "c_fc",
        "intermediate",
    ];
    const ATTN: [&str; 9] = [
        "attn",
        "attention",
        "query",
        "key",
        "value",
        "q_proj",
        "k_proj",
        "v_proj",
        "wq",
    ];
    block_of(name, &MLP, &ATTN)
}

/// The layer a tensor name carries: a path segment that is a number right after a word
/// that means layer (`blk.7.`, `layers.7.`, `h.7.`, `/layer.7/`). Other numbers are not
/// layers: `model.0.` (a wrapper's index), `onnx::MatMul_481`, `w17`.
pub(crate) fn layer_of(name: &str) -> Option<u32> {
    const LAYER_WORDS: [&str; 8] = [
        "layers", "layer", "blk", "h", "block", "blocks", "encoder", "decoder",
    ];
    let segments: Vec<&str> = name.split(['.', '/', ':']).collect();
    let number = |i: usize| segments[i].parse::<u32>().ok();
    (1..segments.len())
        .filter(|&i| LAYER_WORDS.contains(&segments[i - 1].to_lowercase().as_str()))
        .find_map(number)
}

/// The gain in front of a reading matrix: the only gain of its layer, or the one of the
/// same sub-block; matrices outside layers take the only gain outside layers (final norm).
pub(crate) fn gain_for(matrix: &str, gains: &[(&str, Vec<f32>)]) -> Option<usize> {
    let layer = layer_of(matrix);
    let same: Vec<usize> = (0..gains.len())
        .filter(|&g| layer_of(gains[g].0) == layer)
        .collect();
    match same.as_slice() {
        [] => None,
        [g] => Some(*g),
        many => {
            let block = matrix_block(matrix)?;
            let hits: Vec<usize> = many
                .iter()
                .copied()
                .filter(|&g| gain_block(gains[g].0) == Some(block))
                .collect();
            (hits.len() == 1).then(|| hits[0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_follow_the_sub_block() {
        let g = vec![0f32; 4];
        let gains = [
            ("model.layers.3.input_layernorm.weight", g.clone()),
            ("model.layers.3.post_attention_layernorm.weight", g.clone()),
            ("model.norm.weight", g.clone()),
        ];
        assert_eq!(
            gain_for("model.layers.3.self_attn.q_proj.weight", &gains),
            Some(0)
        );
        assert_eq!(
            gain_for("model.layers.3.mlp.up_proj.weight", &gains),
            Some(1)
        );
        assert_eq!(gain_for("lm_head.weight", &gains), Some(2));
        assert_eq!(gain_for("model.layers.4.mlp.up_proj.weight", &gains), None);
        let gguf = [
            ("blk.0.attn_norm.weight", g.clone()),
            ("blk.0.ffn_norm.weight", g),
        ];
        assert_eq!(gain_for("blk.0.attn_k.weight", &gguf), Some(0));
        assert_eq!(gain_for("blk.0.ffn_gate.weight", &gguf), Some(1));
    }

    #[test]
    fn layers_are_numbers_after_a_layer_word() {
        assert_eq!(
            layer_of("model.0.auto_model.encoder.layer.3.attention.self.query.weight"),
            Some(3)
        );
        assert_eq!(layer_of("blk.7.attn_q.weight"), Some(7));
        assert_eq!(layer_of("transformer.h.11.mlp.c_fc.weight"), Some(11));
        assert_eq!(layer_of("/encoder/layer.5/attention/MatMul"), Some(5));
        assert_eq!(layer_of("onnx::MatMul_481"), None);
        assert_eq!(layer_of("w17"), None);
        assert_eq!(layer_of("model.0.weight"), None);
    }
}
