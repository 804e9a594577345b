#!/usr/bin/env bash
# Instructions per cache miss, counted by callgrind: robust to a loaded machine (and this VM
# has no hardware counters for `perf stat`). Needs valgrind, dnsperf and dig, and a bench lab
# held open in another shell:
#
#     target/release/scoped-bench --hold --scoped target/release/scoped --skip pdns,knot,loaded
#
# Usage: callgrind-miss.sh TAG [SCOPED_BINARY] [MISSES]
# Runs a second scoped under callgrind on 127.55.0.21 with the lab's configuration, warms it
# with 200 misses, zeroes the counters, sends MISSES (default 3000) fresh names under the lab's
# wildcard, and prints the instructions per miss. The profile is left in /tmp/cg.TAG.PID.1
# (read it with callgrind_annotate --inclusive=yes --tree=calling).
#
# CACHE_SIM=1 also simulates the caches and the branch predictor and prints, per miss,
# instruction-cache misses, data-cache read and write misses and mispredicted branches: where
# the cycles go that the instruction count does not show.
# PEER=unbound runs the lab's Unbound (its configuration moved to 127.55.0.21) instead of
# scoped, for the same counts of a peer.
set -euo pipefail
tag=${1:?usage: callgrind-miss.sh TAG [SCOPED_BINARY] [MISSES]}
scoped=$(realpath "${2:-target/release/scoped}")
misses=${3:-3000}
source "$(dirname "$0")/lab.sh"
run=$(lab_run)
addr=127.55.0.21
pkill -f "cg.$tag-cfg" || true
case "${PEER:-scoped}" in
    scoped)
        lab_scoped_config "$run" "$addr" "cg.$tag-cfg"
        command=("$scoped" serve --config "cg.$tag-cfg.toml") ;;
    unbound)
        # Plain DNS only: the DoT listener and its port stay with the lab's Unbound.
        sed -e "s/127\.55\.0\.2@53/$addr@53/; s/unbound\.pid/cg-unbound.pid/; s/unbound\.log/cg-unbound.log/" \
            -e '/@853/d; /tls-port/d' "$run/unbound.conf" > "$run/cg.$tag-cfg.conf"
        command=(unbound -d -c "$run/cg.$tag-cfg.conf") ;;
    *) echo "callgrind-miss: PEER is scoped or unbound" >&2; exit 1 ;;
esac
sim=()
if [ "${CACHE_SIM:-0}" = 1 ]; then sim=(--cache-sim=yes --branch-sim=yes); fi
(cd "$run" && valgrind --tool=callgrind "${sim[@]}" --callgrind-out-file="/tmp/cg.$tag.%p" \
    "${command[@]}" > "/tmp/cg-$tag.out" 2>&1 &)
# Slow to start under valgrind.
lab_wait "$addr" 60
pid=$(pgrep -f "cg.$tag-cfg" | head -1)
for i in $(seq 1 200); do echo "w${i}$tag.wild.bench.lab. A"; done > "/tmp/warm-$tag.txt"
for i in $(seq 1 "$misses"); do echo "m${i}$tag.wild.bench.lab. A"; done > "/tmp/names-$tag.txt"
dnsperf -s $addr -d "/tmp/warm-$tag.txt" -n 1 -q 20 -l 60 > /dev/null
callgrind_control -z "$pid" > /dev/null || { echo "callgrind-miss: no callgrind process $pid" >&2; exit 1; }
dnsperf -s $addr -d "/tmp/names-$tag.txt" -n 1 -q 20 -l 300 | grep -E 'completed|lost'
callgrind_control -d "$pid" > /dev/null
sleep 2
pkill -f "cg.$tag-cfg" || true
profile=$(ls -t /tmp/cg."$tag".*.1 | head -1)
# The events line names the columns of the totals line.
awk -v tag="$tag" -v n="$misses" -v profile="$profile" '
    /^events:/ { for (i = 2; i <= NF; i++) name[i] = $i }
    /^totals:/ {
        for (i = 2; i <= NF; i++) per[name[i]] = int($i / n)
        line = tag ": " per["Ir"] " instructions per miss"
        if ("I1mr" in per)
            line = line sprintf("; I1 misses %d, D1 read misses %d, D1 write misses %d, mispredicted branches %d (conditional) + %d (indirect)", per["I1mr"], per["D1mr"], per["D1mw"], per["Bcm"], per["Bim"])
        print line " (" profile ")"
    }' "$profile"
