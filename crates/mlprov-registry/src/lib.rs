//! The mlprov registry: what was registered (manifests, exact digests, fingerprints with
//! invariants, licensees), an LSH index over tensor SimHashes for sub-linear lookup, and an
//! append-only, hash-chained audit log.
//!
//! One [`Store`] trait, two implementations that pass one test suite: [`SqliteStore`] (a
//! file, the default, zero set-up) and [`PgStore`] (a PostgreSQL server shared by many
//! scanners on many machines). [`open`] picks one from a location: a `postgres://` or
//! `postgresql://` URL, otherwise a file path. See `docs/registry.md`.

#![forbid(unsafe_code)]

mod audit;
mod codec;
mod lsh;
mod pg;
mod schema;
mod sqlite;

use std::fmt;
use std::path::PathBuf;

use mlprov_fingerprint::ModelFingerprint;
pub use mlprov_hash::Digest;
use serde::{Deserialize, Serialize};

pub use audit::{verify_chain, AuditEntry, AuditEvent, AuditKind, ChainBreak, GENESIS};
pub use codec::{decode_fingerprint, encode_fingerprint};
pub use lsh::{
    band_keys, index_keys, indexed_kernel_simhashes, indexed_simhashes, kernel_band_keys, BANDS,
    BAND_BITS, INDEXED_TENSORS,
};
pub use pg::PgStore;
pub use sqlite::SqliteStore;

/// The schema version this build creates and reads (see `docs/registry.md`).
pub const SCHEMA_VERSION: i64 = 3;

/// The number of a registered asset, unique within one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetId(pub i64);

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of asset a registration describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// A model (weights).
    Model,
    /// A dataset.
    Dataset,
}

impl AssetKind {
    /// `model` or `dataset`.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Model => "model",
            AssetKind::Dataset => "dataset",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "model" => Ok(AssetKind::Model),
            "dataset" => Ok(AssetKind::Dataset),
            other => Err(Error::Corrupt(format!("unknown asset kind {other:?}"))),
        }
    }
}

/// Everything one registration stores. The registry appends a `register` audit entry for it
/// in the same transaction, so an asset never exists without its entry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Model or dataset.
    pub kind: AssetKind,
    /// A human name (the manifest's subject name).
    pub name: String,
    /// The manifest, JSON text as written.
    pub manifest: String,
    /// The Merkle root (models) or the order-independent digest (datasets).
    pub root: Digest,
    /// Every file's digest.
    pub file_digests: Vec<Digest>,
    /// Content digests: every tensor's (models; role `tensor`), or the smallest record
    /// digests of the bottom-k sketch (datasets; role `record`), which a scan looks up.
    pub tensor_digests: Vec<Digest>,
    /// Roots of the models it was derived from (its manifest's `derived_from`; role
    /// `base`): [`Store::derived_from`] lists a base's fine-tunes by them.
    pub base_roots: Vec<Digest>,
    /// The fingerprint with invariants (models), enough to run the lineage test without
    /// the weights; its largest tensors' SimHashes enter the LSH index.
    pub fingerprint: Option<ModelFingerprint>,
    /// Licence or agreement terms, as text (empty when none).
    pub licence: String,
    /// Who the asset is licensed to.
    pub licensees: Vec<String>,
    /// Who registers it (recorded in the audit entry).
    pub actor: String,
    /// A signature over the manifest (a DSSE envelope, JSON), or empty.
    pub signature: String,
}

impl Registration {
    /// The role its content digests are stored under.
    pub fn content_role(&self) -> &'static str {
        match self.kind {
            AssetKind::Dataset => "record",
            _ => "tensor",
        }
    }
}

/// A registered asset as stored (without its fingerprint: see [`Store::fingerprint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// Its number.
    pub id: AssetId,
    /// Model or dataset.
    pub kind: AssetKind,
    /// Its name.
    pub name: String,
    /// Its root digest.
    pub root: Digest,
    /// The manifest JSON text.
    pub manifest: String,
    /// Licence or terms text.
    pub licence: String,
    /// When it was registered (RFC 3339, UTC).
    pub registered: String,
    /// Who registered it.
    pub actor: String,
    /// Bytes of the stored (compressed) fingerprint, 0 without one.
    pub fingerprint_bytes: u64,
    /// A signature over the manifest (a DSSE envelope, JSON), or empty.
    #[serde(default)]
    pub signature: String,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQLite database failed.
    #[error("registry {location}: {source}")]
    Sqlite {
        /// The file.
        location: String,
        /// The database's error.
        source: rusqlite::Error,
    },
    /// The PostgreSQL server failed.
    #[error("registry {location}: {source}")]
    Postgres {
        /// The URL, without its password.
        location: String,
        /// The server's or driver's error.
        source: postgres::Error,
    },
    /// A registry file's folder cannot be created.
    #[error("registry {}: cannot create its folder: {source}", path.display())]
    Folder {
        /// The registry file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A registry written by a newer mlprov.
    #[error(
        "registry {location}: schema version {found} is newer than this build's {SCHEMA_VERSION}"
    )]
    Newer {
        /// The registry.
        location: String,
        /// The version found.
        found: i64,
    },
    /// Stored data that does not decode.
    #[error("registry data is corrupt: {0}")]
    Corrupt(String),
    /// No usable location (no `HOME`, no `XDG_DATA_HOME`).
    #[error(
        "no registry location: pass --registry or set MLPROV_REGISTRY (no HOME to default to)"
    )]
    NoLocation,
}

/// The result of a registry operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A registry: one implementation per database, one behaviour (one test suite).
pub trait Store: Send {
    /// Where it is (a file path or a URL without password), for messages.
    fn location(&self) -> String;
    /// Stores a registration and its `register` audit entry in one transaction.
    fn register(&mut self, registration: &Registration) -> Result<AssetId>;
    /// The asset with this number, if any.
    fn asset(&mut self, id: AssetId) -> Result<Option<Asset>>;
    /// The assets holding this digest as a file digest, a content digest or their root
    /// (not as a base's root).
    fn find_by_digest(&mut self, digest: &Digest) -> Result<Vec<AssetId>>;
    /// The assets registered as derived from the model with this root
    /// ([`Registration::base_roots`]), lowest number first.
    fn derived_from(&mut self, base_root: &Digest) -> Result<Vec<AssetId>>;
    /// Assets sharing at least `min_band_hits` of these LSH band keys ([`band_keys`],
    /// [`kernel_band_keys`]), most hits first (then lowest number).
    fn candidates(&mut self, bands: &[i64], min_band_hits: u32) -> Result<Vec<(AssetId, u32)>>;
    /// The stored fingerprint of an asset (`None` for an unknown asset or one without).
    fn fingerprint(&mut self, id: AssetId) -> Result<Option<ModelFingerprint>>;
    /// The licensees of an asset, sorted.
    fn licensees(&mut self, id: AssetId) -> Result<Vec<String>>;
    /// Appends one audit entry (serialized against every other writer) and returns it.
    fn audit_append(&mut self, event: &AuditEvent) -> Result<AuditEntry>;
    /// Every audit entry, by sequence number.
    fn audit_entries(&mut self) -> Result<Vec<AuditEntry>>;
    /// The chain's head as recorded: last sequence number and its entry digest.
    fn audit_head(&mut self) -> Result<(u64, Digest)>;
    /// Number of registered assets.
    fn asset_count(&mut self) -> Result<u64>;
}

/// Opens the registry at `location`: a `postgres://` (or `postgresql://`) URL, or a
/// SQLite file path (created, with its folder, on first use).
pub fn open(location: &str) -> Result<Box<dyn Store>> {
    if is_postgres_url(location) {
        Ok(Box::new(PgStore::connect(location)?))
    } else {
        Ok(Box::new(SqliteStore::open(location.as_ref())?))
    }
}

/// Whether a location names a PostgreSQL server.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The default registry file: `$XDG_DATA_HOME/mlprov/registry.sqlite`, else
/// `$HOME/.local/share/mlprov/registry.sqlite`.
pub fn default_location() -> Result<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let base = match nonempty("XDG_DATA_HOME") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(nonempty("HOME").ok_or(Error::NoLocation)?).join(".local/share"),
    };
    Ok(base.join("mlprov").join("registry.sqlite"))
}

/// The role under which a model's bases' roots are stored: looked up only by
/// [`Store::derived_from`], never by [`Store::find_by_digest`] (a base's root must not make
/// its fine-tunes candidates for a copy of the base).
pub(crate) const BASE_ROLE: &str = "base";

/// Now as RFC 3339 UTC with milliseconds.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A stored 32-byte digest.
pub(crate) fn digest_from(bytes: &[u8]) -> Result<Digest> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt(format!("a digest of {} bytes", bytes.len())))?;
    Ok(Digest(arr))
}
