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

/// [`sha256_file`], remembered in `memo` (a small JSON file) against the
/// file's path, size and modification time: a head's base check would
/// otherwise read 605 MB (≈ 0.6 s) each time a film is graded with it.
/// A memo that cannot be read or written only costs the hashing.
pub fn sha256_file_remembered(path: &Path, memo: Option<&Path>) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let key = format!("{}|{}|{modified}", std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display(), meta.len());
    let mut known: std::collections::BTreeMap<String, String> =
        memo.and_then(|m| std::fs::read(m).ok()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    if let Some(hash) = known.get(&key) {
        return Ok(hash.clone());
    }
    let hash = sha256_file(path)?;
    if let Some(memo) = memo {
        if known.len() >= 64 {
            known.clear(); // old versions of files: a memo, not an archive
        }
        known.insert(key, hash.clone());
        if let (Some(dir), Ok(bytes)) = (memo.parent(), serde_json::to_vec_pretty(&known)) {
            let _ = std::fs::create_dir_all(dir).and_then(|()| crate::files::write_atomically(memo, &bytes));
        }
    }
    Ok(hash)
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

    #[test]
    fn a_remembered_hash_is_used_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (file, memo) = (dir.path().join("w.bin"), dir.path().join("memo/sha.json"));
        std::fs::write(&file, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file_remembered(&file, Some(&memo)).unwrap(), abc);
        // The memo is what answers next time (made to lie here to show it).
        let lie = std::fs::read_to_string(&memo).unwrap().replace(abc, "remembered");
        std::fs::write(&memo, lie).unwrap();
        assert_eq!(sha256_file_remembered(&file, Some(&memo)).unwrap(), "remembered");
        // Another size: hashed again.
        std::fs::write(&file, b"abcd").unwrap();
        assert_eq!(sha256_file_remembered(&file, Some(&memo)).unwrap(), sha256_file(&file).unwrap());
        assert_eq!(sha256_file_remembered(&file, None).unwrap(), sha256_file(&file).unwrap());
    }
}
