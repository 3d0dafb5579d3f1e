//! config.json + model.safetensors bytes → validated config → CLIP model → one forward pass.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kneeclip_fuzz::model(data);
});
