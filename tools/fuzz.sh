#!/usr/bin/env bash
# Fuzzes the loaders that read untrusted files, one target after another:
#   dicom          DICOM bytes   -> Radiograph -> display and model input
#   image          PNG/JPEG/TIFF/BMP bytes -> the same
#   model_weights  config.json + model.safetensors bytes -> CLIP model -> forward pass
#
#   tools/fuzz.sh SECONDS [TARGET...]     (default: all three, SECONDS each)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds are
# made from ../shared/data and the tiny fixture by an ignored test of
# tests/robustness.rs; corpora, crashes and logs stay under fuzz/ (gitignored):
#   fuzz/seeds/<target>/      seeds (rewritten each run)
#   fuzz/corpus/<target>/     inputs libFuzzer found interesting (kept between runs)
#   fuzz/artifacts/<target>/  crashing / out-of-memory / slow inputs
#   fuzz/logs/<target>.log    libFuzzer's output; the summary line is printed at the end
# A crash stops that target (the next one still runs) and makes the script exit 1.
# Keep a crashing input as a regression: minimise it (cargo +nightly fuzz tmin TARGET
# FILE), then copy it to tests/fixtures/fuzz-regressions/<target>/.
#
# Environment: FUZZ_TARGET_DIR (default fuzz/target), CARGO_TARGET_DIR for the
# seed-writing test build, FUZZ_RSS_LIMIT_MB (default 2048).
set -euo pipefail

seconds=${1:?usage: tools/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(dicom image model_weights)

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
target_dir=${FUZZ_TARGET_DIR:-$fuzz/target}
rss=${FUZZ_RSS_LIMIT_MB:-2048}
cd "$root"

echo "== seeds"
rm -rf "$fuzz/seeds"
KNEECLIP_FUZZ_SEEDS="$fuzz/seeds" cargo test --locked --test robustness -- --ignored --exact write_fuzz_seeds --quiet
for t in "${targets[@]}"; do
    echo "   $t: $(ls "$fuzz/seeds/$t" | wc -l) seeds"
done

# Debug assertions (overflow checks) on, but not the standard library's UB
# precondition checks: nightly's check in `dealloc` aborts inside openjp2 0.6.1
# (the JPEG 2000 decoder, no newer release) on every JPEG 2000 film, real ones
# included: it frees code blocks it never allocated with a null pointer, which
# the system allocator accepts. An abort cannot be caught, so with the check on
# the DICOM target stops at its first JPEG 2000 seed and fuzzes nothing.
export RUSTFLAGS="${RUSTFLAGS:-} -Zub-checks=no"

echo "== build (nightly, ASan, debug assertions)"
cargo +nightly fuzz build -a --target-dir "$target_dir"

status=0
for t in "${targets[@]}"; do
    mkdir -p "$fuzz/corpus/$t" "$fuzz/artifacts/$t" "$fuzz/logs"
    log="$fuzz/logs/$t.log"
    echo "== $t for ${seconds}s (log: $log)"
    # -rss_limit_mb: the loaders' own limits (LoadLimits, ClipConfig::validate)
    # must keep every input below it; going over is reported as a finding.
    if ! cargo +nightly fuzz run -a --target-dir "$target_dir" "$t" \
        "$fuzz/corpus/$t" "$fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout=60 \
        -artifact_prefix="$fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        status=1
        echo "   FINDING: see $log and $fuzz/artifacts/$t/"
    fi
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|SUMMARY|panicked at" "$log" | sed 's/^/   /' || true
    echo "   corpus: $(ls "$fuzz/corpus/$t" | wc -l) inputs; artifacts: $(ls "$fuzz/artifacts/$t" | wc -l)"
done
exit $status
