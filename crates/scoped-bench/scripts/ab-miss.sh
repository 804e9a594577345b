#!/usr/bin/env bash
# Two scoped binaries, A and B, on cache misses side by side in a held bench lab, alternating
# rounds, each measured in queries per CPU-second of its own process (from /proc). Run-to-run
# swings on a shared two-core machine are larger than most single changes; alternating A and B
# in one lab, minutes apart, shows what a change does in time (callgrind-miss.sh shows it in
# instructions). Needs dnsperf and a lab held open in another shell:
#
#     target/release/scoped-bench --hold --scoped target/release/scoped --skip pdns,knot,loaded
#
# Usage: ab-miss.sh BINARY_A BINARY_B [ROUNDS] [MISSES]
# A listens on 127.55.0.22, B on 127.55.0.23, with the lab's scoped configuration; each round
# sends MISSES (default 40000) fresh names under the lab's wildcard to each, 100 outstanding.
# PREFILL_B=N first sends B N fresh names, unmeasured: with the same binary twice, that weighs
# a large cache against a small one. PREFILL=N sends both N fresh names first: two binaries
# compared with full caches, the state a busy resolver lives in.
set -euo pipefail
a=$(realpath "${1:?usage: ab-miss.sh BINARY_A BINARY_B [ROUNDS] [MISSES]}")
b=$(realpath "${2:?usage: ab-miss.sh BINARY_A BINARY_B [ROUNDS] [MISSES]}")
rounds=${3:-5}
misses=${4:-40000}
source "$(dirname "$0")/lab.sh"
run=$(lab_run)
start() { # BINARY ADDR TAG
    lab_scoped_config "$run" "$2" "scoped-ab-$3"
    (cd "$run" && taskset -c 1 "$1" serve --config "scoped-ab-$3.toml" > "/tmp/ab-$3.out" 2>&1 &)
    lab_wait "$2" 10
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # ADDR PID TAG ROUND
    local names="/tmp/ab-names-$3-$4.txt"
    for i in $(seq 1 "$misses"); do echo "r$4$3n$i.wild.bench.lab. A"; done > "$names"
    local before after done_
    before=$(cpu_ticks "$2")
    done_=$(taskset -c 0 dnsperf -s "$1" -d "$names" -n 1 -q 100 -l 120 | awk '/Queries completed/ {print $3}')
    after=$(cpu_ticks "$2")
    rm -f "$names"
    echo $(( done_ * $(getconf CLK_TCK) / (after - before) ))
}
pkill -f 'scoped-ab-' || true
# The resolvers under test alone on CPU 1; the load and the authoritatives on CPU 0.
for pid in $(pgrep -x nsd); do taskset -pc 0 "$pid" > /dev/null; done
start "$a" 127.55.0.22 A
start "$b" 127.55.0.23 B
pid_a=$(pgrep -f 'scoped-ab-A.toml' | head -1)
pid_b=$(pgrep -f 'scoped-ab-B.toml' | head -1)
prefill() { # COUNT ADDR...
    local prefill=/tmp/ab-names-prefill.txt count=$1
    shift
    for i in $(seq 1 "$count"); do echo "p${i}fill.wild.bench.lab. A"; done > "$prefill"
    for addr in "$@"; do
        taskset -c 0 dnsperf -s "$addr" -d "$prefill" -n 1 -q 100 -l 600 | grep 'Queries completed'
    done
    rm -f "$prefill"
}
if [ "${PREFILL:-0}" -gt 0 ]; then
    prefill "$PREFILL" 127.55.0.22 127.55.0.23
elif [ "${PREFILL_B:-0}" -gt 0 ]; then
    prefill "$PREFILL_B" 127.55.0.23
fi
ratios=()
for round in $(seq 1 "$rounds"); do
    # Alternate which goes first, so neither always runs on a warmer machine.
    if (( round % 2 )); then
        qa=$(measure 127.55.0.22 "$pid_a" A "$round"); qb=$(measure 127.55.0.23 "$pid_b" B "$round")
    else
        qb=$(measure 127.55.0.23 "$pid_b" B "$round"); qa=$(measure 127.55.0.22 "$pid_a" A "$round")
    fi
    ratio=$(echo "scale=3; $qb / $qa" | bc)
    ratios+=("$ratio")
    echo "round $round: A $qa, B $qb misses per CPU-second; B/A $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
echo "B/A median of $rounds rounds: $median"
pkill -f 'scoped-ab-' || true
