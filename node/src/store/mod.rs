//! The node's SQLite store: one file in WAL mode with the OMOP-shaped analytic tables of `schema.sql`.
//! Writers (ingest) and readers (queries) each open their own [`Store`]; WAL lets readers run while an
//! ingest commits. It must never hold identifying fields in an analytic table (see `schema.sql`).

use agora_protocol::wire::DataSummary;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// The schema, applied idempotently at every open.
pub const SCHEMA: &str = include_str!("schema.sql");

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("node store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store is newer than this binary.
    #[error(
        "node store has schema version {found}, this agora-node understands up to {supported}: upgrade agora-node"
    )]
    TooNew {
        /// Found.
        found: u32,
        /// Supported.
        supported: u32,
    },
}

/// How much of the store query connections map into memory.
const READ_MMAP_BYTES: i64 = 1 << 30;

/// Version of `schema.sql`, recorded in `meta`.
pub const SCHEMA_VERSION: u32 = 1;

/// An open connection to the node store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode, and applies the schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Self::tune_for_reads(&conn)?;
        let found: Option<String> =
            conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional()?;
        match found.and_then(|v| v.parse::<u32>().ok()) {
            Some(v) if v > SCHEMA_VERSION => return Err(StoreError::TooNew { found: v, supported: SCHEMA_VERSION }),
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
        }
        Ok(Store { conn })
    }

    /// Opens an existing store read-only (for query execution).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Self::tune_for_reads(&conn)?;
        Ok(Store { conn })
    }

    /// Query connections read through a memory map and keep a larger page cache (both bounded).
    fn tune_for_reads(conn: &Connection) -> Result<(), StoreError> {
        rusqlite::vtab::array::load_module(conn)?;
        conn.pragma_update(None, "mmap_size", READ_MMAP_BYTES)?;
        conn.pragma_update(None, "cache_size", -16_384)?;
        Ok(())
    }

    /// Refreshes the planner's statistics where they are stale (after an ingest); bounded work.
    pub fn optimize(conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")?;
        Ok(())
    }

    /// The connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (for transactions).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The data version: bumped by every ingest commit that changes the analytic tables.
    pub fn data_version(&self) -> Result<u64, StoreError> {
        let v: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'data_version'", [], |r| r.get(0)).optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Bumps the data version inside the caller's transaction.
    pub fn bump_data_version(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('data_version', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            [],
        )?;
        Ok(())
    }

    /// Aggregate facts for the hub's registry, rounded down to tens.
    pub fn summary(&self) -> Result<DataSummary, StoreError> {
        let count = |table: &str| -> Result<u64, StoreError> {
            let n: i64 = self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            Ok((n as u64) / 10 * 10)
        };
        Ok(DataSummary {
            data_version: self.data_version()?,
            patients: count("person")?,
            measurements: count("measurement")?,
            conditions: count("condition_occurrence")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_is_idempotent_and_versions_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.data_version().unwrap(), 0);
        let tx = s.conn_mut().transaction().unwrap();
        Store::bump_data_version(&tx).unwrap();
        tx.commit().unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.data_version().unwrap(), 1);
        let mode: String = s.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}
