//! Reads a safetensors file one tensor at a time, with plain reads rather than
//! a memory map.
//!
//! A memory-mapped 605 MB file counts toward the process's resident memory
//! for every page the loader touches, on top of the tensors built from it, so
//! the viewer's peak was model × 2. Reading each tensor into its own buffer
//! (which the linear layers then pack and drop) keeps the peak near one copy
//! of the model. The header is checked against the file's length up front, so
//! a truncated download is reported as such instead of failing half-way.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use serde::Deserialize;

/// The largest header we accept (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100 << 20;

#[derive(Debug, Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

pub struct SafetensorsFile {
    path: PathBuf,
    file: Mutex<File>,
    /// Where the tensor data begins (after the length and the header).
    data_start: u64,
    entries: HashMap<String, Entry>,
}

/// Reads `buf.len()` bytes at `offset` (portable; the loader reads one tensor at a time).
fn read_at(file: &mut File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

fn error(path: &Path, reason: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {reason}", path.display()))
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| error(path, format!("cannot open: {e}")))?;
        let len = file.metadata().map_err(|e| error(path, e))?.len();
        let mut prefix = [0u8; 8];
        read_at(&mut file, &mut prefix, 0)
            .map_err(|_| error(path, format!("not a safetensors file ({len} bytes, too short for a header)")))?;
        let header_len = u64::from_le_bytes(prefix);
        if header_len > MAX_HEADER || 8 + header_len > len {
            return Err(error(path, format!("not a safetensors file (header of {header_len} bytes in a file of {len})")));
        }
        let mut header = vec![0u8; header_len as usize];
        read_at(&mut file, &mut header, 8).map_err(|e| error(path, e))?;
        // Sorted by name so that a damaged file always gets the same message.
        let mut json: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| error(path, format!("unreadable safetensors header: {e}")))?;
        json.remove("__metadata__");
        let data_start = 8 + header_len;
        let mut entries = HashMap::with_capacity(json.len());
        for (name, value) in json {
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| error(path, format!("tensor {name}: malformed header entry: {e}")))?;
            let [begin, end] = entry.data_offsets;
            let bytes = dtype_of(&entry.dtype).map(|d| d.size_in_bytes() as u64 * entry.shape.iter().product::<usize>() as u64);
            if begin > end || bytes.is_some_and(|b| b != end - begin) {
                return Err(error(path, format!("tensor {name}: its offsets do not match its shape {:?}", entry.shape)));
            }
            entries.insert(name, entry);
        }
        // Name the tensor the cut falls in: the first one, in file order, that runs past the end.
        let cut = entries
            .iter()
            .filter(|(_, e)| data_start + e.data_offsets[1] > len)
            .min_by_key(|(name, e)| (e.data_offsets[0], name.as_str()));
        if let Some((name, entry)) = cut {
            return Err(error(
                path,
                format!("truncated: tensor {name} ends at byte {} but the file has {len} bytes", data_start + entry.data_offsets[1]),
            ));
        }
        Ok(Self { path: path.to_owned(), file: Mutex::new(file), data_start, entries })
    }

    fn read(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("cannot find tensor {name}")))?;
        let stored = dtype_of(&entry.dtype)
            .ok_or_else(|| error(&self.path, format!("tensor {name} has the unsupported type {}", entry.dtype)))?;
        let [begin, end] = entry.data_offsets;
        let mut bytes = vec![0u8; (end - begin) as usize];
        let mut file = self.file.lock().map_err(|_| error(&self.path, "an earlier read failed"))?;
        read_at(&mut file, &mut bytes, self.data_start + begin).map_err(|e| error(&self.path, format!("tensor {name}: {e}")))?;
        drop(file);
        let tensor = Tensor::from_raw_buffer(&bytes, stored, &entry.shape, &Device::Cpu)?;
        drop(bytes);
        tensor.to_dtype(dtype)?.to_device(device)
    }
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "U32" => DType::U32,
        "U8" => DType::U8,
        _ => return None,
    })
}

impl SimpleBackend for SafetensorsFile {
    fn get(&self, shape: Shape, name: &str, _: candle_nn::Init, dtype: DType, device: &Device) -> Result<Tensor> {
        let tensor = self.read(name, dtype, device)?;
        if tensor.shape() != &shape {
            candle_core::bail!("shape mismatch for {name}, expected {shape:?}, got {:?}", tensor.shape());
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        self.read(name, dtype, device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, tensors: &[(&str, Tensor)]) -> PathBuf {
        let path = dir.join("w.safetensors");
        let map: HashMap<String, Tensor> = tensors.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
        candle_core::safetensors::save(&map, &path).unwrap();
        path
    }

    #[test]
    fn reads_what_candle_wrote_in_any_stored_type() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::arange(0f32, 6.0, &Device::Cpu).unwrap().reshape((2, 3)).unwrap();
        let path = write(dir.path(), &[("a", a.clone()), ("h", a.to_dtype(DType::F16).unwrap())]);
        let file = SafetensorsFile::open(&path).unwrap();
        for name in ["a", "h"] {
            let got = file.get(Shape::from((2, 3)), name, candle_nn::Init::Const(0.), DType::F32, &Device::Cpu).unwrap();
            assert_eq!(got.to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        }
        let wrong = file.get(Shape::from((3, 2)), "a", candle_nn::Init::Const(0.), DType::F32, &Device::Cpu).unwrap_err();
        assert!(wrong.to_string().contains("shape mismatch for a"), "{wrong}");
        assert!(file.get_unchecked("b", DType::F32, &Device::Cpu).unwrap_err().to_string().contains("cannot find tensor b"));
    }

    #[test]
    fn truncated_and_garbage_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::zeros((64, 64), DType::F32, &Device::Cpu).unwrap();
        let path = write(dir.path(), &[("a", a)]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err = SafetensorsFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("truncated") && err.contains("w.safetensors"), "{err}");
        std::fs::write(&path, b"not a model").unwrap();
        let err = SafetensorsFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a safetensors file"), "{err}");
    }
}
