#!/usr/bin/env bash
# User and system CPU per cache miss of each resolver in a held bench lab, rounds interleaved:
# the kernel's share (sockets, sends, wake-ups) is much the same for every resolver, so the
# difference between them is in user time. Needs dnsperf and a lab held open in another shell:
#
#     target/release/scoped-bench --hold --scoped target/release/scoped --skip pdns,loaded
#
# Usage: cpu-split.sh [ROUNDS] [MISSES]   (defaults 3 and 60000; 100 outstanding, as the bench)
# PIN=1 puts every resolver on CPU 1 and dnsperf and NSD on CPU 0 (PIN=0 undoes it): the same
# resolvers without the scheduler's placement in the way.
# The times come from /proc/PID/stat (utime, stime), in clock ticks: keep MISSES large enough
# for a round to last seconds.
set -euo pipefail
rounds=${1:-3}
misses=${2:-60000}
hz=$(getconf CLK_TCK)
source "$(dirname "$0")/lab.sh"
load=()
if [ -n "${PIN:-}" ]; then
    [ "$PIN" = 1 ] && cpus=(0 1) || cpus=(0,1 0,1)
    for pid in $(pgrep -x nsd); do taskset -pc "${cpus[0]}" "$pid" > /dev/null; done
    for name in scoped unbound knot; do
        pid=$(lab_pid $name)
        [ -n "$pid" ] && taskset -apc "${cpus[1]}" "$pid" > /dev/null
    done
    [ "$PIN" = 1 ] && load=(taskset -c 0)
fi
for round in $(seq 1 "$rounds"); do
    for name in scoped unbound knot; do
        pid=$(lab_pid $name)
        if [ -z "$pid" ]; then
            echo "cpu-split: no $name running in the lab; skipped" >&2
            continue
        fi
        names=$(mktemp)
        for i in $(seq 1 "$misses"); do echo "split$round$name$i.wild.bench.lab. A"; done > "$names"
        read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
        done_=$("${load[@]}" dnsperf -s "$(lab_addr $name)" -d "$names" -n 1 -q 100 -l 120 | awk '/Queries completed/ {print $3}')
        read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
        rm -f "$names"
        awk -v r="$round" -v n="$name" -v d="$done_" -v u=$((user1 - user0)) -v s=$((sys1 - sys0)) -v hz="$hz" \
            'BEGIN { printf "round %d %-8s user %5.1f µs, system %5.1f µs per miss; %6d misses per CPU-second\n", r, n, u * 1e6 / hz / d, s * 1e6 / hz / d, d * hz / (u + s) }'
    done
done
