#!/usr/bin/env bash
# Where each resolver's CPU goes on cache misses, in real time: perf samples the CPU clock of
# each resolver of a held bench lab while dnsperf sends it fresh names (100 outstanding, as the
# bench does), then prints the CPU per miss, its split between the kernel and the resolver's
# own code, and the kernel's share by system call. callgrind-miss.sh counts instructions and
# simulated cache misses; this shows what they cost, and what the kernel costs, on this
# machine. Needs perf (Debian: linux-perf) and dnsperf, and a lab held open in another shell:
#
#     target/release/scoped-bench --hold --scoped target/release/scoped --skip pdns,loaded
#
# Usage: perf-miss.sh [MISSES]   (default 40000; the profiles stay in /tmp/perf-miss.NAME.data)
set -euo pipefail
misses=${1:-40000}
rate=20000
source "$(dirname "$0")/lab.sh"
for name in scoped unbound knot; do
    pid=$(lab_pid $name)
    if [ -z "$pid" ]; then
        echo "perf-miss: no $name running in the lab; skipped" >&2
        continue
    fi
    data=/tmp/perf-miss.$name.data
    names=$(mktemp)
    for i in $(seq 1 "$misses"); do echo "perf$RANDOM$name$i.wild.bench.lab. A"; done > "$names"
    perf record -F "$rate" -e cpu-clock -g -p "$pid" -o "$data" 2> /dev/null &
    recorder=$!
    sleep 1
    done_=$(dnsperf -s "$(lab_addr $name)" -d "$names" -n 1 -q 100 -l 120 | awk '/Queries completed/ {print $3}')
    kill -INT "$recorder"
    wait "$recorder" 2> /dev/null || true
    rm -f "$names"
    samples=$(perf script -i "$data" -F time 2> /dev/null | wc -l)
    echo "== $name: $samples samples, $done_ misses"
    # Each sample stands for 1/rate seconds of CPU.
    awk -v n="$samples" -v d="$done_" -v r="$rate" \
        'BEGIN { printf "   %.1f µs of CPU per miss\n", n / r / d * 1e6 }'
    perf report -i "$data" --no-children --sort dso --stdio -g none 2> /dev/null \
        | grep -v '^#' | grep -v '^$' | head -6 | sed 's/^/   /'
    perf report -i "$data" --children --sort sym --stdio -g none 2> /dev/null \
        | grep -E '\[k\] __x64_sys_' | head -12 | sed 's/^/   /'
done
