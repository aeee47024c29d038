#!/bin/bash
# test_record_crash_jack.sh - the recorder's crash check on the JACK dummy
# clock: airmixd, a client of a private `jackd -d dummy`, records a 2-stem
# take (the publish and playout buses, a 1 kHz tone on both) and is killed
# with SIGKILL at 20 random instants (0.3 to 2.5 s into a take). After each
# kill the restart recovers every .part file: both stems exist under their
# final names, Python's wave module (libsndfile's view is checked by the unit
# suite) and sox read them with the same length, the tone is there, and the
# audio lost (wall time from the take's start to the kill, minus the frames
# recovered) is at most the header interval plus one ring. The worst case is
# printed. A RECORDER_FILE_RECOVERED row for every file, and no RT-safety
# violation (when the shim is built).
#
# Run: BUILD=build bash tests/integration/test_record_crash_jack.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"
source "$TOP/tests/lib/jack.sh"

AIRMIXD="$BIN/airmixd"
SHIM="$BIN/librtcheck.so"
ROUNDS=${AIRMIX_CRASH_ROUNDS:-20}
HEADER_MS=500
RING_MS=500
use_shim() { [ -z "${AIRMIX_NO_RTCHECK:-}" ] && [ -f "$SHIM" ]; }
dir=$(tmpdir)
server=$(jack_unique_name)
port=$(free_port)
url="http://127.0.0.1:$port/api/v1"
rec="$dir/data/recordings"
pid=

have() { command -v "$1" >/dev/null; }
for tool in jackd jack_lsp curl sox; do
	check "$tool is installed" have "$tool"
done
check "airmixd is built ($AIRMIXD)" test -x "$AIRMIXD"
[ "$_failed" -eq 0 ] || finish

cat >"$dir/airmix.conf" <<EOF
[engine]
sample_rate = 48000
period_frames = 256
lock_memory = false
[jack]
client_name = airmix
server_name = $server
inputs = 0
reconnect_ms = 200
[tone]
enabled = true
frequency_hz = 1000
level_dbfs = -18
buses = both
[recorder]
header_interval_ms = $HEADER_MS
ring_ms = $RING_MS
warn_free_mb = 0
min_free_mb = 1
[http]
port = $port
[log]
level = warning
EOF

start_airmixd() {	# start_airmixd LOG: start and wait until it answers (10 s)
	if use_shim; then
		LD_PRELOAD="$SHIM" AIRMIX_RTCHECK_LOG="$dir/rtcheck.log" \
			"$AIRMIXD" --config "$dir/airmix.conf" --data-dir "$dir/data" \
			--backend jack >>"$1" 2>&1 &
	else
		"$AIRMIXD" --config "$dir/airmix.conf" --data-dir "$dir/data" \
			--backend jack >>"$1" 2>&1 &
	fi
	pid=$!
	track_pid "$pid"
	wait_for 10 curl -sf --max-time 1 "$url/health"
}

# frames, rate, rms of a 16-bit WAV (python's wave module), or "error ..."
wav_info() {
	$PY - "$1" <<'PY'
import array, math, sys, wave
try:
    with wave.open(sys.argv[1], "rb") as w:
        n = w.getnframes()
        data = array.array("h", w.readframes(n))
        rms = math.sqrt(sum(float(x) * x for x in data[:96000]) / max(1, len(data[:96000])))
        print(n, w.getframerate(), "%.4f" % (rms / 32768.0))
except Exception as exc:
    print("error", exc)
PY
}

jack_start "$server" "$dir/jackd.log" || { check "jackd dummy started" false; finish; }
check "airmixd starts on the JACK dummy clock" start_airmixd "$dir/airmixd.log"

worst=0
worst_round=-1
lost_all=()
ok_rounds=0
seed=${AIRMIX_CRASH_SEED:-5}
RANDOM=$seed
t_begin=$(date +%s)
for ((i = 0; i < ROUNDS; i++)); do
	# a random delay in 0.3 .. 2.5 s
	delay_ms=$((300 + RANDOM % 2200))
	body="{\"tracks\":[\"publish\",\"playout\"],\"bits\":16,\"name\":\"crash$i-{track}\"}"
	t0=$($PY -c 'import time; print(time.time())')
	code=$(curl -s -o "$dir/take.json" -w '%{http_code}' --max-time 5 -X POST \
		-H 'Content-Type: application/json' -d "$body" "$url/recordings")
	if [ "$code" != 201 ]; then
		check "round $i: take started (HTTP $code)" false
		break
	fi
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	kill -KILL "$pid"
	t1=$($PY -c 'import time; print(time.time())')
	wait "$pid" 2>/dev/null
	parts=$(cd "$rec" && ls -1 ./*.part 2>/dev/null | wc -l)
	start_airmixd "$dir/airmixd.log" || { check "round $i: airmixd restarts" false; break; }
	round_ok=1
	[ "$parts" = 2 ] || { echo "# round $i: $parts .part files after the kill"; round_ok=0; }
	for track in publish playout; do
		f="$rec/crash$i-$track.wav"
		if [ ! -f "$f" ] || [ -e "$f.part" ]; then
			echo "# round $i: $f not recovered: $(ls "$rec" | tr '\n' ' ')"
			round_ok=0
			continue
		fi
		read -r frames rate level <<<"$(wav_info "$f")"
		sox_frames=$(sox --i -s "$f" 2>/dev/null)
		if [ "$frames" = error ] || [ "$rate" != 48000 ] || [ "$sox_frames" != "$frames" ]; then
			echo "# round $i: $track: wave says '$frames $rate', sox says '$sox_frames'"
			round_ok=0
			continue
		fi
		if ! $PY -c "import sys; sys.exit(0 if float('$level') > 0.05 else 1)"; then
			echo "# round $i: $track: no tone (rms $level)"
			round_ok=0
		fi
		lost=$($PY -c "print('%.3f' % (($t1 - $t0) - $frames / 48000.0))")
		lost_all+=("$lost")
		if $PY -c "import sys; sys.exit(0 if $lost > $worst else 1)"; then
			worst=$lost
			worst_round=$i
		fi
	done
	[ "$round_ok" = 1 ] && ok_rounds=$((ok_rounds + 1))
done
elapsed=$(($(date +%s) - t_begin))
check_eq "every round recovered both stems, read by wave and sox with the same length" \
	"$ROUNDS" "$ok_rounds"
bound=$($PY -c "print('%.3f' % (($HEADER_MS + $RING_MS) / 1000.0))")
echo "# $ROUNDS kills in ${elapsed} s; audio lost per file: ${lost_all[*]}"
echo "# worst case: $worst s lost (round $worst_round); bound: header interval + ring = $bound s"
check "worst loss $worst s <= header interval + one ring ($bound s)" \
	$PY -c "import sys; sys.exit(0 if ${#lost_all[@]} == 2 * $ROUNDS and $worst <= $bound else 1)"

recovered_rows() {	# true when the history holds a recovery row per file
	n=$(curl -sf --max-time 2 "$url/history?domain=recorder&code=5013&limit=100" |
		$PY -c 'import json,sys; print(len(json.load(sys.stdin)["rows"]))' 2>/dev/null)
	[ "${n:-0}" -ge $((2 * ROUNDS)) ]
}
check "a RECORDER_FILE_RECOVERED row for each of the $((2 * ROUNDS)) files" wait_for 5 recovered_rows
stop_pid "$pid"
jack_stop
if use_shim; then
	check "RT-safety shim logged no violations" test ! -s "$dir/rtcheck.log"
fi
finish
