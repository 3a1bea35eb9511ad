//! The manifest's `dataset` section (present when `subject.kind` is `dataset`): the
//! dataset's identity, its mergeable sketches, privacy counts and how it was read. Hex and
//! integers only, so the manifest stays free of floats and reproducible byte for byte;
//! rates and intervals are computed when datasets are compared. `docs/datasets.md`
//! documents every field.

use mlprov_hash::Digest;
use serde::{Deserialize, Serialize};

/// Everything a manifest records about a dataset beyond its files and root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSection {
    /// How the records were read and hashed.
    pub reader: ReaderSettings,
    /// Records read.
    pub records: u64,
    /// Distinct record digests.
    pub distinct_records: u64,
    /// Bytes of the records' canonical forms.
    pub bytes: u64,
    /// The bottom-k sketch of the distinct record digests.
    pub bottom_k: BottomKSection,
    /// The near-duplicate sample.
    pub near: NearSection,
    /// Records holding personal-data patterns (counts only, never values).
    pub privacy: PrivacySection,
    /// Present in a shard's manifest only (`dataset fingerprint --shard K/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSection>,
}

/// How the records were read and hashed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderSettings {
    /// The format forced with `--format`, if any (otherwise each file's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The content field or column, if any (otherwise the whole record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Whether every file was one record.
    pub per_file: bool,
    /// The split read, if only one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// The canonical form's version (`mlprov.canonical/v1`).
    pub canonical: String,
    /// Whether text was lower-cased.
    pub case_fold: bool,
    /// Whether record digests are keyed (BLAKE3 keyed mode).
    pub keyed: bool,
    /// A public identifier of the key, when keyed (16 hex digits; reveals nothing of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// The k smallest distinct record digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BottomKSection {
    /// Sketch size.
    pub k: u64,
    /// The digests, ascending, 64 hex digits each.
    pub digests: Vec<String>,
}

/// A sample of records (the smallest digests) with their near-duplicate keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearSection {
    /// The MinHash construction (`mlprov.minhash/v1`).
    pub minhash: String,
    /// MinHash permutations.
    pub permutations: u64,
    /// The perceptual hash construction (`mlprov.phash/v1`).
    pub phash: String,
    /// Target sample size (of text records, and of images).
    pub sample_size: u64,
    /// Text records read (records with a MinHash signature).
    pub text_records: u64,
    /// Images read (records with a perceptual hash).
    pub image_records: u64,
    /// Sampled text records, by ascending digest.
    pub text: Vec<TextSample>,
    /// Sampled images, by ascending digest.
    pub images: Vec<ImageSample>,
}

/// One sampled text record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSample {
    /// Its record digest, 64 hex digits.
    pub digest: String,
    /// Where it is: `file#record`.
    pub record: String,
    /// Its MinHash signature: little-endian `u32`s in hex.
    pub minhash: String,
}

/// One sampled image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSample {
    /// Its record digest, 64 hex digits.
    pub digest: String,
    /// Where it is: `file#1`.
    pub record: String,
    /// Its 64-bit perceptual hash, 16 hex digits.
    pub phash: String,
}

/// Records holding each personal-data pattern.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacySection {
    /// E-mail addresses.
    pub email: u64,
    /// Phone numbers.
    pub phone: u64,
    /// IP addresses.
    pub ip_address: u64,
    /// Payment card numbers passing the Luhn check.
    pub payment_card: u64,
    /// IBANs passing their checksum.
    pub iban: u64,
    /// Any of these.
    pub any: u64,
}

/// Which slice of the dataset's files a shard manifest covers, and its record digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSection {
    /// This shard, `0..count`.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
    /// File name (beside the manifest) of the shard's sorted record digests, 32 raw bytes each.
    pub digests_file: String,
    /// Plain BLAKE3 of that file.
    pub digests_digest: Digest,
}
