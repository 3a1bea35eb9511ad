//! The schema, as numbered migrations per database dialect. A registry records the last
//! migration applied in `schema_version`; opening applies the missing ones in order, inside
//! one write transaction, so concurrent first openings do not race.

/// SQLite migrations; index `i` takes the schema from version `i` to `i + 1`.
pub(crate) const SQLITE: &[&str] = &[
    // 1: the tables.
    "CREATE TABLE assets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        root BLOB NOT NULL,
        manifest TEXT NOT NULL,
        licence TEXT NOT NULL,
        registered TEXT NOT NULL,
        fingerprint BLOB
     );
     CREATE TABLE digests (
        digest BLOB NOT NULL,
        role TEXT NOT NULL,
        asset INTEGER NOT NULL REFERENCES assets(id),
        PRIMARY KEY (digest, role, asset)
     ) WITHOUT ROWID;
     CREATE TABLE lsh (
        bandkey INTEGER NOT NULL,
        asset INTEGER NOT NULL REFERENCES assets(id),
        PRIMARY KEY (bandkey, asset)
     ) WITHOUT ROWID;
     CREATE TABLE licensees (
        asset INTEGER NOT NULL REFERENCES assets(id),
        name TEXT NOT NULL,
        PRIMARY KEY (asset, name)
     ) WITHOUT ROWID;
     CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev BLOB NOT NULL,
        hash BLOB NOT NULL
     );
     CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL
     );
     INSERT INTO audit_head VALUES (1, 0, zeroblob(32));",
    // 2: who registered an asset; digests by asset.
    "ALTER TABLE assets ADD COLUMN actor TEXT NOT NULL DEFAULT '';
     CREATE INDEX digests_asset ON digests(asset);",
    // 3: the manifest's signature (a DSSE envelope), when the registration was signed.
    "ALTER TABLE assets ADD COLUMN signature TEXT NOT NULL DEFAULT '';",
];

/// PostgreSQL migrations, the same steps.
pub(crate) const POSTGRES: &[&str] = &[
    "CREATE TABLE assets (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        root BYTEA NOT NULL,
        manifest TEXT NOT NULL,
        licence TEXT NOT NULL,
        registered TEXT NOT NULL,
        fingerprint BYTEA
     );
     CREATE TABLE digests (
        digest BYTEA NOT NULL,
        role TEXT NOT NULL,
        asset BIGINT NOT NULL REFERENCES assets(id),
        PRIMARY KEY (digest, role, asset)
     );
     CREATE TABLE lsh (
        bandkey BIGINT NOT NULL,
        asset BIGINT NOT NULL REFERENCES assets(id),
        PRIMARY KEY (bandkey, asset)
     );
     CREATE TABLE licensees (
        asset BIGINT NOT NULL REFERENCES assets(id),
        name TEXT NOT NULL,
        PRIMARY KEY (asset, name)
     );
     CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev BYTEA NOT NULL,
        hash BYTEA NOT NULL
     );
     CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash BYTEA NOT NULL
     );
     INSERT INTO audit_head VALUES (1, 0, decode(repeat('00', 32), 'hex'));",
    "ALTER TABLE assets ADD COLUMN actor TEXT NOT NULL DEFAULT '';
     CREATE INDEX digests_asset ON digests(asset);",
    "ALTER TABLE assets ADD COLUMN signature TEXT NOT NULL DEFAULT '';",
];
