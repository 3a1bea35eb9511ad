//! Notes for display (tensors skipped and why, quantized tensors left unlinked) and the
//! clipping of free text shown from a model.

use std::collections::BTreeMap;

/// Notes of one kind (skipped tensors, unlinked quantized tensors) kept in the metadata.
pub(super) const MAX_NOTES: usize = 64;
/// Characters kept of free text (doc strings, metadata values) shown for display.
const MAX_TEXT_CHARS: usize = 256;

/// Notes for display: tensors skipped and why, quantized tensors left unlinked.
#[derive(Default)]
pub(super) struct Notes {
    entries: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, usize>,
}

impl Notes {
    /// Records `text` under `<kind>.<subject>`; only the first [`MAX_NOTES`] of a kind are kept,
    /// and `<kind>_count` says how many there were.
    pub(super) fn add(&mut self, kind: &'static str, subject: &str, text: String) {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        if *n <= MAX_NOTES {
            self.entries
                .insert(format!("{kind}.{}", clip(subject)), text);
        }
    }

    pub(super) fn merge(&mut self, other: Notes) {
        for (k, v) in other.entries {
            self.entries.entry(k).or_insert(v);
        }
        for (k, n) in other.counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
    }

    pub(super) fn finish(self, metadata: &mut BTreeMap<String, String>) {
        metadata.extend(self.entries);
        for (kind, n) in self.counts {
            metadata.insert(format!("{kind}_count"), n.to_string());
        }
    }
}

/// `s` cut to [`MAX_TEXT_CHARS`] characters, with an ellipsis when cut.
pub(super) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
