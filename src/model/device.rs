//! Where the model runs: CUDA when built with the `cuda` feature and a GPU is
//! present, the CPU otherwise. The same code path runs on both.

use candle_core::Device;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreference {
    /// CUDA if available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Picks the device; `Cuda` falls back to the CPU (and says why) when no GPU can be used.
pub fn select_device(preference: DevicePreference) -> (Device, Option<String>) {
    if preference == DevicePreference::Cpu {
        return (Device::Cpu, None);
    }
    if cfg!(feature = "cuda") {
        match Device::new_cuda(0) {
            Ok(device) => return (device, None),
            Err(e) if preference == DevicePreference::Cuda => {
                let why = super::clip::without_backtrace_or_path(&e);
                return (Device::Cpu, Some(format!("CUDA unavailable ({why}); using the CPU")));
            }
            Err(_) => {}
        }
    } else if preference == DevicePreference::Cuda {
        return (
            Device::Cpu,
            Some("this build has no CUDA support (build with --features cuda); using the CPU".into()),
        );
    }
    (Device::Cpu, None)
}

/// Where and in which arithmetic the model's products run, for provenance:
/// "CPU (avx512, amx-bf16x3)" names the CPU's kernels (crates/sgemm: f32,
/// and bf16×3 on AMX tiles for both towers where the CPU has them),
/// "CUDA:0 (f32, cuBLAS)" the GPU's. Results from different arithmetic agree
/// to ≈ 1e-5 (docs/PERFORMANCE.md), not bit for bit.
pub fn arithmetic_label(device: &Device) -> String {
    match device {
        Device::Cpu => format!("CPU ({})", kneeclip_sgemm::kernel_name()),
        Device::Cuda(_) => "CUDA:0 (f32, cuBLAS)".into(),
        other => format!("{other:?}"),
    }
}

/// "CPU" or "CUDA:0", for status lines.
pub fn device_label(device: &Device) -> String {
    match device {
        Device::Cpu => "CPU".into(),
        Device::Cuda(_) => "CUDA:0".into(),
        other => format!("{other:?}"),
    }
}
