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
set -euo pipefail
tag=${1:?usage: callgrind-miss.sh TAG [SCOPED_BINARY] [MISSES]}
scoped=$(realpath "${2:-target/release/scoped}")
misses=${3:-3000}
run=$(ls -dt target/scoped-bench/run-* | head -1)
addr=127.55.0.21
pkill -f scoped-cg.toml || true
sed "s/127\.55\.0\.1:/$addr:/g" "$run/scoped.toml" > "$run/scoped-cg.toml"
(cd "$run" && valgrind --tool=callgrind --callgrind-out-file="/tmp/cg.$tag.%p" \
    "$scoped" serve --config scoped-cg.toml > "/tmp/cg-$tag.out" 2>&1 &)
for i in $(seq 1 60); do
    sleep 1
    dig @$addr +short +tries=1 +time=1 "ping$i.wild.bench.lab" > /dev/null 2>&1 && break
done
pid=$(pgrep -f 'scoped-cg.toml' | head -1)
for i in $(seq 1 200); do echo "w${i}$tag.wild.bench.lab. A"; done > "/tmp/warm-$tag.txt"
for i in $(seq 1 "$misses"); do echo "m${i}$tag.wild.bench.lab. A"; done > "/tmp/names-$tag.txt"
dnsperf -s $addr -d "/tmp/warm-$tag.txt" -n 1 -q 20 -l 60 > /dev/null
callgrind_control -z "$pid" > /dev/null
dnsperf -s $addr -d "/tmp/names-$tag.txt" -n 1 -q 20 -l 300 | grep -E 'completed|lost'
callgrind_control -d "$pid" > /dev/null
sleep 2
pkill -f scoped-cg.toml || true
profile=$(ls -t /tmp/cg."$tag".*.1 | head -1)
total=$(awk '/^totals:/ {print $2}' "$profile")
echo "$tag: $((total / misses)) instructions per miss ($profile)"
