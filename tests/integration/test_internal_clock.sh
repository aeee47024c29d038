#!/bin/bash
# test_internal_clock.sh - the internal timer clock keeps pace with the wall
# clock: a short stall of the whole daemon (SIGSTOP for 50 ms, as a busy
# virtual machine would) is caught up without an xrun and without losing
# cycles; a stall longer than the catch-up window (500 ms) drops cycles and
# counts exactly one xrun.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

dir=$(tmpdir)
port=$(free_port)
url="http://127.0.0.1:$port/api/v1"
cat >"$dir/airmix.conf" <<CONF
[engine]
backend = internal
sample_rate = 48000
period_frames = 256
lock_memory = false
[http]
port = $port
CONF
"$BIN/airmixd" --config "$dir/airmix.conf" --data-dir "$dir/data" >"$dir/airmixd.log" 2>&1 &
pid=$!
track_pid "$pid"
check "airmixd answers" wait_for 10 curl -sf "$url/health"

health() {	# health KEY
	curl -sf --max-time 2 "$url/health" | $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
# cycles behind the wall clock since start: uptime * rate / period - cycles
lag() {
	curl -sf --max-time 2 "$url/health" |
		$PY -c 'import json,sys; h=json.load(sys.stdin); print(int(h["uptime_s"]*48000/256 - h["cycles"]))'
}

sleep 1
for i in 1 2 3 4 5; do
	kill -STOP "$pid"
	sleep 0.05
	kill -CONT "$pid"
	sleep 0.2
done
check_eq "five 50 ms stalls are caught up: no xrun" 0 "$(health xruns)"
l=$(lag)
check "the cycle count keeps pace with the wall clock (lag $l cycles)" test "${l#-}" -le 4
kill -STOP "$pid"
sleep 0.5
kill -CONT "$pid"
sleep 0.3
check_eq "a 500 ms stall counts one xrun" 1 "$(health xruns)"
stop_pid "$pid"
finish
