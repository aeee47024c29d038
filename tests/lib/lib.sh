# lib.sh - shell helpers for integration tests: assertions, ports, servers by PID.
#
# Source it from a test script. check/check_eq print "ok - ..." or
# "not ok - ...", and finish prints "# passed N failed M" (summed by
# tests/run.sh) and exits non-zero on failure. Every server a test starts is
# recorded with track_pid and killed by PID on exit (never by name).

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
BIN="$TOP/$BUILD"
ARTEFACTS=${ARTEFACTS:-$TOP/$BUILD/artefacts}
mkdir -p "$ARTEFACTS"
PY=/usr/bin/python3
_passed=0
_failed=0
_pids=()
# tmpdir runs in $(...) subshells, so the folders to remove are listed in a file
_tmplist=$(mktemp /tmp/airmix-test-dirs.XXXXXX)

check() {	# check "description" command...
	local what=$1
	shift
	if "$@"; then
		_passed=$((_passed + 1))
		echo "ok - $what"
	else
		_failed=$((_failed + 1))
		echo "not ok - $what"
	fi
}

# Under a sanitizer (AIRMIX_SANITIZER, set by tests/suites.sh) the code runs
# several times slower: deadline checks say so and pass instead of asserting
# a timing the build cannot promise. Every other check still runs.
check_timing_eq() {	# check_timing_eq "description" expected actual
	if [ -n "${AIRMIX_SANITIZER:-}" ]; then
		_passed=$((_passed + 1))
		echo "ok - $1 # skipped under $AIRMIX_SANITIZER (deadline check; got $3)"
		return
	fi
	check_eq "$@"
}

# The stall witness (tests/lib/stalls.py): started before the daemon under
# test, it lets own_xruns excuse the xruns a machine stall explains.
stallwatch_start() {	# stallwatch_start LOG
	[ -z "${AIRMIX_SANITIZER:-}" ] && [ -x "$BIN/stallwatch" ] || return 0
	"$BIN/stallwatch" "$1" &
	track_pid $!
}

own_xruns() {	# own_xruns URL LOG: prints the xruns no witnessed stall explains
	curl -s --max-time 5 "$1/health" | $PY "$TOP/tests/lib/stalls.py" "$2"
}

check_eq() {	# check_eq "description" expected actual
	if [ "$2" = "$3" ]; then
		_passed=$((_passed + 1))
		echo "ok - $1"
	else
		_failed=$((_failed + 1))
		echo "not ok - $1: expected '$2', got '$3'"
	fi
}

track_pid() { _pids+=("$1"); }

tmpdir() {	# prints a fresh directory removed at exit
	local d
	d=$(mktemp -d /tmp/airmix-test.XXXXXX)
	echo "$d" >>"$_tmplist"
	echo "$d"
}

free_port() {	# an unused TCP port on 127.0.0.1
	$PY - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_for() {	# wait_for SECONDS command...: poll until the command succeeds
	local limit=$1 i=0
	shift
	while [ "$i" -lt $((limit * 10)) ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

stop_pid() {	# stop_pid PID: TERM, then KILL after 5 s
	local pid=$1 i=0
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

_cleanup() {
	local p d
	for p in "${_pids[@]}"; do stop_pid "$p"; done
	while read -r d; do rm -rf "$d"; done <"$_tmplist"
	rm -f "$_tmplist"
}
trap _cleanup EXIT

finish() {
	echo "# passed $_passed failed $_failed"
	[ "$_failed" -eq 0 ]
	exit $?
}
