#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on the stable toolchain:
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 30 s, every target)
#
# cargo-fuzz drives libFuzzer; `-s none` builds without a sanitizer, which needs no nightly
# compiler (Rust's own checks — bounds, overflow with debug assertions — still abort on a bug).
# New inputs go to target/fuzz-corpus/<target>; the small seed corpus in fuzz/corpus/<target> is
# read, never written. A crash, timeout or OOM is saved under fuzz/artifacts/<target>/ and fails
# the run.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.1
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(query_parse upstream_reply ecs_roundtrip allowlist_parse config_parse)
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

cargo fuzz build -s none
for target in "${TARGETS[@]}"; do
    work="target/fuzz-corpus/$target"
    mkdir -p "$work" "corpus/$target"
    echo "== fuzz $target for ${SECONDS_EACH}s"
    cargo fuzz run -s none "$target" "$work" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 2>&1 | grep -E "^(stat::|#[0-9]+ +DONE|==|INFO: Seed|.*(ERROR|panicked|Test unit written))" || true
    # A crash, timeout, OOM or leak leaves an input in artifacts/<target>/.
    if compgen -G "artifacts/$target/*" > /dev/null; then
        echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
