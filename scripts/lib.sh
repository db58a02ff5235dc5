# shellcheck shell=bash
# Helpers shared by scripts/bootstrap, scripts/stack and scripts/test.
#
# Source it after `set -euo pipefail`, and set LOG_TAG first to name the caller in log lines:
#
#     LOG_TAG=stack
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Nothing here starts or stops anything by itself; every function is called explicitly.

if [[ -n "${STOREFRONT_LIB_LOADED:-}" ]]; then
    return 0
fi
STOREFRONT_LIB_LOADED=1

# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

# shellcheck disable=SC2034 # these globals are used by the scripts that source this file
{
    # Repository root: the folder above scripts/, with symlinks resolved.
    STOREFRONT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
    # Git-ignored runtime state of scripts/stack and scripts/test (logs, pid files, data).
    STOREFRONT_STATE="$STOREFRONT_ROOT/.stack"
    # Git-ignored Python virtual environment holding the development MongoDB (nx-27017).
    STOREFRONT_VENV="$STOREFRONT_ROOT/.venv"
    # The development MongoDB executable installed by scripts/bootstrap.
    STOREFRONT_DEV_STORE_EXE="$STOREFRONT_VENV/bin/nx-27017"
}

# How long a stopped process gets between SIGTERM and SIGKILL.
STOP_TIMEOUT_SECONDS=10

# ---------------------------------------------------------------------------------------------
# Logging: every line goes to stderr and starts with the caller's tag, e.g. "[stack] ...".
# ---------------------------------------------------------------------------------------------

LOG_TAG="${LOG_TAG:-storefront}"

if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
    _LOG_BOLD=$'\e[1m' _LOG_RED=$'\e[31m' _LOG_YELLOW=$'\e[33m' _LOG_RESET=$'\e[0m'
else
    _LOG_BOLD='' _LOG_RED='' _LOG_YELLOW='' _LOG_RESET=''
fi

log_info() {
    printf '%s[%s]%s %s\n' "$_LOG_BOLD" "$LOG_TAG" "$_LOG_RESET" "$*" >&2
}

log_warn() {
    printf '%s[%s] WARNING:%s %s\n' "$_LOG_YELLOW" "$LOG_TAG" "$_LOG_RESET" "$*" >&2
}

log_error() {
    printf '%s[%s] ERROR:%s %s\n' "$_LOG_RED" "$LOG_TAG" "$_LOG_RESET" "$*" >&2
}

# die MESSAGE...: log an error and exit 1 (EXIT traps still run).
die() {
    log_error "$*"
    exit 1
}

# print_log_tail FILE [LINES]: show the end of a log file, indented, to stderr.
print_log_tail() {
    local file=$1 lines=${2:-40}
    if [[ ! -s "$file" ]]; then
        log_info "(log $file is empty or missing)"
        return 0
    fi
    log_info "last $lines lines of $file:"
    tail -n "$lines" "$file" | sed 's/^/    | /' >&2
}

# now_seconds: wall-clock time with sub-second precision, for phase timings.
now_seconds() {
    printf '%s\n' "${EPOCHREALTIME:-$(date +%s)}"
}

# elapsed_since START: seconds since START (a now_seconds value), one decimal.
elapsed_since() {
    awk -v start="$1" -v end="$(now_seconds)" 'BEGIN { printf "%.1f", end - start }'
}

# ---------------------------------------------------------------------------------------------
# Ports and readiness
# ---------------------------------------------------------------------------------------------

# free_port: print a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close).
free_port() {
    local python=python3
    [[ -x "$STOREFRONT_VENV/bin/python" ]] && python="$STOREFRONT_VENV/bin/python"
    "$python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_open HOST PORT: true when something accepts TCP connections on HOST:PORT.
port_open() {
    # shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# pid_alive PID: true when the process exists and is not a zombie.
pid_alive() {
    local pid=$1 state
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    state="$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# wait_for_port HOST PORT TIMEOUT_SECONDS [PID]
# Waits until HOST:PORT accepts connections. With PID, gives up as soon as that process is gone.
# Returns 0 when open, 1 on timeout, 2 when PID exited first.
wait_for_port() {
    local host=$1 port=$2 timeout=$3 pid=${4:-}
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if port_open "$host" "$port"; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            return 2
        fi
        sleep 0.2
    done
    port_open "$host" "$port" && return 0
    return 1
}

# wait_for_file PATH TIMEOUT_SECONDS [PID]
# Waits until PATH exists. With PID, gives up as soon as that process is gone.
# Returns 0 when the file exists, 1 on timeout, 2 when PID exited first.
wait_for_file() {
    local path=$1 timeout=$2 pid=${3:-}
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if [[ -e "$path" ]]; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            return 2
        fi
        sleep 0.2
    done
    [[ -e "$path" ]] && return 0
    return 1
}

# http_status URL: print the HTTP status code of a GET (000 when nothing answers).
http_status() {
    curl --silent --output /dev/null --max-time 3 --write-out '%{http_code}' "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Background processes tracked by pid files
#
# A pid file holds two lines: the pid, and the absolute path of the executable that was started.
# Before a process is signalled, /proc/PID/cmdline must still contain that path as one of its
# arguments, so a recycled pid or a stale file never makes us kill somebody else's process.
# (Python entry points such as nx-27017 run as "python3 /abs/path/nx-27017 ...": the path is
# argument 1 there, which is why any argument may match.)
# ---------------------------------------------------------------------------------------------

# proc_matches PID EXE: true when PID is alive and EXE is one of its command-line arguments (or, for nginx, which
# rewrites its command line as one "nginx: master process EXE ARGS..." string, starts that string).
proc_matches() {
    local pid=$1 exe=$2 arg
    pid_alive "$pid" || return 1
    local -a args=()
    mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || return 1
    for arg in "${args[@]}"; do
        [[ "$arg" == "$exe" || "$arg" == "nginx: master process $exe "* ]] && return 0
    done
    return 1
}

# pidfile_pid PIDFILE: print the recorded pid (empty when no file).
pidfile_pid() {
    [[ -f "$1" ]] || return 0
    sed -n 1p "$1"
}

# pidfile_exe PIDFILE: print the recorded executable (empty when no file).
pidfile_exe() {
    [[ -f "$1" ]] || return 0
    sed -n 2p "$1"
}

# proc_running PIDFILE: true when the process recorded in PIDFILE is alive and still ours.
proc_running() {
    local pidfile=$1 pid exe
    [[ -f "$pidfile" ]] || return 1
    pid="$(pidfile_pid "$pidfile")"
    exe="$(pidfile_exe "$pidfile")"
    [[ -n "$pid" && -n "$exe" ]] || return 1
    proc_matches "$pid" "$exe"
}

# proc_start PIDFILE LOGFILE EXE [ARGS...]
# Starts EXE in the background in its own session (so a Ctrl-C or a closed terminal does not
# reach it), stdin from /dev/null, stdout and stderr appended to LOGFILE, and records it in
# PIDFILE. EXE must be an absolute path. Sets STARTED_PID.
STARTED_PID=''
proc_start() {
    local pidfile=$1 logfile=$2
    shift 2
    local exe=$1
    [[ "$exe" == /* ]] || die "proc_start needs an absolute executable path, got '$exe'"
    mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
    printf '==== %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$logfile"
    (
        # The daemon gets none of our other open files: a caller that waits for a pipe or socket
        # it gave us to close (a CI log reader, a test's process monitor) would otherwise wait
        # until the daemon exits.
        local fd
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        # Not a process-group leader (job control is off in scripts), so setsid runs EXE in
        # place and $! is EXE's own pid.
        exec setsid "$@" </dev/null >>"$logfile" 2>&1
    ) &
    STARTED_PID=$!
    printf '%s\n%s\n' "$STARTED_PID" "$exe" >"$pidfile"
}

# proc_stop NAME PIDFILE
# Stops the process recorded in PIDFILE if it is still ours: SIGTERM, up to STOP_TIMEOUT_SECONDS,
# then SIGKILL. A stale pid file (process gone, or the pid now belongs to another program) is
# removed without signalling anything. Returns 0 in every case but a process that survives
# SIGKILL.
proc_stop() {
    local name=$1 pidfile=$2 pid exe
    if [[ ! -f "$pidfile" ]]; then
        return 0
    fi
    pid="$(pidfile_pid "$pidfile")"
    exe="$(pidfile_exe "$pidfile")"
    if [[ -z "$pid" || -z "$exe" ]] || ! proc_matches "$pid" "$exe"; then
        log_info "$name: not running (removing stale pid file $pidfile)"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
    while proc_matches "$pid" "$exe" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if proc_matches "$pid" "$exe"; then
        log_warn "$name (pid $pid) did not stop within ${STOP_TIMEOUT_SECONDS}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        local _
        for _ in {1..50}; do
            proc_matches "$pid" "$exe" || break
            sleep 0.1
        done
        if proc_matches "$pid" "$exe"; then
            log_error "$name (pid $pid) survived SIGKILL"
            return 1
        fi
    fi
    rm -f "$pidfile"
    log_info "$name: stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# The services: name, executable (a SwiftPM product), default port, peer-URL variable.
# The port actually used is ${NAME}_PORT from the environment (env.example, .env) when set.
# ---------------------------------------------------------------------------------------------

# shellcheck disable=SC2034 # used by the scripts that source this file
STOREFRONT_SERVICES=(user product inventory cart order payment notification)
declare -A STOREFRONT_SERVICE_DEFAULT_PORT=(
    [user]=8080
    [product]=4000
    [inventory]=6000
    [cart]=9000
    [order]=7000
    [payment]=3000
    [notification]=2000
)

# service_executable NAME: the SwiftPM product name, e.g. user-service.
service_executable() {
    printf '%s-service\n' "$1"
}

# service_port NAME: ${NAME}_PORT from the environment, else the default from the table.
service_port() {
    local var
    var="$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_PORT"
    printf '%s\n' "${!var:-${STOREFRONT_SERVICE_DEFAULT_PORT[$1]}}"
}

# service_url_var NAME: the variable other services read to reach NAME, e.g. USER_URL.
service_url_var() {
    printf '%s_URL\n' "$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"
}

# is_service_name NAME: true for one of the seven names.
is_service_name() {
    local s
    for s in "${STOREFRONT_SERVICES[@]}"; do
        [[ "$s" == "$1" ]] && return 0
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Configuration and tools
# ---------------------------------------------------------------------------------------------

# load_env [OVERRIDES]: export every variable of env.example, then of the local overrides file
# (default .env) if present.
load_env() {
    local file
    set -a
    for file in "$STOREFRONT_ROOT/env.example" "${1:-$STOREFRONT_ROOT/.env}"; do
        if [[ -f "$file" ]]; then
            # shellcheck source=/dev/null # plain KEY=value files, not scripts
            source "$file"
        fi
    done
    set +a
}

# require_swift: fail with a clear message when the swift toolchain is not on PATH.
require_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        local hint=''
        if [[ -x /opt/swift/usr/bin/swift ]]; then
            # shellcheck disable=SC2016 # the user types $PATH literally
            hint=' It is installed at /opt/swift: run  export PATH="/opt/swift/usr/bin:$PATH"  and retry.'
        fi
        die "swift is not on PATH. Storefront needs Swift 6.3 (https://www.swift.org/install/linux/).$hint"
    fi
}

# swift_bin_path: the folder where `swift build` puts executables (debug).
swift_bin_path() {
    (cd "$STOREFRONT_ROOT" && swift build --show-bin-path)
}
