#!/bin/bash
# test_mixing_jack.sh - the audio mixing manager on the JACK clock: a private
# `jackd -d dummy`, airmixd as its client, a clip preloaded and played once,
# a music file started, pitched, sped up, seeked, paused and resumed, then
# FINISHED; the events are in the history in order, the RT-safety shim stays
# quiet (when it is used: not under sanitizers).
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"
source "$TOP/tests/lib/jack.sh"

AIRMIXD="$BIN/airmixd"
SHIM="$BIN/librtcheck.so"
dir=$(tmpdir)
server=$(jack_unique_name)
port=$(free_port)
url="http://127.0.0.1:$port/api/v1"

mkdir -p "$dir/data/media"
sox -n -r 48000 -c 2 -b 16 "$dir/data/media/jingle.wav" synth 0.5 sine 880 vol 0.3
sox -n -r 44100 -c 2 -b 16 "$dir/data/media/bed.flac" synth 2.0 sine 440 vol 0.3
cat >"$dir/airmix.conf" <<CONF
[engine]
sample_rate = 48000
period_frames = 256
lock_memory = false
[jack]
server_name = $server
inputs = 0
[http]
port = $port
CONF

stallwatch_start "$dir/stalls.log"
check "jackd starts" jack_start "$server" "$dir/jackd.log"
if [ -z "${AIRMIX_NO_RTCHECK:-}" ] && [ -f "$SHIM" ]; then
	LD_PRELOAD="$SHIM" AIRMIX_RTCHECK_LOG="$dir/rtcheck.log" "$AIRMIXD" --config "$dir/airmix.conf" \
		--data-dir "$dir/data" --backend jack >"$dir/airmixd.log" 2>&1 &
else
	"$AIRMIXD" --config "$dir/airmix.conf" --data-dir "$dir/data" --backend jack \
		>"$dir/airmixd.log" 2>&1 &
fi
pid=$!
track_pid "$pid"
check "airmixd answers on the jack clock" wait_for 10 curl -sf "$url/health"

api() {	# api METHOD PATH [JSON]: prints the reply body
	curl -s --max-time 5 -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2"
}
field() {	# field KEY < JSON
	$PY -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$1"
}

check_eq "the clock is jack" '"jack"' "$(curl -s "$url/health" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["clock"]))')"
check_eq "preload the jingle" PRELOADED "$(api POST /mixing/1/preload '{"path":"jingle.wav"}' | field state_name)"
check_eq "play it once on publish" PLAYING \
	"$(api POST /mixing/1/start '{"path":"jingle.wav","type":1,"play_count":1}' | field state_name)"
check_eq "start the 44.1 kHz bed" PLAYING \
	"$(api POST /mixing/2/start '{"path":"bed.flac","play_count":1}' | field state_name)"
check_eq "pitch +3" 3 "$(api PUT /mixing/2 '{"pitch":3}' | field pitch)"
check_eq "speed 150" 150 "$(api PUT /mixing/2 '{"speed":150}' | field speed)"
check_eq "seek to 200 ms" PLAYING "$(api PUT /mixing/2 '{"position_ms":200}' | field state_name)"
check_eq "pause" PAUSED "$(api POST /mixing/2/pause | field state_name)"
check_eq "resume" PLAYING "$(api POST /mixing/2/resume | field state_name)"
finished() { [ "$(api GET /mixing/"$1" | field state_name)" = FINISHED ]; }
check "the jingle finishes" wait_for 5 finished 1
check "the bed finishes" wait_for 5 finished 2
jingle_rows() {	# the history writer batches: poll until the FINISHED row is there
	rows=$(api GET '/history?domain=audio_mixing&subject=mix%201&limit=10' |
		$PY -c 'import json,sys; print(" ".join(r["message"].split()[0] for r in reversed(json.load(sys.stdin)["rows"])))')
	[ "$rows" = "preloaded playing finished" ]
}
check "history of the jingle, in order" wait_for 5 jingle_rows
check_timing_eq "no xruns of airmix's own" 0 "$(own_xruns "$url" "$dir/stalls.log")"
stop_pid "$pid"
if [ -z "${AIRMIX_NO_RTCHECK:-}" ] && [ -f "$SHIM" ]; then
	check "no RT-safety violations" test ! -s "$dir/rtcheck.log"
fi
jack_stop
finish
