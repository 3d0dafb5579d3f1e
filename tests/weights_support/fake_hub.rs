//! A fake Hugging Face hub on 127.0.0.1 for the weights tests. It speaks the part of the
//! protocol hf-hub 0.5 uses: `GET /{repo}/resolve/{rev}/{file}` with `Range` (first
//! `bytes=0-0` for metadata, then `bytes={n}-`), `x-repo-commit`, `etag` (git blob sha1)
//! for small files, and for the LFS file a 302 to an absolute CDN URL carrying
//! `x-linked-etag` (the sha256). Every request is counted.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kneeclip::weights::Manifest;
use sha2::{Digest, Sha256};

pub const REPO: &str = "fake/clip-tiny";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
pub fn sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}
pub fn git_sha1(b: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    hex(&h.finalize())
}

#[derive(Clone)]
pub struct FakeFile {
    pub body: Vec<u8>,
    /// Declared hash: git sha1 in `etag`, or sha256 in `x-linked-etag` when `lfs`.
    pub etag: String,
    pub lfs: bool,
}

#[derive(Default)]
pub struct HubState {
    pub files: HashMap<String, FakeFile>,
    pub commit: String,
    /// File whose next full-body transfer is cut off after half of its bytes.
    pub cut_off_next: Option<String>,
    /// File whose next full-body transfer stops after half of its bytes with
    /// the connection left open (a stalled server).
    pub stall_next: Option<String>,
    /// File whose next full-body transfer pauses for the given time after half
    /// of its bytes, then sends the rest (a server that recovers after the client gave up).
    pub pause_next: Option<(String, std::time::Duration)>,
    /// (file, first byte asked for) of every body transfer, in order.
    pub ranges: Vec<(String, u64)>,
}

pub struct FakeHub {
    pub endpoint: String,
    pub requests: Arc<AtomicUsize>,
    pub state: Arc<Mutex<HubState>>,
}

fn fake_files() -> HashMap<String, FakeFile> {
    let config = br#"{"model_type":"clip","projection_dim":8}"#.to_vec();
    let tokenizer = br#"{"version":"1.0","model":{"type":"BPE"}}"#.to_vec();
    let weights: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut files = HashMap::new();
    files.insert(
        "config.json".into(),
        FakeFile {
            etag: git_sha1(&config),
            body: config,
            lfs: false,
        },
    );
    files.insert(
        "tokenizer.json".into(),
        FakeFile {
            etag: git_sha1(&tokenizer),
            body: tokenizer,
            lfs: false,
        },
    );
    files.insert(
        "model.safetensors".into(),
        FakeFile {
            etag: sha256(&weights),
            body: weights,
            lfs: true,
        },
    );
    files
}

impl FakeHub {
    pub fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(HubState {
            files: fake_files(),
            commit: COMMIT.into(),
            cut_off_next: None,
            stall_next: None,
            pause_next: None,
            ranges: Vec::new(),
        }));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (state.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve(stream, port, &s, &r));
            }
        });
        FakeHub {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
            state,
        }
    }

    pub fn body(&self, name: &str) -> Vec<u8> {
        self.state.lock().unwrap().files[name].body.clone()
    }

    /// A manifest whose hashes and sizes match the served files.
    pub fn manifest(&self) -> Manifest {
        let st = self.state.lock().unwrap();
        let entry = |n: &str| {
            let b = &st.files[n].body;
            format!(
                r#"{{"name":"{n}","size":{},"sha256":"{}"}}"#,
                b.len(),
                sha256(b)
            )
        };
        Manifest::from_json(&format!(
            r#"{{"model_id":"{REPO}","revision":"{COMMIT}","files":[{},{},{}]}}"#,
            entry("config.json"),
            entry("model.safetensors"),
            entry("tokenizer.json")
        ))
        .unwrap()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, port: u16, state: &Mutex<HubState>, requests: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        if k.trim().eq_ignore_ascii_case("range") {
            let spec = v.trim().trim_start_matches("bytes=");
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            range = Some((a.parse().unwrap_or(0), b.parse().ok()));
        }
    }
    let mut out = stream;
    let resolve_prefix = format!("/{REPO}/resolve/");
    let (commit, file, via_cdn) = if let Some(rest) = path.strip_prefix(&resolve_prefix) {
        let (rev, file) = rest.split_once('/').unwrap_or((rest, ""));
        (Some(rev.to_string()), file.to_string(), false)
    } else if let Some(file) = path.strip_prefix("/cdn/") {
        (None, file.to_string(), true)
    } else {
        (None, String::new(), false)
    };
    let mut st = state.lock().unwrap();
    let Some(f) = st.files.get(&file).cloned() else {
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    if let Some(rev) = &commit {
        if *rev != st.commit && *rev != COMMIT {
            let _ = write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
    }
    let served_commit = st.commit.clone();
    if !via_cdn && f.lfs {
        let _ = write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/cdn/{file}\r\nx-repo-commit: {served_commit}\r\n\
             x-linked-etag: \"{}\"\r\nx-linked-size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            f.etag,
            f.body.len()
        );
        return;
    }
    let n = f.body.len() as u64;
    let (status, start, end) = match range {
        Some((a, _)) if a >= n => {
            let _ = write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        Some((a, b)) => ("206 Partial Content", a, b.unwrap_or(n - 1).min(n - 1)),
        None => ("200 OK", 0, n - 1),
    };
    let slice = &f.body[start as usize..=end as usize];
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        slice.len()
    );
    if range.is_some() {
        head += &format!("Content-Range: bytes {start}-{end}/{n}\r\n");
    }
    if !f.lfs {
        head += &format!("x-repo-commit: {served_commit}\r\netag: \"{}\"\r\n", f.etag);
    }
    head += "\r\n";
    let cut = slice.len() > 1 && st.cut_off_next.as_deref() == Some(file.as_str());
    if cut {
        st.cut_off_next = None;
    }
    let stall = slice.len() > 1 && st.stall_next.as_deref() == Some(file.as_str());
    if stall {
        st.stall_next = None;
    }
    let pause = match &st.pause_next {
        Some((f, d)) if slice.len() > 1 && *f == file => Some(*d),
        _ => None,
    };
    if pause.is_some() {
        st.pause_next = None;
    }
    if slice.len() > 1 {
        st.ranges.push((file.clone(), start));
    }
    drop(st);
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" {
        let body = if cut || stall || pause.is_some() {
            &slice[..slice.len() / 2]
        } else {
            slice
        };
        let _ = out.write_all(body);
        if let Some(d) = pause {
            let _ = out.flush();
            std::thread::sleep(d);
            let _ = out.write_all(&slice[slice.len() / 2..]);
        }
        if stall {
            let _ = out.flush();
            // Nothing more, the connection open, until the client gives up.
            let mut buf = [0u8; 1];
            let _ = std::io::Read::read(&mut out, &mut buf);
            return;
        }
    }
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
}
