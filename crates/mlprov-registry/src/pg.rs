//! The PostgreSQL store: one registry shared by many scanners on many machines. Appends to
//! the audit log lock the head row (`SELECT … FOR UPDATE`) inside their transaction, so
//! concurrent writers queue on it and the chain never forks; migrations run under an
//! advisory lock.

use std::collections::HashMap;

use mlprov_fingerprint::ModelFingerprint;
use postgres::{Client, NoTls, Transaction};

use crate::audit::{seq_from, AuditEntry, AuditEvent};
use crate::codec::{decode_fingerprint, encode_fingerprint};
use crate::lsh::index_keys;
use crate::sqlite::{rank, register_event};
use crate::{
    digest_from, now, schema, Asset, AssetId, AssetKind, Digest, Error, Registration, Result,
    Store, BASE_ROLE, SCHEMA_VERSION,
};

/// Key of the advisory lock migrations hold ("mlprov" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d6c_7072_6f76;

/// A registry on a PostgreSQL server.
pub struct PgStore {
    client: Client,
    location: String,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the schema.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_at_version(url, SCHEMA_VERSION)
    }

    /// Connects and migrates only up to `version` (for testing migrations).
    #[doc(hidden)]
    pub fn connect_at_version(url: &str, version: i64) -> Result<Self> {
        let location = without_password(url);
        let client = Client::connect(url, NoTls).map_err(|source| Error::Postgres {
            location: location.clone(),
            source,
        })?;
        let mut store = PgStore { client, location };
        store.migrate(version)?;
        Ok(store)
    }

    /// The assets a one-parameter query on `digests` returns (`$1`: the digest).
    fn assets_by_digest(&mut self, query: &str, digest: &Digest) -> Result<Vec<AssetId>> {
        let d = digest.as_bytes().to_vec();
        let rows = self.client.query(query, &[&d]).map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| AssetId(r.get(0))).collect())
    }

    fn err(&self, source: postgres::Error) -> Error {
        pg_err(&self.location, source)
    }

    fn migrate(&mut self, version: i64) -> Result<()> {
        let location = self.location.clone();
        let e = |err| pg_err(&location, err);
        let mut tx = self.client.transaction().map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(e)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .map_err(e)?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .map_err(e)?
            .get(0);
        if current > SCHEMA_VERSION {
            return Err(Error::Newer {
                location,
                found: current,
            });
        }
        for v in current..version {
            tx.batch_execute(schema::POSTGRES[v as usize]).map_err(e)?;
            tx.execute("INSERT INTO schema_version VALUES ($1)", &[&(v + 1)])
                .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The schema version of the registry.
    pub fn schema_version(&mut self) -> Result<i64> {
        let row = self
            .client
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .map_err(|e| pg_err(&self.location, e))?;
        Ok(row.get(0))
    }

    /// The database connection, for tools and tests that work on the tables directly.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

fn pg_err(location: &str, source: postgres::Error) -> Error {
    Error::Postgres {
        location: location.to_string(),
        source,
    }
}

/// The URL with any password replaced by `***` (it ends up in messages).
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Appends an entry inside an open transaction, holding the head row's lock until commit.
fn append(tx: &mut Transaction<'_>, event: &AuditEvent) -> Result<AuditEntry, postgres::Error> {
    let head = tx.query_one(
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        &[],
    )?;
    let (seq, hash): (i64, Vec<u8>) = (head.get(0), head.get(1));
    let prev = digest_from(&hash).unwrap_or(crate::GENESIS);
    let entry = AuditEntry::next(seq.max(0) as u64, prev, now(), event);
    let (seq, prev, hash) = (
        entry.seq as i64,
        entry.prev.as_bytes().to_vec(),
        entry.hash.as_bytes().to_vec(),
    );
    tx.execute(
        "INSERT INTO audit (seq, time, kind, actor, payload, prev, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &seq,
            &entry.time,
            &entry.kind,
            &entry.actor,
            &entry.payload,
            &prev,
            &hash,
        ],
    )?;
    tx.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[&seq, &hash],
    )?;
    Ok(entry)
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn register(&mut self, reg: &Registration) -> Result<AssetId> {
        let location = self.location.clone();
        let e = |err| pg_err(&location, err);
        let fingerprint = reg.fingerprint.as_ref().map(encode_fingerprint);
        let mut tx = self.client.transaction().map_err(e)?;
        let root = reg.root.as_bytes().to_vec();
        let id: i64 = tx
            .query_one(
                "INSERT INTO assets (kind, name, root, manifest, licence, registered, fingerprint, actor,
                                     signature)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &reg.kind.as_str(),
                    &reg.name,
                    &root,
                    &reg.manifest,
                    &reg.licence,
                    &now(),
                    &fingerprint,
                    &reg.actor,
                    &reg.signature,
                ],
            )
            .map_err(e)?
            .get(0);
        let mut digests: Vec<Vec<u8>> = Vec::new();
        let mut roles: Vec<&str> = Vec::new();
        for (role, list) in [
            ("root", std::slice::from_ref(&reg.root)),
            ("file", reg.file_digests.as_slice()),
            (reg.content_role(), reg.tensor_digests.as_slice()),
            (BASE_ROLE, reg.base_roots.as_slice()),
        ] {
            for d in list {
                digests.push(d.as_bytes().to_vec());
                roles.push(role);
            }
        }
        tx.execute(
            "INSERT INTO digests (digest, role, asset)
             SELECT d, r, $3 FROM unnest($1::bytea[], $2::text[]) AS t(d, r)
             ON CONFLICT DO NOTHING",
            &[&digests, &roles, &id],
        )
        .map_err(e)?;
        if let Some(fp) = &reg.fingerprint {
            let keys = index_keys(fp);
            tx.execute(
                "INSERT INTO lsh (bandkey, asset) SELECT k, $2 FROM unnest($1::bigint[]) AS t(k)
                 ON CONFLICT DO NOTHING",
                &[&keys, &id],
            )
            .map_err(e)?;
        }
        tx.execute(
            "INSERT INTO licensees (asset, name) SELECT $2, n FROM unnest($1::text[]) AS t(n)
             ON CONFLICT DO NOTHING",
            &[&reg.licensees, &id],
        )
        .map_err(e)?;
        append(&mut tx, &register_event(reg, AssetId(id))).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(AssetId(id))
    }

    fn asset(&mut self, id: AssetId) -> Result<Option<Asset>> {
        let row = self
            .client
            .query_opt(
                "SELECT kind, name, root, manifest, licence, registered, actor,
                        COALESCE(octet_length(fingerprint), 0)::bigint, signature
                 FROM assets WHERE id = $1",
                &[&id.0],
            )
            .map_err(|e| self.err(e))?;
        let Some(r) = row else { return Ok(None) };
        let root: Vec<u8> = r.get(2);
        let fp: i64 = r.get(7);
        Ok(Some(Asset {
            id,
            kind: AssetKind::parse(r.get(0))?,
            name: r.get(1),
            root: digest_from(&root)?,
            manifest: r.get(3),
            licence: r.get(4),
            registered: r.get(5),
            actor: r.get(6),
            fingerprint_bytes: fp.max(0) as u64,
            signature: r.get(8),
        }))
    }

    fn find_by_digest(&mut self, digest: &Digest) -> Result<Vec<AssetId>> {
        self.assets_by_digest(
            "SELECT DISTINCT asset FROM digests WHERE digest = $1 AND role <> 'base' \
             ORDER BY asset",
            digest,
        )
    }

    fn derived_from(&mut self, base_root: &Digest) -> Result<Vec<AssetId>> {
        self.assets_by_digest(
            "SELECT asset FROM digests WHERE digest = $1 AND role = 'base' ORDER BY asset",
            base_root,
        )
    }

    fn candidates(&mut self, bands: &[i64], min_band_hits: u32) -> Result<Vec<(AssetId, u32)>> {
        let keys = bands;
        let rows = self
            .client
            .query(
                "SELECT asset, COUNT(*) FROM lsh WHERE bandkey = ANY($1) GROUP BY asset",
                &[&keys],
            )
            .map_err(|e| self.err(e))?;
        let hits: HashMap<i64, u32> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    r.get::<_, i64>(1).clamp(0, u32::MAX as i64) as u32,
                )
            })
            .collect();
        Ok(rank(hits, min_band_hits))
    }

    fn fingerprint(&mut self, id: AssetId) -> Result<Option<ModelFingerprint>> {
        let row = self
            .client
            .query_opt("SELECT fingerprint FROM assets WHERE id = $1", &[&id.0])
            .map_err(|e| self.err(e))?;
        let bytes: Option<Vec<u8>> = row.and_then(|r| r.get(0));
        bytes.map(|b| decode_fingerprint(&b)).transpose()
    }

    fn licensees(&mut self, id: AssetId) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT name FROM licensees WHERE asset = $1 ORDER BY name COLLATE \"C\"",
                &[&id.0],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn audit_append(&mut self, event: &AuditEvent) -> Result<AuditEntry> {
        let location = self.location.clone();
        let e = |err| pg_err(&location, err);
        let mut tx = self.client.transaction().map_err(e)?;
        let entry = append(&mut tx, event).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(entry)
    }

    fn audit_entries(&mut self) -> Result<Vec<AuditEntry>> {
        let rows = self
            .client
            .query(
                "SELECT seq, time, kind, actor, payload, prev, hash FROM audit ORDER BY seq",
                &[],
            )
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let prev: Vec<u8> = r.get(5);
                let hash: Vec<u8> = r.get(6);
                Ok(AuditEntry {
                    seq: seq_from(r.get(0))?,
                    time: r.get(1),
                    kind: r.get(2),
                    actor: r.get(3),
                    payload: r.get(4),
                    prev: digest_from(&prev)?,
                    hash: digest_from(&hash)?,
                })
            })
            .collect()
    }

    fn audit_head(&mut self) -> Result<(u64, Digest)> {
        let r = self
            .client
            .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
            .map_err(|e| self.err(e))?;
        let hash: Vec<u8> = r.get(1);
        Ok((seq_from(r.get(0))?, digest_from(&hash)?))
    }

    fn asset_count(&mut self) -> Result<u64> {
        let n: i64 = self
            .client
            .query_one("SELECT COUNT(*) FROM assets", &[])
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::without_password("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(
            super::without_password("postgres://u@h/db"),
            "postgres://u@h/db"
        );
    }
}
