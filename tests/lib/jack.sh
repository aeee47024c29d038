# jack.sh - a private JACK server for integration tests: `jackd -d dummy`
# under a unique server name, started, killed and restarted by PID.
#
# Source after lib.sh. jack_start NAME LOG starts the server (non-realtime,
# because test machines may refuse SCHED_FIFO; the dummy driver's timer
# clocks it) and waits until a client can connect; JACK_PID holds its PID,
# which lib.sh kills at exit. Clients reach it with `-s NAME`, the config key
# [jack] server_name, or JACK_DEFAULT_SERVER=NAME.
#
# Two traps of jackd2 that this file handles:
# - After kill -9 the PID must be reaped (wait) before the same name can be
#   used again: jackd refuses to start while its registry entry's PID still
#   answers kill -0, which a zombie does. jack_kill9 does that.
# - A server that dies without unregistering leaves its entry in the shared
#   registry (/dev/shm/jack-shm-registry), which has only 8 entries for the
#   whole machine; an entry is reclaimed only when a server of the same name
#   starts again. So every name killed and not restarted during the test is
#   started and stopped cleanly at exit (jack_reclaim), which also removes
#   the semaphore files its clients left.

JACK_RATE=${JACK_RATE:-48000}
JACK_PERIOD=${JACK_PERIOD:-256}
JACK_PID=
JACK_NAME=
_jack_killed=()
export JACK_NO_AUDIO_RESERVATION=1

jack_unique_name() {	# a server name no other test uses
	echo "airmix-test-$$-$RANDOM"
}

jack_answers() {	# jack_answers NAME: true when a client can connect
	jack_lsp -s "$1" >/dev/null 2>&1
}

_jack_forget_killed() {	# the name runs again: its registry entry is reclaimed
	local n keep=()
	for n in "${_jack_killed[@]}"; do
		[ "$n" = "$1" ] || keep+=("$n")
	done
	_jack_killed=("${keep[@]}")
}

jack_start() {	# jack_start NAME LOGFILE: start and wait up to 10 s
	local name=$1 log=$2
	jackd --no-realtime -n "$name" -d dummy -r "$JACK_RATE" -p "$JACK_PERIOD" \
		>>"$log" 2>&1 &
	JACK_PID=$!
	JACK_NAME=$name
	track_pid "$JACK_PID"
	_jack_forget_killed "$name"
	if ! wait_for 10 jack_answers "$name"; then
		echo "# jackd $name did not answer within 10 s; its log:" >&2
		sed 's/^/#   /' "$log" >&2
		return 1
	fi
	return 0
}

jack_kill9() {	# kill -9 the server and reap it (bounded: SIGKILL cannot be ignored)
	[ -n "$JACK_PID" ] || return 0
	kill -KILL "$JACK_PID" 2>/dev/null
	wait "$JACK_PID" 2>/dev/null
	_jack_killed+=("$JACK_NAME")
	JACK_PID=
}

jack_stop() {	# clean stop of the server
	[ -n "$JACK_PID" ] || return 0
	stop_pid "$JACK_PID"
	JACK_PID=
}

jack_reclaim() {	# jack_reclaim NAME: start and cleanly stop a killed server's name
	local name=$1 pid
	jackd --no-realtime -n "$name" -d dummy -r "$JACK_RATE" -p "$JACK_PERIOD" \
		>/dev/null 2>&1 &
	pid=$!
	wait_for 5 jack_answers "$name"
	stop_pid "$pid"
	rm -f /dev/shm/jack_sem.*_"$name"_*
}

_jack_exit() {
	local n
	_cleanup
	for n in "${_jack_killed[@]}"; do
		jack_reclaim "$n"
	done
}
trap _jack_exit EXIT
