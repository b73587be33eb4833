#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a bounded time each, starting from the
# committed seeds (fuzz/corpus/<target>/seed-*) copied to a scratch corpus so new inputs never
# land in the repository. Fails on the first crash, leak, timeout or OOM; the input is kept in
# fuzz/artifacts/<target>/ (replay: docs/TESTING.md).
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 20)
#   FUZZ_TARGETS    space-separated subset of targets (default: all, from `cargo fuzz list`)
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_KEEP_CORPUS  a folder: the grown corpora are kept there, one sub-folder per target
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses); RUSTC_BOOTSTRAP=1 makes the
# stable toolchain accept them, so no nightly toolchain is needed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for all targets, so the per-target times below are fuzzing only.
cargo fuzz build --sanitizer "$sanitizer"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  corpus="$scratch/$target"
  mkdir -p "$corpus"
  if ! compgen -G "corpus/$target/seed-*" >/dev/null; then
    echo "fuzz target $target has no seed in fuzz/corpus/$target/" >&2
    failed+=("$target")
    continue
  fi
  cp corpus/"$target"/seed-* "$corpus"/
  echo "=== $target: ${seconds}s"
  start=$SECONDS
  if cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      >"$scratch/$target.log" 2>&1; then
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$scratch/$target.log" | grep -Eo '[0-9]+$' || true)
    echo "    ok in $((SECONDS - start))s, ${execs:-?} runs, corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "    FAILED: last lines of the log:" >&2
    tail -40 "$scratch/$target.log" >&2
    failed+=("$target")
  fi
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$target"
    cp "$corpus"/* "$FUZZ_KEEP_CORPUS/$target"/
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed for: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets clean, ${seconds}s each"
