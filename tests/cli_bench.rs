//! `kneeclip bench --json` reports every figure the performance issue tracks.

mod common;

use std::process::Command;

#[test]
fn bench_json_has_the_tracked_figures() {
    let Some(tokenizer) = common::shared_tokenizer() else { return };
    let film = common::data_dir().join("dicom/CR-MONO1-10-chest");
    if !film.is_file() {
        eprintln!("skipped: {} is missing", film.display());
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["bench", "--json", "--training", "--repeats", "1", "--tokenizer"])
        .arg(&tokenizer)
        .arg("--film")
        .arg(&film)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["image_b1_ms", "image_b16_ms_per_image", "anchors_ms", "anchor_edit_ms", "open_to_grade_ms"] {
        let ms = report[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {report}"));
        assert!(ms > 0.0 && ms.is_finite(), "{key} = {ms}");
    }
    let cpu = report["cpu_time"]["image_b1_ms"].as_f64().unwrap_or_else(|| panic!("cpu_time.image_b1_ms missing: {report}"));
    assert!(cpu > 0.0 && cpu.is_finite(), "cpu_time.image_b1_ms = {cpu}");
    for key in ["frozen_ms_per_film", "trainable_step_ms_per_film"] {
        let ms = report["training"][key].as_f64().unwrap_or_else(|| panic!("training.{key} missing: {report}"));
        assert!(ms > 0.0 && ms.is_finite(), "training.{key} = {ms}");
    }
    assert_eq!(report["training"]["batch"], 64, "the recipe's batch");
    assert_eq!(report["device"], "CPU");
    let kernel = report["kernel"].as_str().unwrap_or_else(|| panic!("kernel missing: {report}"));
    // The f32 kernel, then ", amx-bf16x3" where the vision weights run on AMX tiles.
    let f32_kernel = kernel.strip_suffix(", amx-bf16x3").unwrap_or(kernel);
    assert!(["avx512", "avx2-fma", "portable"].contains(&f32_kernel), "kernel = {kernel}");
}

#[test]
fn bench_without_a_tokenizer_says_what_it_needs() {
    let out = Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["bench", "--tokenizer", "/nonexistent/tokenizer.json", "--repeats", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tokenizer.json"));
}
