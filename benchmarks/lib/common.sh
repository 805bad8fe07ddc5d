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

# ---------------------------------------------------------------------------------------------
# PostgreSQL and the poolers in front of it, for the pool benchmarks (pool_pgbench.sh,
# pool_prepared.sh). They use and set plain globals, named in each comment.

# Sets pg_bindir to PostgreSQL's server programs (pg_config --bindir, else the newest
# /usr/lib/postgresql/N/bin) and checks the tools the pool benchmarks run; dies when missing.
bench_find_pg_bindir() {
    local tool
    pg_bindir=$(pg_config --bindir 2>/dev/null || true)
    if [[ ! -x $pg_bindir/postgres ]]; then
        pg_bindir=$(find /usr/lib/postgresql -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n1 | xargs -r dirname)
    fi
    [[ -n $pg_bindir && -x $pg_bindir/postgres ]] || bench_die "PostgreSQL server programs not found (run .ci/setup-deps as root)"
    for tool in "$pg_bindir/initdb" "$pg_bindir/pgbench" "$pg_bindir/psql" "$pg_bindir/pg_isready"; do
        [[ -x $tool ]] || bench_die "$tool not found (run .ci/setup-deps as root)"
    done
}

# initdb, postgres and pgbouncer refuse to run as root: sets as_pg to the prefix that runs them as
# the postgres user (setpriv execs in place, so $! is the server's own pid), empty when not root.
bench_pg_server_user() {
    as_pg=()
    if (($(id -u) == 0)); then
        id postgres >/dev/null 2>&1 || bench_die "running as root, but there is no 'postgres' user to run the servers as"
        as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
}

# A fresh cluster in $tmp/pg (data, sock, logs), started on CORE with durability off (the
# benchmarks measure poolers in front of the database, not the disk), its socket in $tmp/pg/sock
# and 127.0.0.1:PORT; waits until it accepts connections. Sets pg_sock, pg_port, pg_pid (added to
# started_pids). Needs pg_bindir, as_pg, tmp. Usage: bench_pg_start PORT MAX_CONNECTIONS CORE
bench_pg_start() {
    local locale deadline
    pg_port=$1
    pg_sock=$tmp/pg/sock
    mkdir -p "$tmp/pg/data" "$pg_sock"
    if ((${#as_pg[@]} > 0)); then chown postgres: "$tmp/pg/data" "$pg_sock"; fi
    chmod 700 "$tmp/pg/data"
    for locale in C.UTF-8 C; do
        if "${as_pg[@]}" "$pg_bindir/initdb" -D "$tmp/pg/data" -U postgres -E UTF8 --locale="$locale" --auth=trust \
            --no-sync >"$tmp/pg/initdb.log" 2>&1; then
            break
        fi
        [[ $locale == C ]] && bench_setup_failed "initdb failed" "$tmp/pg/initdb.log"
        find "$tmp/pg/data" -mindepth 1 -delete
    done
    taskset -c "$3" "${as_pg[@]}" "$pg_bindir/postgres" -D "$tmp/pg/data" -p "$pg_port" \
        -c "unix_socket_directories=$pg_sock" -c listen_addresses=127.0.0.1 -c "max_connections=$2" \
        -c shared_buffers=512MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        >"$tmp/pg/postgres.log" 2>&1 &
    pg_pid=$!
    started_pids+=("$pg_pid")
    deadline=$((SECONDS + 60))
    until "$pg_bindir/pg_isready" -q -h "$pg_sock" -p "$pg_port" -U postgres -d postgres -t 1; do
        kill -0 "$pg_pid" 2>/dev/null || bench_setup_failed "postgres exited at start" "$tmp/pg/postgres.log"
        ((SECONDS < deadline)) || bench_setup_failed "postgres did not accept connections within 60 s" "$tmp/pg/postgres.log"
        sleep 0.1
    done
}

# psql straight to the cluster of bench_pg_start, for set-up and between runs (never measured).
bench_pg_sql() { "$pg_bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$pg_sock" -p "$pg_port" -U postgres "$@"; }

# Database bench, pgbench -i -s SCALE into it, pgbench pinned to CORE. Usage: bench_pgbench_init SCALE CORE
bench_pgbench_init() {
    bench_pg_sql -c "CREATE DATABASE bench" >/dev/null
    bench_log "pgbench -i -s $1"
    taskset -c "$2" "$pg_bindir/pgbench" -i -s "$1" -q -h "$pg_sock" -p "$pg_port" -U postgres bench \
        >"$tmp/pg/pgbench-init.log" 2>&1 || bench_setup_failed "pgbench -i failed" "$tmp/pg/pgbench-init.log"
}

# Can pgbench's user run a query in database bench through HOST PORT within TIMEOUT seconds?
# Usage: bench_pg_answers_within HOST PORT TIMEOUT
bench_pg_answers_within() {
    local host=$1 port=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        if PGCONNECT_TIMEOUT=2 "$pg_bindir/psql" -X -q -A -t -h "$host" -p "$port" -U postgres -d bench \
            -c 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# PgBouncer in transaction mode in front of database bench, Unix socket only, in $tmp/pgbouncer,
# pinned to CORE; dies unless it answers within 20 s. Sets bouncer_pid (added to started_pids).
# SCRIPT names the caller in the config's comment. Usage:
# bench_pgbouncer_start SCRIPT PORT POOL_SIZE MAX_CLIENT_CONN CORE
bench_pgbouncer_start() {
    local dir=$tmp/pgbouncer
    mkdir -p "$dir"
    if ((${#as_pg[@]} > 0)); then chown postgres: "$dir"; fi
    cat >"$dir/pgbouncer.ini" <<EOF
; PgBouncer under test, started by $1.
[databases]
bench = host=$pg_sock port=$pg_port dbname=bench user=postgres
[pgbouncer]
unix_socket_dir = $dir
listen_port = $2
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $3
max_client_conn = $4
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
EOF
    echo '"postgres" ""' >"$dir/userlist.txt"
    taskset -c "$5" "${as_pg[@]}" pgbouncer "$dir/pgbouncer.ini" >"$dir/stdout.log" 2>&1 &
    bouncer_pid=$!
    started_pids+=("$bouncer_pid")
    bench_pg_answers_within "$dir" "$2" 20 ||
        bench_setup_failed "PgBouncer did not answer on $dir port $2" "$dir/stdout.log"
}

# portico with only its pool at work (transaction mode, POOL_SIZE servers, no overflow: the same
# pool as PgBouncer's, whose reserve_pool_size is 0) in front of database bench, in $tmp/portico,
# pinned to CORE; HTTP and admin on free loopback ports. EXTRA: more lines of the pool section
# (two-space indent, each ending in a newline), may be empty. Sets portico_pid (added to
# started_pids) and returns 0 when its pool answers; else sets portico_note, says why on stdout and
# returns 1 (a missing binary, a config it rejects, a build without the pool). Dies when portico
# does not start. Usage:
# bench_portico_pool_start SCRIPT BIN PORT HTTP_PORT ADMIN_PORT POOL_SIZE MAX_CLIENT_CONN CORE EXTRA
bench_portico_pool_start() {
    local script=$1 bin=$2 port=$3 http=$4 admin=$5 dir=$tmp/portico
    mkdir -p "$dir"
    portico_note=""
    if [[ ! -x $bin ]]; then
        portico_note="binary not found at $bin (cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-release portico)"
        echo "portico: $portico_note"
        return 1
    fi
    cat >"$dir/portico.yaml" <<EOF
# portico under test, started by $script: only the pool does work.
workers: 1
listen: 127.0.0.1:$http
upstream: { address: 127.0.0.1:$http }
cache: { enabled: false }
compression: { enabled: false }
pool:
  enabled: true
  socket_dir: $dir
  port: $port
  mode: transaction
  auth: { type: trust }
  max_client_conn: $7
  default_pool_size: $6
  max_overflow: 0
${9}  databases:
    bench: { conninfo: "host=$pg_sock port=$pg_port dbname=bench user=postgres" }
admin: { listen: 127.0.0.1:$admin }
log: { level: warn, access_log: off }
EOF
    if ! "$bin" -t --config "$dir/portico.yaml" >"$dir/check.log" 2>&1; then
        portico_note="rejects the benchmark config: $(tail -n1 "$dir/check.log")"
        echo "portico: $portico_note"
        return 1
    fi
    taskset -c "$8" "$bin" --config "$dir/portico.yaml" >"$dir/stdout.log" 2>&1 &
    portico_pid=$!
    started_pids+=("$portico_pid")
    if ! bench_wait_http "http://127.0.0.1:$admin/health" "$portico_pid" 15; then
        bench_setup_failed "portico did not answer on its admin port 127.0.0.1:$admin" "$dir/stdout.log"
    fi
    if ! bench_pg_answers_within "$dir" "$port" 5; then
        portico_note="pool not available in this build (nothing answered on $dir/.s.PGSQL.$port)"
        echo "portico: pool not available in this build"
        bench_stop "$portico_pid"
        return 1
    fi
}

# The knobs both pool benchmarks take, with their defaults (see benchmarks/README.md). As in issue
# 5's reference setup, Postgres and the pooler share SERVER_CORE and pgbench has CLIENT_CORE alone:
# every µs the pooler spends is taken from the database.
bench_pool_defaults() {
    ROUNDS=${ROUNDS:-3}
    DURATION=${DURATION:-15}
    WARMUP=${WARMUP:-5}
    SCALE=${SCALE:-10}
    POOL_SIZE=${POOL_SIZE:-20}
    SERVER_CORE=${SERVER_CORE:-0}
    CLIENT_CORE=${CLIENT_CORE:-1}
    PORTICO_BIN=${PORTICO_BIN:-$repo/build-release/portico}
    RESULTS_DIR=${RESULTS_DIR:-$repo/benchmarks/results}
    KEEP_TMP=${KEEP_TMP:-0}
}

# What every pool benchmark checks and sets before it starts anything: taskset and Debian's
# python, both cores (else SERVER_CORE=CLIENT_CORE=0 with a warning), no PG*/PORTICO_* variables
# of the caller's shell, an open-file limit for MAX_CLIENTS (a socket each in pgbench, in the
# pooler, and a backend each when direct), and as_pg (bench_pg_server_user).
# Usage: bench_pool_preflight MAX_CLIENTS
bench_pool_preflight() {
    local nofile
    command -v taskset >/dev/null || bench_die "taskset not found (run .ci/setup-deps as root)"
    [[ -x $BENCH_PY ]] || bench_die "$BENCH_PY not found (run .ci/setup-deps as root)"
    if (($(nproc) < 2)); then
        bench_log "warning: fewer than 2 cores available; pgbench shares the servers' core"
        SERVER_CORE=0 CLIENT_CORE=0
    fi
    unset PORTICO_WORKERS PORTICO_LOG_LEVEL PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGOPTIONS PGSERVICE
    nofile=$(bench_raise_nofile 65536)
    ((nofile >= $1 + 200)) || bench_log "warning: open-file limit $nofile is low for $1 clients"
    bench_pg_server_user
}

# The machine, the versions and the knobs, as "name<TAB>value" lines appended to FILE: date, cpu,
# cores, kernel, PostgreSQL, pgbench, PgBouncer, scale, pool size, rounds, duration, cores used,
# load average, and with WITH_PORTICO=1 portico's version and build type (warning when it is not
# a Release build). Usage: bench_pool_facts FILE WITH_PORTICO PORTICO_BIN
bench_pool_facts() {
    local file=$1 cache_file build_type=unknown
    {
        printf 'date\t%s\n' "$(date '+%Y-%m-%d %H:%M:%S %Z')"
        printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
        printf 'cores\t%s\n' "$(nproc)"
        printf 'kernel\t%s\n' "$(uname -r)"
        printf 'postgres_version\t%s\n' "$("$pg_bindir/postgres" --version)"
        printf 'pgbench_version\t%s\n' "$("$pg_bindir/pgbench" --version)"
        if command -v pgbouncer >/dev/null; then printf 'pgbouncer_version\t%s\n' "$(pgbouncer --version 2>&1 | head -n1)"; fi
        printf 'scale\t%s\npool_size\t%s\nrounds\t%s\nduration\t%s\n' "$SCALE" "$POOL_SIZE" "$ROUNDS" "$DURATION"
        printf 'server_core\t%s\nclient_core\t%s\n' "$SERVER_CORE" "$CLIENT_CORE"
        printf 'loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$file"
    [[ $2 == 1 ]] || return 0
    printf 'portico_version\t%s\n' "$("$3" --version 2>/dev/null | head -n1 || echo unknown)" >>"$file"
    cache_file=$(dirname "$3")/CMakeCache.txt
    [[ -f $cache_file ]] && build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache_file")
    printf 'portico_build_type\t%s\n' "${build_type:-unset}" >>"$file"
    [[ $build_type == Release ]] || bench_log "warning: $3 is a '$build_type' build, not Release"
}

# Dies, with the last lines of its log, when one of the named servers has exited during a run:
# pid_of[NAME] and log_of[NAME] are the caller's associative arrays. Usage: bench_alive_or_die NAME...
bench_alive_or_die() {
    local t
    for t in "$@"; do
        kill -0 "${pid_of[$t]}" 2>/dev/null || bench_setup_failed "$t exited during the run" "${log_of[$t]}"
    done
}
