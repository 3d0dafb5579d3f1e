//! PNG / JPEG / TIFF / BMP bytes → Radiograph → display and model input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kneeclip_fuzz::film(data, "fuzz.png");
});
