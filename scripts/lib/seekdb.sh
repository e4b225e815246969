# shellcheck shell=bash
# Helpers to install and run a real seekdb instance for tests.
#
# Source this file:  . "$(dirname "$0")/lib/seekdb.sh"
#
#   seekdb_venv_setup                  create $ROOT/.venv, install pylibseekdb, obshell==0.0.9, pymysql
#   seekdb_bin                         print the path of the seekdb executable
#   seekdb_start DIR PORT RPC_PORT     start (or reuse) an instance, wait until it accepts SQL
#   seekdb_stop DIR                    stop the instance of DIR (idempotent)
#   seekdb_ping PORT                   return 0 if root@127.0.0.1:PORT answers SQL
#
# Knobs (environment): SEEKDB_START_TIMEOUT (s, default 180), SEEKDB_STOP_TIMEOUT (s, default 60),
# SEEKDB_MEMORY_LIMIT (3G), SEEKDB_DATAFILE_SIZE (1G), SEEKDB_LOG_DISK_SIZE (2G).

SEEKDB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROOT="${ROOT:-$SEEKDB_ROOT}"
SEEKDB_VENV="${SEEKDB_VENV:-$SEEKDB_ROOT/.venv}"
SEEKDB_PY="$SEEKDB_VENV/bin/python"
SEEKDB_PIP_PACKAGES=(pylibseekdb "obshell==0.0.9" pymysql pytest)

_seekdb_log() { echo "[seekdb] $*" >&2; }

# Exit 0 when every requirement in SEEKDB_PIP_PACKAGES is importable at a matching version.
_seekdb_venv_ok() {
    [ -x "$SEEKDB_PY" ] || return 1
    "$SEEKDB_PY" - "${SEEKDB_PIP_PACKAGES[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for req in sys.argv[1:]:
    name, _, want = req.partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and have != want:
        sys.exit(1)
EOF
}

seekdb_venv_setup() {
    if _seekdb_venv_ok; then
        _seekdb_log "venv $SEEKDB_VENV ready (${SEEKDB_PIP_PACKAGES[*]})"
        return 0
    fi
    if [ ! -x "$SEEKDB_PY" ]; then
        _seekdb_log "creating venv $SEEKDB_VENV"
        python3 -m venv "$SEEKDB_VENV" || { _seekdb_log "ERROR: python3 -m venv failed"; return 1; }
    fi
    _seekdb_log "pip install ${SEEKDB_PIP_PACKAGES[*]} into $SEEKDB_VENV"
    "$SEEKDB_PY" -m pip install --disable-pip-version-check -q "${SEEKDB_PIP_PACKAGES[@]}" \
        || { _seekdb_log "ERROR: pip install failed"; return 1; }
    _seekdb_venv_ok || { _seekdb_log "ERROR: packages still missing after pip install"; return 1; }
    _seekdb_log "venv ready"
}

seekdb_bin() {
    [ -x "$SEEKDB_PY" ] || { _seekdb_log "ERROR: no venv at $SEEKDB_VENV (run seekdb_venv_setup)"; return 1; }
    local bin
    bin="$("$SEEKDB_PY" -c 'import os, pylibseekdb; print(os.path.join(os.path.dirname(pylibseekdb.__file__), "seekdb"))')" \
        || { _seekdb_log "ERROR: pylibseekdb not importable"; return 1; }
    [ -x "$bin" ] || { _seekdb_log "ERROR: $bin is not executable"; return 1; }
    echo "$bin"
}

# seekdb_ping PORT [DB]: 0 when root (empty password) can run SQL on 127.0.0.1:PORT.
seekdb_ping() {
    local port="$1"
    "$SEEKDB_PY" - "$port" <<'EOF' >/dev/null 2>&1
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", password="",
                    connect_timeout=3, read_timeout=5, write_timeout=5)
with c.cursor() as cur:
    cur.execute("select 1")
    cur.fetchall()
c.close()
EOF
}

# Print the pid of the instance in DIR if it is alive, else nothing (return 1).
_seekdb_pid() {
    local dir="$1" f pid
    for f in "$dir"/run/*.pid; do
        [ -f "$f" ] || continue
        pid="$(tr -dc '0-9' <"$f")"
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q seekdb; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

_seekdb_diag() {
    local dir="$1" log="$1/log/seekdb.log"
    if [ -f "$log" ]; then
        _seekdb_log "ERROR/EDIAG lines from $log (last 40):"
        grep -E '^\[[^]]*\] (ERROR|EDIAG) ' "$log" | sed 's/ BACKTRACE:.*//' | tail -n 40 >&2
    else
        _seekdb_log "no $log"
    fi
    if [ -s "$dir/log/seekdb-launch.out" ]; then
        _seekdb_log "launcher output ($dir/log/seekdb-launch.out, last 20):"
        tail -n 20 "$dir/log/seekdb-launch.out" >&2
    fi
}

seekdb_start() {
    local dir="$1" port="$2" rpc_port="$3"
    if [ -z "$dir" ] || [ -z "$port" ] || [ -z "$rpc_port" ]; then
        _seekdb_log "usage: seekdb_start DIR PORT RPC_PORT"
        return 2
    fi
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)"
    _seekdb_venv_ok || seekdb_venv_setup || return 1

    if seekdb_ping "$port"; then
        _seekdb_log "an instance already answers SQL on 127.0.0.1:$port"
        return 0
    fi

    local bin
    bin="$(seekdb_bin)" || return 1
    if _seekdb_pid "$dir" >/dev/null; then
        _seekdb_log "instance of $dir is running (pid $(_seekdb_pid "$dir")) but not answering yet; waiting"
    else
        local args=(--base-dir "$dir")
        if [ -d "$dir/store" ] && [ -n "$(ls -A "$dir/store" 2>/dev/null)" ]; then
            _seekdb_log "restarting existing instance in $dir (config kept in $dir/store)"
        else
            _seekdb_log "initializing new instance in $dir (port $port, rpc_port $rpc_port)"
            args+=(--port "$port"
                --parameter "rpc_port=$rpc_port"
                --parameter "memory_limit=${SEEKDB_MEMORY_LIMIT:-3G}"
                --parameter "datafile_size=${SEEKDB_DATAFILE_SIZE:-1G}"
                --parameter "log_disk_size=${SEEKDB_LOG_DISK_SIZE:-2G}")
        fi
        mkdir -p "$dir/log"
        # seekdb daemonizes itself; setsid keeps it out of our process group / terminal.
        (cd "$dir" && setsid "$bin" "${args[@]}" </dev/null >>"$dir/log/seekdb-launch.out" 2>&1) || {
            _seekdb_log "ERROR: $bin ${args[*]} exited with $?"
            _seekdb_diag "$dir"
            return 1
        }
    fi

    local timeout="${SEEKDB_START_TIMEOUT:-180}" start now elapsed next_report=10 seen_pid=""
    start=$(date +%s)
    while :; do
        if seekdb_ping "$port"; then
            now=$(date +%s)
            _seekdb_log "ready on 127.0.0.1:$port after $((now - start)) s (pid $(_seekdb_pid "$dir" || echo '?'))"
            return 0
        fi
        now=$(date +%s)
        elapsed=$((now - start))
        if _seekdb_pid "$dir" >/dev/null; then
            seen_pid=1
        elif [ -n "$seen_pid" ] || [ "$elapsed" -ge 20 ]; then
            _seekdb_log "ERROR: seekdb process of $dir is not running (after $elapsed s)"
            _seekdb_diag "$dir"
            return 1
        fi
        if [ "$elapsed" -ge "$timeout" ]; then
            _seekdb_log "ERROR: no SQL on 127.0.0.1:$port after $timeout s"
            _seekdb_diag "$dir"
            return 1
        fi
        if [ "$elapsed" -ge "$next_report" ]; then
            _seekdb_log "waiting for SQL on 127.0.0.1:$port ... ${elapsed}s"
            next_report=$((next_report + 10))
        fi
        sleep 2
    done
}

seekdb_stop() {
    local dir="$1"
    [ -n "$dir" ] || { _seekdb_log "usage: seekdb_stop DIR"; return 2; }
    local pid
    if ! pid="$(_seekdb_pid "$dir")"; then
        _seekdb_log "no running instance in $dir"
        return 0
    fi
    _seekdb_log "stopping instance of $dir (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local timeout="${SEEKDB_STOP_TIMEOUT:-60}" i=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$i" -ge "$timeout" ]; then
            _seekdb_log "still alive after $timeout s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        _seekdb_log "ERROR: pid $pid did not exit"
        return 1
    fi
    _seekdb_log "stopped (after ${i} s)"
}
