# Shared helpers for the benchmark scripts: logging, free ports, readiness polling, process
# CPU time and RSS from /proc, and stopping what a script started. Sourced, never run.
# shellcheck shell=bash

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The interpreter that can import Debian's python3-* packages (see DESIGN.md, toolchain facts).
BENCH_PY=/usr/bin/python3

# Prints N distinct free TCP ports on 127.0.0.1, one per line. All N sockets stay bound until
# every port is chosen, so the answers differ; another process could still take one before we
# bind it, which the caller notices when its server fails to start.
bench_free_ports() {
    "$BENCH_PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# Polls URL until it answers 200, for at most TIMEOUT seconds, failing early if PID exits.
# Usage: bench_wait_http URL PID [TIMEOUT]
bench_wait_http() {
    local url=$1 pid=$2 timeout=${3:-15} deadline code
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null) || true
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

# PID and its direct children (nginx: master and workers), space-separated.
bench_proc_tree() {
    local pid=$1 kids
    kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr '\n' ' ')
    echo "$pid $kids"
}

# Sum of utime+stime, in clock ticks, over the given PIDs (all threads of each process:
# /proc/PID/stat reports the whole thread group). Field 2 (comm) may hold spaces, so the
# fields are counted after its closing parenthesis.
bench_cpu_ticks() {
    local total=0 pid stat rest
    local -a f
    for pid in "$@"; do
        stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
        rest=${stat##*) }
        # rest starts at field 3 (state); utime and stime are fields 14 and 15.
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# "BUSY TOTAL IRQ" jiffies of one CPU from /proc/stat: busy = all but idle and iowait; irq =
# hard + soft interrupt time (loopback networking runs mostly in softirq and is not charged to
# any process). Guest time is already inside user, so only the first eight columns count.
bench_core_jiffies() {
    awk -v cpu="cpu$1" '$1 == cpu {
        total = 0; for (i = 2; i <= 9; i++) total += $i
        print total - $5 - $6, total, $7 + $8 }' /proc/stat
}

# Sum of VmRSS in KiB over the given PIDs.
bench_rss_kib() {
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status 2>/dev/null) || kib=0
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# Sends SIGTERM, waits up to 10 s for the process to go, then SIGKILL. Only for PIDs this
# script started.
bench_stop() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        bench_log "pid $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Raises the open-file limit toward WANT (65536) as far as the hard limit allows; prints the
# limit obtained. Containers often cap the hard limit (e.g. 20000) and deny raising it.
bench_raise_nofile() {
    local want=$1 hard
    if ! ulimit -n "$want" 2>/dev/null; then
        hard=$(ulimit -Hn)
        [[ $hard == unlimited ]] && hard=$want
        ulimit -n "$hard" 2>/dev/null || true
    fi
    ulimit -n
}

# Whether the kernel charges interrupt time to the task it interrupts as well as to the irq and
# softirq columns of /proc/stat: "yes" without CONFIG_IRQ_TIME_ACCOUNTING (plain tick sampling:
# a tick in softirq adds to the current task's stime too) or with it disabled at boot
# (tsc=noirqtime), "no" with it, "unknown" when the kernel config cannot be read. It decides how
# much of a core other processes took: busy - ours ("yes"), busy - interrupts - ours ("no").
bench_irq_in_task_time() {
    local config value
    grep -qw 'tsc=noirqtime' /proc/cmdline 2>/dev/null && { echo yes; return; }
    for config in /proc/config.gz "/boot/config-$(uname -r)"; do
        [[ -r $config ]] || continue
        # zcat -f also reads an uncompressed file; sed reads to the end (no SIGPIPE under pipefail).
        value=$(zcat -f "$config" 2>/dev/null | sed -n 's/^CONFIG_IRQ_TIME_ACCOUNTING=//p')
        if [[ $value == y ]]; then echo no; else echo yes; fi
        return
    done
    echo unknown
}

# A temp dir for the run, and the cleanup of everything the script starts: sets `tmp` (mode 755:
# nginx workers and other unprivileged children read it) and `started_pids` (append the PID of
# every server started); on exit, Ctrl-C or SIGTERM, stops them newest first and removes the dir
# unless KEEP_TMP=1. Usage: bench_temp_dir /tmp/portico-bench-NAME.XXXXXX (not in a subshell).
bench_temp_dir() {
    tmp=$(mktemp -d "$1")
    chmod 755 "$tmp"
    started_pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        bench_stop "${started_pids[i]}"
    done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        bench_log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}

# Shows the last lines of LOG (when it has any), then dies with WHAT. Usage: bench_setup_failed WHAT LOG
bench_setup_failed() {
    local what=$1 log=$2
    if [[ -s $log ]]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 20 "$log" >&2
    fi
    bench_die "$what"
}
