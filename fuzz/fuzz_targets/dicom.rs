//! DICOM bytes → Radiograph → display and model input (seeds: DICOM films).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kneeclip_fuzz::film(data, "fuzz.dcm");
});
