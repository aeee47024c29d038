#!/bin/bash
# test_history_faults.sh - the history database going wrong under a running
# airmixd: a corrupt file, a path that cannot be created, a database locked by
# another process (sqlite3 holding BEGIN EXCLUSIVE) before start and while
# running. In every case the daemon starts and answers, the audio keeps
# cycling, /health says what is wrong, and the history keeps its rows: in
# memory for the first two (with the reason as the first row), in the file
# once the lock goes for the others (with one HISTORY_DATABASE_LOCKED row).
# airmixd runs on the internal clock, under the RT-safety shim when it is
# built (not when AIRMIX_NO_RTCHECK=1).
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

AIRMIXD="$BIN/airmixd"
SHIM="$BIN/librtcheck.so"
dir=$(tmpdir)
port=$(free_port)
url="http://127.0.0.1:$port/api/v1"
pid=
rc=
lockpid=

have() { command -v "$1" >/dev/null; }
for tool in curl sqlite3; do
	check "$tool is installed" have "$tool"
done
check "airmixd is built ($AIRMIXD)" test -x "$AIRMIXD"
[ "$_failed" -eq 0 ] || finish

write_conf() {	# write_conf [EXTRA INI LINES]
	cat >"$dir/airmix.conf" <<EOF
[engine]
backend = internal
sample_rate = 48000
period_frames = 256
lock_memory = false
[http]
listen = 127.0.0.1
port = $port
[history]
flush_ms = 100
$1
EOF
}

start_airmixd() {	# start_airmixd DATA_DIR LOG
	if [ -f "$SHIM" ] && [ "${AIRMIX_NO_RTCHECK:-0}" != 1 ]; then
		LD_PRELOAD="$SHIM" AIRMIX_RTCHECK_LOG="$dir/rtcheck.log" \
			"$AIRMIXD" --config "$dir/airmix.conf" --data-dir "$1" >"$2" 2>&1 &
	else
		"$AIRMIXD" --config "$dir/airmix.conf" --data-dir "$1" >"$2" 2>&1 &
	fi
	pid=$!
	track_pid "$pid"
}

stop_airmixd() {	# SIGTERM; rc = exit status within 10 s (124 = did not stop)
	local i=0
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		rc=124
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	else
		wait "$pid" 2>/dev/null
		rc=$?
	fi
}

json() {	# json URL EXPR: EXPR (Python, over the reply j) as JSON text; "" when down
	curl -s --max-time 3 "$1" 2>/dev/null |
		$PY -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps(eval(sys.argv[1])))' \
			"$2" 2>/dev/null
}

health() { json "$url/health" "$1"; }

cycles_running() {	# true when health cycles grow within half a second
	local a b
	a=$(health "j['cycles']")
	sleep 0.5
	b=$(health "j['cycles']")
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]
}

history_error_has() {	# history_error_has TEXT: /health history.last_error contains it
	health "j['history']['last_error']" | grep -qF -- "$1"
}

history_healthy() { [ "$(health "j['history']['last_error']")" = '""' ]; }

api_error() {	# api_error NAME: a request that fails (404) and is recorded; prompt
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url/faults-$1")
	[ "$code" = 404 ]
}

db_count() {	# db_count DB WHERE: rows in the file as sqlite3 sees them
	sqlite3 -cmd ".timeout 3000" "$1" "SELECT count(*) FROM history WHERE $2" 2>/dev/null
}

db_count_is() { [ "$(db_count "$1" "$2")" = "$3" ]; }

is_locked() {	# is_locked DB: another writer cannot start a transaction
	! sqlite3 -cmd ".timeout 0" "$1" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1
}

lock_db() {	# lock_db DB: a sqlite3 process holds BEGIN EXCLUSIVE until unlock_db
	rm -f "$dir/lockfifo"
	mkfifo "$dir/lockfifo"
	sqlite3 "$1" <"$dir/lockfifo" >"$dir/lock.out" 2>&1 &
	lockpid=$!
	track_pid "$lockpid"
	exec 3>"$dir/lockfifo"
	printf '.timeout 5000\nBEGIN EXCLUSIVE;\n' >&3
	check "sqlite3 holds BEGIN EXCLUSIVE on $(basename "$1")" wait_for 5 is_locked "$1"
}

unlock_db() {	# the holder commits and exits (bounded: wait_for, then stop_pid)
	printf 'COMMIT;\n.quit\n' >&3
	exec 3>&-
	check "sqlite3 released the lock and exited" wait_for 5 bash -c "! kill -0 $lockpid"
	stop_pid "$lockpid"
}

[ -f "$SHIM" ] && [ "${AIRMIX_NO_RTCHECK:-0}" != 1 ] ||
	echo "# running without the RT-safety check"

# ---- 1: a corrupt database file
data="$dir/corrupt"
mkdir -p "$data"
head -c 16384 /dev/urandom >"$data/history.db"
cp "$data/history.db" "$dir/garbage.copy"
write_conf ""
start_airmixd "$data" "$dir/airmixd-corrupt.log"
check "corrupt: airmixd answers /health" wait_for 15 health "j['clock']"
check "corrupt: audio cycles" cycles_running
check_eq "corrupt: history not persistent" false "$(health "j['history']['persistent']")"
check "corrupt: status names the file and the cause" \
	history_error_has "history database $data/history.db: file is not a database"
check "corrupt: an API error is answered" api_error corrupt
check "corrupt: the first history row says why" wait_for 5 bash -c \
	"curl -s '$url/history?domain=history' | grep -q HISTORY_DATABASE_CORRUPT"
check "corrupt: rows are kept in memory" wait_for 5 bash -c \
	"curl -s '$url/history?domain=api' | grep -q faults-corrupt"
stop_airmixd
check_eq "corrupt: SIGTERM stops airmixd with status 0" 0 "$rc"
check "corrupt: the file is left as it was" cmp -s "$data/history.db" "$dir/garbage.copy"

# ---- 2: a database path that cannot be created (below a regular file)
data="$dir/unwritable"
mkdir -p "$data"
: >"$data/plainfile"
write_conf "[paths]
history_db = $data/plainfile/history.db"
start_airmixd "$data" "$dir/airmixd-unwritable.log"
check "unwritable: airmixd answers /health" wait_for 15 health "j['clock']"
check "unwritable: audio cycles" cycles_running
check_eq "unwritable: history not persistent" false "$(health "j['history']['persistent']")"
check "unwritable: status names the path and the cause" \
	history_error_has "history database $data/plainfile/history.db: unable to open database file"
check "unwritable: an API error is answered" api_error unwritable
check "unwritable: the first history row says why" wait_for 5 bash -c \
	"curl -s '$url/history?domain=history' | grep -q HISTORY_OPEN_FAILED"
check "unwritable: rows are kept in memory" wait_for 5 bash -c \
	"curl -s '$url/history?domain=api' | grep -q faults-unwritable"
stop_airmixd
check_eq "unwritable: SIGTERM stops airmixd with status 0" 0 "$rc"

# ---- 3: locked by another process before airmixd starts
data="$dir/locked-start"
mkdir -p "$data"
db="$data/history.db"
sqlite3 "$db" "CREATE TABLE someone_else (x);"
write_conf ""
lock_db "$db"
start_airmixd "$data" "$dir/airmixd-locked-start.log"
check "locked at start: airmixd answers /health" wait_for 15 health "j['clock']"
check "locked at start: audio cycles" cycles_running
check "locked at start: status says database is locked" wait_for 5 \
	history_error_has "database is locked"
check "locked at start: API errors answered at once" api_error locked-start
unlock_db
check "locked at start: queued rows reach the file" wait_for 10 db_count_is "$db" \
	"request LIKE '%faults-locked-start%'" 1
check "locked at start: ENGINE_STARTED in the file" wait_for 5 db_count_is "$db" \
	"name = 'ENGINE_STARTED'" 1
check "locked at start: one HISTORY_DATABASE_LOCKED row" wait_for 5 db_count_is "$db" \
	"name = 'HISTORY_DATABASE_LOCKED'" 1
check "locked at start: status healthy again" wait_for 5 history_healthy
check_eq "locked at start: history persistent" true "$(health "j['history']['persistent']")"
check_eq "locked at start: journal mode wal" wal "$(sqlite3 "$db" 'PRAGMA journal_mode')"
stop_airmixd
check_eq "locked at start: SIGTERM stops airmixd with status 0" 0 "$rc"

# ---- 4: locked while running
data="$dir/locked-running"
mkdir -p "$data"
db="$data/history.db"
write_conf ""
start_airmixd "$data" "$dir/airmixd-locked-running.log"
check "locked while running: airmixd answers /health" wait_for 15 health "j['clock']"
check "locked while running: ENGINE_STARTED in the file" wait_for 5 db_count_is "$db" \
	"name = 'ENGINE_STARTED'" 1
lock_db "$db"
ok=0
for i in $(seq 1 20); do
	api_error "locked-running-$i" && ok=$((ok + 1))
done
check_eq "locked while running: 20 API errors answered at once" 20 "$ok"
check "locked while running: status says database is locked" wait_for 5 \
	history_error_has "database is locked"
check "locked while running: audio cycles" cycles_running
check_eq "locked while running: rows wait for the lock" 0 \
	"$(db_count "$db" "request LIKE '%faults-locked-running-%'")"
unlock_db
check "locked while running: the 20 rows reach the file" wait_for 10 db_count_is "$db" \
	"request LIKE '%faults-locked-running-%'" 20
check "locked while running: one HISTORY_DATABASE_LOCKED row" wait_for 5 db_count_is "$db" \
	"name = 'HISTORY_DATABASE_LOCKED'" 1
check "locked while running: status healthy again" wait_for 5 history_healthy
check_eq "locked while running: no rows dropped" 0 "$(health "j['history']['rows_dropped']")"
stop_airmixd
check_eq "locked while running: SIGTERM stops airmixd with status 0" 0 "$rc"

if [ -f "$SHIM" ] && [ "${AIRMIX_NO_RTCHECK:-0}" != 1 ]; then
	check "RT-safety shim logged no violations" test ! -s "$dir/rtcheck.log"
fi
finish
