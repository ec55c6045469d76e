//! Ed25519 key files: 32 secret bytes, created with mode 0600, refused if readable by others.

use libp2p::identity::Keypair;
use std::fs;
use std::io::Write;
use std::path::Path;

/// Errors reading or writing a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// I/O failure.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Wrong content.
    #[error("key file {0} is not 32 bytes of Ed25519 secret key: restore it from backup or remove it to make a new identity")]
    Malformed(String),
    /// Too open.
    #[error("key file {path} has mode {mode:o}, readable by other users: run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// Already there.
    #[error("key file {0} already exists: refusing to overwrite an identity")]
    Exists(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io { path: path.display().to_string(), source }
}

/// Writes a new random 32-byte secret to `path` (mode 0600) and returns it. Refuses to overwrite.
pub fn create_secret(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let secret: [u8; 32] = rand::random();
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists(path.display().to_string())
        } else {
            KeyFileError::Io { path: path.display().to_string(), source: e }
        }
    })?;
    f.write_all(&secret).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(secret)
}

/// Reads a 32-byte secret, refusing a file other users can read.
pub fn read_secret(path: &Path) -> Result<[u8; 32], KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { path: path.display().to_string(), mode });
        }
    }
    let bytes = fs::read(path).map_err(io(path))?;
    bytes.try_into().map_err(|_| KeyFileError::Malformed(path.display().to_string()))
}

/// The Ed25519 keypair of a 32-byte secret.
pub fn keypair(secret: [u8; 32]) -> Keypair {
    let mut s = secret;
    Keypair::ed25519_from_bytes(&mut s).expect("any 32 bytes are an ed25519 secret key")
}

/// Reads the keypair in `path`.
pub fn read_keypair(path: &Path) -> Result<Keypair, KeyFileError> {
    read_secret(path).map(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_read_and_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        let s = create_secret(&p).unwrap();
        assert_eq!(read_secret(&p).unwrap(), s);
        assert_eq!(read_keypair(&p).unwrap().public(), keypair(s).public());
        assert!(matches!(create_secret(&p), Err(KeyFileError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(read_secret(&p), Err(KeyFileError::TooOpen { .. })));
        }
        fs::write(dir.path().join("short.key"), [1, 2, 3]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path().join("short.key"), fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(read_secret(&dir.path().join("short.key")), Err(KeyFileError::Malformed(_))));
    }
}
