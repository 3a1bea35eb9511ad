//! The SQLite store: one file, WAL mode (readers never wait for the writer), a busy timeout
//! (writers from other processes wait their turn), every write in a `BEGIN IMMEDIATE`
//! transaction (so two appends can never read the same audit head).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mlprov_fingerprint::ModelFingerprint;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::audit::{seq_from, AuditEntry, AuditEvent, AuditKind};
use crate::codec::{decode_fingerprint, encode_fingerprint};
use crate::lsh::index_keys;
use crate::{
    digest_from, now, schema, Asset, AssetId, AssetKind, Digest, Error, Registration, Result,
    Store, BASE_ROLE, SCHEMA_VERSION,
};

/// How long a writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it and its folder on first use) and migrates the registry at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at_version(path, SCHEMA_VERSION)
    }

    /// Opens and migrates only up to `version` (for testing migrations of older registries).
    #[doc(hidden)]
    pub fn open_at_version(path: &Path, version: i64) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        // SQLite answers "busy" at once, without waiting in the busy handler, while another
        // process converts a fresh file to WAL or recovers its WAL index; those windows are
        // short, so opening starts over until the busy timeout has passed.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            let attempt = Connection::open(path)
                .map_err(|e| sql_err(path, e))
                .and_then(|conn| {
                    let mut store = SqliteStore {
                        conn,
                        path: path.to_path_buf(),
                    };
                    store.setup(version).map(|()| store)
                });
            match attempt {
                Ok(store) => return Ok(store),
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The assets a one-parameter query on `digests` returns (`?1`: the digest).
    fn assets_by_digest(&mut self, query: &str, digest: &Digest) -> Result<Vec<AssetId>> {
        let mut stmt = self
            .conn
            .prepare_cached(query)
            .map_err(|e| sql_err(&self.path, e))?;
        let ids = stmt
            .query_map([digest.as_bytes().as_slice()], |r| r.get(0).map(AssetId))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| sql_err(&self.path, e))?;
        Ok(ids)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_err(&self.path, e)
    }

    fn setup(&mut self, version: i64) -> Result<()> {
        let path = self.path.clone();
        let e = |err| sql_err(&path, err);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(e)?;
        // WAL persists in the file; setting it again is a no-op.
        self.conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(e)?;
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(e)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .map_err(e)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        if current > SCHEMA_VERSION {
            return Err(Error::Newer {
                location: path.display().to_string(),
                found: current,
            });
        }
        for v in current..version {
            tx.execute_batch(schema::SQLITE[v as usize]).map_err(e)?;
            tx.execute("INSERT INTO schema_version VALUES (?1)", [v + 1])
                .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The schema version of the open registry.
    pub fn schema_version(&mut self) -> Result<i64> {
        self.conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// The database connection, for tools and tests that work on the tables directly.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Whether SQLite refused for another connection's lock (worth trying again).
fn is_busy(e: &Error) -> bool {
    let Error::Sqlite { source, .. } = e else {
        return false;
    };
    matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn sql_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Sqlite {
        location: path.display().to_string(),
        source,
    }
}

/// Appends an entry inside an open write transaction.
fn append(tx: &rusqlite::Transaction<'_>, event: &AuditEvent) -> rusqlite::Result<AuditEntry> {
    let (seq, hash): (i64, Vec<u8>) =
        tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // A head that does not decode is chained from as zeros: verify reports it.
    let prev = digest_from(&hash).unwrap_or(crate::GENESIS);
    let entry = AuditEntry::next(seq.max(0) as u64, prev, now(), event);
    tx.execute(
        "INSERT INTO audit (seq, time, kind, actor, payload, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            entry.seq as i64,
            entry.time,
            entry.kind,
            entry.actor,
            entry.payload,
            entry.prev.as_bytes().as_slice(),
            entry.hash.as_bytes().as_slice()
        ],
    )?;
    tx.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
        params![entry.seq as i64, entry.hash.as_bytes().as_slice()],
    )?;
    Ok(entry)
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn register(&mut self, reg: &Registration) -> Result<AssetId> {
        let path = self.path.clone();
        let e = |err| sql_err(&path, err);
        let fingerprint = reg.fingerprint.as_ref().map(encode_fingerprint);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute(
            "INSERT INTO assets (kind, name, root, manifest, licence, registered, fingerprint, actor,
                                 signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                reg.kind.as_str(),
                reg.name,
                reg.root.as_bytes().as_slice(),
                reg.manifest,
                reg.licence,
                now(),
                fingerprint,
                reg.actor,
                reg.signature
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        {
            let mut digest = tx
                .prepare("INSERT OR IGNORE INTO digests (digest, role, asset) VALUES (?1, ?2, ?3)")
                .map_err(e)?;
            let roles = [("root", std::slice::from_ref(&reg.root))]
                .into_iter()
                .chain([("file", reg.file_digests.as_slice())])
                .chain([(reg.content_role(), reg.tensor_digests.as_slice())])
                .chain([(BASE_ROLE, reg.base_roots.as_slice())]);
            for (role, digests) in roles {
                for d in digests {
                    digest
                        .execute(params![d.as_bytes().as_slice(), role, id])
                        .map_err(e)?;
                }
            }
            let mut lsh = tx
                .prepare("INSERT OR IGNORE INTO lsh (bandkey, asset) VALUES (?1, ?2)")
                .map_err(e)?;
            if let Some(fp) = &reg.fingerprint {
                for key in index_keys(fp) {
                    lsh.execute(params![key, id]).map_err(e)?;
                }
            }
            let mut licensee = tx
                .prepare("INSERT OR IGNORE INTO licensees (asset, name) VALUES (?1, ?2)")
                .map_err(e)?;
            for name in &reg.licensees {
                licensee.execute(params![id, name]).map_err(e)?;
            }
        }
        append(&tx, &register_event(reg, AssetId(id))).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(AssetId(id))
    }

    fn asset(&mut self, id: AssetId) -> Result<Option<Asset>> {
        let row = self
            .conn
            .query_row(
                "SELECT kind, name, root, manifest, licence, registered, actor,
                        COALESCE(length(fingerprint), 0), signature
                 FROM assets WHERE id = ?1",
                [id.0],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((kind, name, root, manifest, licence, registered, actor, fp, signature)) = row
        else {
            return Ok(None);
        };
        Ok(Some(Asset {
            id,
            kind: AssetKind::parse(&kind)?,
            name,
            root: digest_from(&root)?,
            manifest,
            licence,
            registered,
            actor,
            fingerprint_bytes: fp.max(0) as u64,
            signature,
        }))
    }

    fn find_by_digest(&mut self, digest: &Digest) -> Result<Vec<AssetId>> {
        self.assets_by_digest(
            "SELECT DISTINCT asset FROM digests WHERE digest = ?1 AND role <> 'base' \
             ORDER BY asset",
            digest,
        )
    }

    fn derived_from(&mut self, base_root: &Digest) -> Result<Vec<AssetId>> {
        self.assets_by_digest(
            "SELECT asset FROM digests WHERE digest = ?1 AND role = 'base' ORDER BY asset",
            base_root,
        )
    }

    fn candidates(&mut self, bands: &[i64], min_band_hits: u32) -> Result<Vec<(AssetId, u32)>> {
        // One statement per chunk of band keys: SQLite seeks each key in the (bandkey,
        // asset) index and counts per asset itself. A lookup key of up to 2,000 tensors is
        // one chunk, so the minimum applies inside the query; more chunks add up here.
        const CHUNK: usize = 32_000;
        let chunks: Vec<&[i64]> = bands.chunks(CHUNK).collect();
        let min_in_query = if chunks.len() == 1 {
            min_band_hits.max(1)
        } else {
            1
        };
        let mut hits: HashMap<i64, u32> = HashMap::new();
        for chunk in chunks {
            let sql = format!(
                "SELECT asset, COUNT(*) FROM lsh WHERE bandkey IN ({}) GROUP BY asset
                 HAVING COUNT(*) >= {min_in_query}",
                vec!["?"; chunk.len()].join(",")
            );
            let mut stmt = self
                .conn
                .prepare_cached(&sql)
                .map_err(|e| sql_err(&self.path, e))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(chunk), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| sql_err(&self.path, e))?;
            for (asset, n) in rows {
                *hits.entry(asset).or_default() += n.clamp(0, u32::MAX as i64) as u32;
            }
        }
        Ok(rank(hits, min_band_hits))
    }

    fn fingerprint(&mut self, id: AssetId) -> Result<Option<ModelFingerprint>> {
        let bytes: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT fingerprint FROM assets WHERE id = ?1",
                [id.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        bytes.flatten().map(|b| decode_fingerprint(&b)).transpose()
    }

    fn licensees(&mut self, id: AssetId) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM licensees WHERE asset = ?1 ORDER BY name")
            .map_err(|e| sql_err(&self.path, e))?;
        let names = stmt
            .query_map([id.0], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| sql_err(&self.path, e))?;
        Ok(names)
    }

    fn audit_append(&mut self, event: &AuditEvent) -> Result<AuditEntry> {
        let path = self.path.clone();
        let e = |err| sql_err(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let entry = append(&tx, event).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(entry)
    }

    fn audit_entries(&mut self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, time, kind, actor, payload, prev, hash FROM audit ORDER BY seq")
            .map_err(|e| sql_err(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| sql_err(&self.path, e))?;
        rows.into_iter()
            .map(|(seq, time, kind, actor, payload, prev, hash)| {
                Ok(AuditEntry {
                    seq: seq_from(seq)?,
                    time,
                    kind,
                    actor,
                    payload,
                    prev: digest_from(&prev)?,
                    hash: digest_from(&hash)?,
                })
            })
            .collect()
    }

    fn audit_head(&mut self) -> Result<(u64, Digest)> {
        let (seq, hash): (i64, Vec<u8>) = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?;
        Ok((seq_from(seq)?, digest_from(&hash)?))
    }

    fn asset_count(&mut self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM assets", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }
}

/// The `register` audit entry of a registration.
pub(crate) fn register_event(reg: &Registration, id: AssetId) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::Register,
        actor: reg.actor.clone(),
        payload: serde_json::json!({
            "asset": id.0,
            "kind": reg.kind.as_str(),
            "signed": !reg.signature.is_empty(),
            "name": reg.name,
            "root": reg.root,
            "licensees": reg.licensees,
        }),
    }
}

/// Hit counts at or above the minimum, most hits first, then lowest number.
pub(crate) fn rank(hits: HashMap<i64, u32>, min_band_hits: u32) -> Vec<(AssetId, u32)> {
    let mut out: Vec<(AssetId, u32)> = hits
        .into_iter()
        .filter(|&(_, n)| n >= min_band_hits.max(1))
        .map(|(a, n)| (AssetId(a), n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}
