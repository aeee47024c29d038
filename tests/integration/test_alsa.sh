#!/bin/bash
# test_alsa.sh - airmixd on the ALSA clock without hardware: the device is
# ALSA's file plugin over the null plugin, defined in a private file that
# ALSA_CONFIG_PATH adds after the system alsa.conf. A 1 kHz line-up tone at
# -6 dBFS on the publish bus must come out of the file as S16 stereo: both
# channels equal, peak 16422 within 2 %, frequency within 1 % by counting
# zero crossings.
#
# The null plugin does not pace time: it takes every write at once, so the
# clock loop runs as fast as the CPU allows (hundreds of times real time) and
# the file grows by tens of MB a second. The run is therefore bounded by the
# file size (or 3 s) and the test checks the content, not the length.
#
# When jackd is installed, a second run writes through ALSA's jack plugin to
# a private `jackd -d dummy` instead of null (with a plug in between: the
# jack plugin only takes FLOAT_LE): that device takes a period only when the
# server's timer asks for one, so the loop is paced in real time and the
# cycle count over a known time can be checked too. Against the same kind of
# device the backend's unit test (build/tests/test_clock_alsa with
# AIRMIX_TEST_ALSA_PACED) stalls one cycle and checks xrun recovery.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

AIRMIXD="$BIN/airmixd"
dir=$(tmpdir)
port=$(free_port)
url="http://127.0.0.1:$port/api/v1"
pid=

check "airmixd is built ($AIRMIXD)" test -x "$AIRMIXD"
check "numpy is available to $PY" $PY -c 'import numpy'
check "alsa.conf is installed" test -f /usr/share/alsa/alsa.conf
[ "$_failed" -eq 0 ] || finish

write_config() {	# write_config DEVICE FILE
	cat >"$2" <<EOF
[engine]
sample_rate = 48000
period_frames = 256
[alsa]
device = $1
format = S16_LE
periods = 2
[tone]
enabled = true
frequency_hz = 1000
level_dbfs = -6
buses = publish
[http]
port = $port
EOF
}

health() {	# health KEY: one field of GET /health as JSON text ("" when down)
	curl -sf --max-time 2 "$url/health" 2>/dev/null |
		$PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$1" \
			2>/dev/null
}

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

stop_airmixd() {	# SIGTERM; rc = exit status within 10 s (124 = did not stop)
	local i=0
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = "Z" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$i" -ge 100 ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
		return
	fi
	wait "$pid"
	rc=$?
}

analyse() {	# analyse RAWFILE: prints "ok ..." or "bad ..." lines about the tone
	$PY - "$1" <<'PY'
import sys
import numpy as np

raw = np.fromfile(sys.argv[1], dtype="<i2")
frames = raw.size // 2
print(f"note frames {frames} ({frames / 48000:.2f} s of audio)")
# Skip the start (ramps, limiter look-ahead) and look at up to 20 s.
x = raw[: frames * 2].reshape(-1, 2)[4800 : 4800 + 20 * 48000].astype(np.int64)
if x.shape[0] < 4800:
    print(f"bad too few frames to analyse: {x.shape[0]}")
    sys.exit(0)
left, right = x[:, 0], x[:, 1]
same = int(np.count_nonzero(left != right))
print(("ok" if same == 0 else "bad") + f" channels equal ({same} frames differ)")
peak = int(np.max(np.abs(left)))
want = 0.5011872 * 32767
print(("ok" if abs(peak - want) <= 0.02 * want else "bad")
      + f" peak {peak}, expected {want:.0f} within 2 %")
rising = np.count_nonzero((left[:-1] < 0) & (left[1:] >= 0))
freq = rising / (left.size / 48000.0)
print(("ok" if abs(freq - 1000.0) <= 10.0 else "bad")
      + f" frequency {freq:.2f} Hz by zero crossings, expected 1000 within 1 %")
PY
}

check_analysis() {	# check_analysis LABEL RAWFILE
	local line
	while read -r line; do
		case $line in
		ok\ *) check "$1: ${line#ok }" true ;;
		bad\ *) check "$1: ${line#bad }" false ;;
		*) echo "# $1: ${line#note }" ;;
		esac
	done < <(analyse "$2")
}

# ---- 1: file plugin over null (unpaced)
cat >"$dir/asoundrc" <<EOF
pcm.airmixfile {
	type file
	slave.pcm "null"
	file "$dir/out.raw"
	format "raw"
}
EOF
write_config airmixfile "$dir/null.conf"
ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$dir/asoundrc" \
	"$AIRMIXD" --config "$dir/null.conf" --data-dir "$dir/data" --backend alsa \
	>"$dir/airmixd-null.log" 2>&1 &
pid=$!
track_pid "$pid"
check "airmixd answers /health" wait_for 15 health clock
check_eq "clock is alsa" '"alsa"' "$(health clock)"
check_eq "rate is 48000" 48000 "$(health rate)"
check_eq "period is 256" 256 "$(health period)"
# Stop once 4 MB (about 10 s of audio) are written, or after 3 s.
big_enough() { [ "$(file_size "$dir/out.raw")" -ge 4000000 ]; }
wait_for 3 big_enough
cycles=$(health cycles)
xruns=$(health xruns)
check "frames flowed (cycles $cycles)" test "${cycles:-0}" -gt 0
check_eq "no xruns" 0 "$xruns"
stop_airmixd
check_eq "SIGTERM stops airmixd with status 0" 0 "$rc"
size=$(file_size "$dir/out.raw")
echo "# null plugin: $cycles cycles by the last health check; file $size bytes" \
	"($((size / 192000)) s of audio) in at most 3 s of wall time"
check "file holds whole stereo S16 frames" test "$size" -gt 0 -a $((size % 4)) -eq 0
check_analysis "null" "$dir/out.raw"

# ---- 2: file plugin over ALSA's jack plugin (paced by jackd -d dummy)
if ! command -v jackd >/dev/null || ! ls /usr/lib/*/alsa-lib/libasound_module_pcm_jack.so \
	>/dev/null 2>&1; then
	echo "# skip: paced run (jackd or ALSA's jack plugin not installed)"
	finish
fi
source "$TOP/tests/lib/jack.sh"
server=$(jack_unique_name)
check "jackd -d dummy starts as $server" jack_start "$server" "$dir/jackd.log"
cat >>"$dir/asoundrc" <<EOF
pcm.airmixpaced {
	type file
	slave.pcm {
		type plug
		slave.pcm {
			type jack
			playback_ports {
				0 system:playback_1
				1 system:playback_2
			}
		}
	}
	file "$dir/paced.raw"
	format "raw"
}
EOF
cat >>"$dir/asoundrc" <<EOF
pcm.airmixjack {
	type plug
	slave.pcm {
		type jack
		playback_ports {
			0 system:playback_1
			1 system:playback_2
		}
	}
}
EOF
if [ -x "$BIN/tests/test_clock_alsa" ]; then
	summary=
	while read -r line; do
		case $line in
		ok\ -\ *) check "xrun recovery: ${line#ok - }" true ;;
		not\ ok\ -\ *) check "xrun recovery: ${line#not ok - }" false ;;
		\#\ passed*) summary=$line ;;
		esac
	done < <(JACK_DEFAULT_SERVER="$server" AIRMIX_TEST_ALSA_PACED=airmixjack \
		ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$dir/asoundrc" \
		timeout 30 "$BIN/tests/test_clock_alsa" 2>"$dir/unit-paced.log")
	check "xrun recovery test ran to the end (${summary:-no summary})" test -n "$summary"
else
	echo "# skip: xrun recovery ($BIN/tests/test_clock_alsa not built)"
fi
write_config airmixpaced "$dir/paced.conf"
JACK_DEFAULT_SERVER="$server" ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$dir/asoundrc" \
	"$AIRMIXD" --config "$dir/paced.conf" --data-dir "$dir/data" --backend alsa \
	>"$dir/airmixd-paced.log" 2>&1 &
pid=$!
track_pid "$pid"
check "airmixd (paced) answers /health" wait_for 15 health clock
c0=$(health cycles)
sleep 3
c1=$(health cycles)
n=$(( ${c1:-0} - ${c0:-0} ))
check "3 s ran 420..650 of the nominal 562 cycles, in real time ($n)" test "$n" -ge 420 -a "$n" -le 650
echo "# paced run: xruns $(health xruns) (the jack plugin's buffer against a non-realtime dummy driver)"
stop_airmixd
check_eq "SIGTERM stops airmixd (paced) with status 0" 0 "$rc"
check_analysis "paced" "$dir/paced.raw"

if [ "$_failed" -ne 0 ]; then
	for f in "$dir"/*.log; do cp "$f" "$ARTEFACTS/alsa-$(basename "$f")"; done
	tail -20 "$dir"/airmixd-*.log | sed 's/^/# /'
fi
finish
