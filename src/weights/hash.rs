//! Streaming file hashes: sha256 (manifest, LFS ETag) and the git blob sha1 (ETag of
//! small non-LFS files on the hub).

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn stream(path: &Path, mut feed: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        feed(&buf[..n]);
    }
}

/// SHA-256 of a file, read in 1 MiB chunks; lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    stream(path, |b| h.update(b))?;
    Ok(hex(&h.finalize()))
}

/// Git blob id (`sha1("blob <len>\0" + content)`) of a file; lower-case hex. This is what
/// the hub sends as ETag for files not stored in LFS.
pub fn git_blob_sha1_file(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    let mut h = Sha1::new();
    h.update(format!("blob {len}\0").as_bytes());
    stream(path, |b| h.update(b))?;
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::write(&p, b"hello\n").unwrap();
        // `echo hello | git hash-object --stdin`
        assert_eq!(
            git_blob_sha1_file(&p).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
