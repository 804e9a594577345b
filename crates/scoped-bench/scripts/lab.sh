# Sourced by the scripts here, run from the repository root with a lab held open by
# `scoped-bench --hold`: the lab's run directory, its resolvers' processes and addresses, and a
# resolver started beside the lab's own.

# The newest lab's run directory (absolute).
lab_run() {
    local newest
    newest=$(ls -dt target/scoped-bench/run-* 2> /dev/null | head -1)
    if [ -z "$newest" ]; then
        echo "$(basename "$0"): no lab under target/scoped-bench (start scoped-bench --hold)" >&2
        return 1
    fi
    realpath "$newest"
}

# lab_scoped_config RUN ADDR NAME: the lab's scoped configuration, listening on ADDR instead,
# written to RUN/NAME.toml.
lab_scoped_config() {
    sed "s/127\.55\.0\.1:/$2:/g" "$1/scoped.toml" > "$1/$3.toml"
}

# lab_wait ADDR SECONDS: until a resolver at ADDR answers a name under the lab's wildcard.
lab_wait() {
    local i=0 end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        i=$((i + 1))
        dig @"$1" +short +tries=1 +time=1 "ping$i.wild.bench.lab" > /dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "$(basename "$0"): nothing answers at $1 after $2 s" >&2
    return 1
}

# lab_pid NAME: the process of the lab's own scoped, unbound or knot (empty if not running).
lab_pid() {
    case $1 in
        # Whatever the binary is called (scoped-bench --scoped PATH).
        scoped) { pgrep -f ' serve --config .*/scoped.toml' || true; } | head -1 ;;
        unbound) { pgrep -x unbound || true; } | head -1 ;;
        knot) { pgrep -x kresd || true; } | head -1 ;;
    esac
}

# lab_addr NAME: where the lab's scoped, unbound or knot listens.
lab_addr() {
    case $1 in
        scoped) echo 127.55.0.1 ;;
        unbound) echo 127.55.0.2 ;;
        knot) echo 127.55.0.4 ;;
    esac
}
