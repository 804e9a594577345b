#!/usr/bin/env bash
# A profile-guided build of scoped: an instrumented build, trained on cache misses and hits in
# a held bench lab, then the release build again with the profile, which lays out hot code
# together and inlines along the paths the training took. In callgrind (callgrind-miss.sh with
# CACHE_SIM=1) it costs 14 % fewer instructions and 22 % fewer instruction-cache misses per
# miss than the plain release build (docs/benchmarks.md). Needs dnsperf and dig, rustup's
# llvm-tools (added if missing) and a lab held open in another shell:
#
#     target/release/scoped-bench --hold --scoped target/release/scoped --skip pdns,knot,loaded
#
# Usage: pgo-build.sh   (about twice a release build from scratch; the binary is left in
# target/pgo/use/release/scoped)
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$(pwd)
work="$root/target/pgo"
profiles="$work/profiles"
addr=127.55.0.21
source "$root/crates/scoped-bench/scripts/lab.sh"
run=$(lab_run)

rustup component add llvm-tools > /dev/null
profdata="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata"

echo "== instrumented build"
rm -rf "$profiles"
CARGO_TARGET_DIR="$work/gen" RUSTFLAGS="-Cprofile-generate=$profiles" \
    cargo build --release --bin scoped

echo "== training in the lab held at $run"
pkill -f 'pgo-train.toml' || true
# Build scripts ran instrumented too: only the resolver's own run counts.
rm -rf "$profiles"
lab_scoped_config "$run" "$addr" pgo-train
(cd "$run" && "$work/gen/release/scoped" serve --config pgo-train.toml > "$work/train.log" 2>&1 &)
lab_wait "$addr" 10
pid=$(pgrep -f 'pgo-train.toml' | head -1)
names="$work/names.txt"
for i in $(seq 1 150000); do echo "pgo$i.wild.bench.lab. A"; done > "$names"
dnsperf -s $addr -d "$names" -n 1 -q 100 -l 60 | grep -E 'completed'
head -100 "$names" > "$names.hits"
dnsperf -s $addr -d "$names.hits" -n 3000 -q 200 -l 60 | grep -E 'completed'
# The profile is written when the process exits.
kill -TERM "$pid"
for _ in $(seq 1 100); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
done
rm -f "$names" "$names.hits"
"$profdata" merge -o "$work/scoped.profdata" "$profiles"

echo "== build with the profile"
CARGO_TARGET_DIR="$work/use" RUSTFLAGS="-Cprofile-use=$work/scoped.profdata" \
    cargo build --release --bin scoped
echo "pgo-build: $work/use/release/scoped"
