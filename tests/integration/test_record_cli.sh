#!/usr/bin/env bash
# test_record_cli.sh - `airmixctl record ...` against a running airmixd on the
# internal clock (start with tracks, formats and a template, list, get, mark,
# stop, download, rm; tables and --json; usage and server errors), and the
# download route itself with curl: the whole file equals the file on disk,
# single byte ranges (a-b, a-, -n) answer 206 with the exact bytes and a
# Content-Range, a range beyond the end answers 416, and no client path
# reaches the file system.
#
# Run: BUILD=build bash tests/integration/test_record_cli.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

CTL="$BIN/airmixctl"
dir=$(tmpdir)
port=$(free_port)
mkdir -p "$dir/data"
cat >"$dir/airmix.conf" <<EOF
[engine]
backend = internal
lock_memory = false
[http]
listen = 127.0.0.1
port = $port
[recorder]
warn_free_mb = 0
min_free_mb = 1
[log]
level = warning
EOF
"$BIN/airmixd" --config "$dir/airmix.conf" --data-dir "$dir/data" --backend internal \
	>"$dir/log" 2>&1 &
pid=$!
track_pid "$pid"
URL="http://127.0.0.1:$port"
export AIRMIX_URL=$URL
check "airmixd answers" wait_for 15 curl -sf "$URL/api/v1/health"

json_get() {	# json_get EXPR: evaluates EXPR on the JSON document d read from stdin
	$PY -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

run() {	# run ARGS...: sets out, err, rc
	out=$("$CTL" "$@" 2>"$dir/stderr")
	rc=$?
	err=$(cat "$dir/stderr")
}

run --json tone add --freq 440 --level -12 --bus publish --name rtone
tone=$(json_get 'd["id"]' <<<"$out")
check "tone added" test "$rc" = 0 -a -n "$tone"

# ---- start, list, mark, get, stop
run --json record start --track publish --track rtone --format wav --bits 16 \
	--name 'cli-{track}' --description "cli take"
check_eq "record start --json exits 0" 0 "$rc"
id=$(json_get 'd["id"]' <<<"$out")
check_eq "record start --json: two 16-bit wav stems, recording" \
	"recording wav 16 publish,rtone" \
	"$(json_get '"%s %s %s %s" % (d["state"], d["format"], d["bits"], ",".join(f["track"] for f in d["files"]))' \
		<<<"$out")"
run record start --mix --format flac --bits 24 --name 'cliflac-{track}'
check "record start prints the take and its files as tables" test "$rc" = 0 -a \
	-n "$(grep -E '^[0-9]+ +recording +flac/24 ' <<<"$out")" -a \
	-n "$(grep -E '^0 +publish +[0-9]+ +[0-9]+ +0 +.*/cliflac-publish\.flac\.part$' <<<"$out")"
fid=$(awk '$2 == "recording" {print $1; exit}' <<<"$out")
sleep 1
run record list
check "record list: header and both takes" test "$rc" = 0 -a \
	-n "$(grep -E '^ID +STATE +FORMAT +SECONDS +FRAMES +FILES +OVERRUNS +ERROR$' <<<"$out")" -a \
	-n "$(grep -E "^$id +recording +wav/16 +[0-9.]+ +[0-9]+ +2 +0 +-$" <<<"$out")" -a \
	-n "$(grep -E "^$fid +recording +flac/24 " <<<"$out")"
run record mark "$id" "chapter one"
check "record mark prints the marker" test "$rc" = 0 -a \
	-n "$(grep -E '^marker 0 at frame [0-9]+ \([0-9.]+ s\)$' <<<"$out")"
run --json record mark "$id"
check_eq "record mark --json without a label" "1 " "$(json_get 'd["index"], d["label"]' <<<"$out" | tr -d "(),'")"
run record get "$id"
check "record get: take, files and markers tables" test "$rc" = 0 -a \
	-n "$(grep -E "^$id +recording " <<<"$out")" -a \
	-n "$(grep -E '^1 +rtone +[0-9]+ +[0-9]+ +0 +.*/cli-rtone\.wav\.part$' <<<"$out")" -a \
	-n "$(grep -E '^0 +[0-9]+ +[0-9.]+ +chapter one$' <<<"$out")"
run record download "$id" 0 "$dir/early.wav"
check "download while recording: exit 1, RECORDER_TAKE_RUNNING" test "$rc" = 1 -a \
	-n "$(grep 'RECORDER_TAKE_RUNNING (recorder 5005)' <<<"$err")" -a ! -e "$dir/early.wav"
run record stop "$id"
check "record stop: stopped, final names" test "$rc" = 0 -a \
	-n "$(grep -E "^$id +stopped +wav/16 " <<<"$out")" -a \
	-n "$(grep -E '^0 +publish +[0-9]+ .*/cli-publish\.wav$' <<<"$out")"
run --json record stop "$fid"
check_eq "record stop --json" "stopped" "$(json_get 'd["state"]' <<<"$out")"
run record stop "$id"
check "stop twice: exit 1, RECORDER_NOT_RECORDING" test "$rc" = 1 -a \
	-n "$(grep 'RECORDER_NOT_RECORDING' <<<"$err")"

# ---- download
run --json record get "$id"
path0=$(json_get 'd["files"][0]["path"]' <<<"$out")
size0=$(stat -c %s "$path0" 2>/dev/null || echo 0)
check "the take's first file exists" test "$size0" -gt 100000
run record download "$id" 0 "$dir/dl.wav"
check_eq "record download exits 0" 0 "$rc"
check_eq "record download says what it saved" "saved $size0 bytes to $dir/dl.wav" "$out"
check "the download equals the file on disk" cmp -s "$path0" "$dir/dl.wav"
run record download "$id" 0 "$dir/dl.wav"
check "download never overwrites: exit 1" test "$rc" = 1 -a -n "$(grep 'cannot create' <<<"$err")"
run record download "$id" 7 "$dir/seven.wav"
check "download of a file the take has not: RECORDER_FILE_NOT_FOUND, nothing left" \
	test "$rc" = 1 -a -n "$(grep 'RECORDER_FILE_NOT_FOUND (recorder 5017)' <<<"$err")" \
	-a ! -e "$dir/seven.wav"
run --json record get "$fid"
fpath=$(json_get 'd["files"][0]["path"]' <<<"$out")
run record download "$fid" 0 "$dir/dl.flac"
check "flac download equals the file" cmp -s "$fpath" "$dir/dl.flac"
if [ -x /usr/bin/sox ]; then
	check "sox reads the downloaded flac" test "$(/usr/bin/sox --i -s "$dir/dl.flac" 2>/dev/null)" -gt 0
fi

FILE_URL="$URL/api/v1/recordings/$id/files/0"
hdr() {	# hdr NAME: a header of the last curl reply (lower case name)
	tr -d '\r' <"$dir/h" | awk -v n="$1:" 'tolower($1) == n {print $2}'
}
code=$(curl -s -D "$dir/h" -o "$dir/full" -w '%{http_code}' "$FILE_URL")
check_eq "GET file: 200" 200 "$code"
check_eq "GET file: audio/wav" "audio/wav" "$(hdr content-type)"
check_eq "GET file: Accept-Ranges bytes" "bytes" "$(hdr accept-ranges)"
check_eq "GET file: Content-Length is the size" "$size0" "$(hdr content-length)"
check "GET file: the bytes on disk" cmp -s "$path0" "$dir/full"
code=$(curl -s -D "$dir/h" -o "$dir/part" -w '%{http_code}' -H 'Range: bytes=100-1123' "$FILE_URL")
check_eq "Range a-b: 206" 206 "$code"
check_eq "Range a-b: Content-Range" "bytes 100-1123/$size0" "$(tr -d '\r' <"$dir/h" | awk 'tolower($1) == "content-range:" {print $2, $3}')"
check_eq "Range a-b: Content-Length 1024" 1024 "$(hdr content-length)"
check "Range a-b: the exact bytes" cmp -s "$dir/part" <(tail -c +101 "$path0" | head -c 1024)
code=$(curl -s -o "$dir/part" -w '%{http_code}' -H 'Range: bytes=-777' "$FILE_URL")
check "Range -n: 206 and the last n bytes" test "$code" = 206 -a \
	"$(cmp -s "$dir/part" <(tail -c 777 "$path0") && echo same)" = same
code=$(curl -s -o "$dir/part" -w '%{http_code}' -H "Range: bytes=$((size0 - 5000))-" "$FILE_URL")
check "Range a-: 206 and the rest of the file" test "$code" = 206 -a \
	"$(cmp -s "$dir/part" <(tail -c 5000 "$path0") && echo same)" = same
code=$(curl -s -o "$dir/part" -w '%{http_code}' -H "Range: bytes=0-$((size0 * 2))" "$FILE_URL")
check "Range past the end is cut to the file" test "$code" = 206 -a \
	"$(cmp -s "$dir/part" "$path0" && echo same)" = same
code=$(curl -s -D "$dir/h" -o "$dir/part" -w '%{http_code}' -H "Range: bytes=$size0-" "$FILE_URL")
check_eq "Range beyond the end: 416" 416 "$code"
check_eq "416: Content-Range bytes */size" "bytes */$size0" "$(tr -d '\r' <"$dir/h" | awk 'tolower($1) == "content-range:" {print $2, $3}')"
check_eq "416: RECORDER_RANGE_NOT_SATISFIABLE" "RECORDER_RANGE_NOT_SATISFIABLE" \
	"$(json_get 'd["error"]["name"]' <"$dir/part")"
code=$(curl -s -o "$dir/part" -w '%{http_code}' -H 'Range: bytes=0-1,5-9' "$FILE_URL")
check "several ranges: the whole file (200)" test "$code" = 200 -a \
	"$(cmp -s "$dir/part" "$path0" && echo same)" = same
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/recordings/$id/files/..%2f..%2fetc%2fpasswd")
check_eq "a path instead of an index: 404" 404 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/recordings/$id/files/-1")
check_eq "a negative index: 404" 404 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/recordings/999/files/0")
check_eq "file of an unknown take: 404" 404 "$code"

# ---- split
run --json record start --split 1 --name 'splitcli-{track}' --bits 16
sid=$(json_get 'd["id"]' <<<"$out")
check_eq "record start --split 1: split_minutes, part 1, one file so far" "1 1 1 True" \
	"$(json_get '"%s %s %s %s" % (d["split_minutes"], d["part"], d["file_count"], d["files"][0]["path"].endswith("/splitcli-publish-part01.wav.part"))' <<<"$out")"
run record stop "$sid"
code=$(curl -s -o "$dir/sp.wav" -w '%{http_code}' "$URL/api/v1/recordings/$sid/files/0")
check "the part downloads" test "$code" = 200 -a -s "$dir/sp.wav"
run record rm "$sid"
run record start --split 0
check "record start --split 0: exit 1, API_OUT_OF_RANGE" test "$rc" = 1 -a \
	-n "$(grep 'API_OUT_OF_RANGE' <<<"$err")"

# ---- logger: cut every 2 s of local time here, retention by age
rec="$dir/data/recordings"
: >"$rec/logger-20200101-000000-publish.wav"
touch -d '10 days ago' "$rec/logger-20200101-000000-publish.wav"
: >"$rec/keep-me.wav"
touch -d '10 days ago' "$rec/keep-me.wav"
run --json record start --logger --period 2 --keep-days 3 --max-mb 1000 --bits 16
lid=$(json_get 'd["id"]' <<<"$out")
check_eq "record start --logger: a logger take of the publish bus, period 2 s" \
	"True 2 publish logger-" \
	"$(json_get '"%s %s %s %s" % (d["logger"], d["logger_period_s"], d["files"][0]["track"], d["files"][0]["path"].split("/")[-1][:7])' <<<"$out")"
check "at start: the logger file older than 3 days deleted, other files kept" \
	test ! -e "$rec/logger-20200101-000000-publish.wav" -a -e "$rec/keep-me.wav"
three_files() {	# the cuts follow the audio clock: poll (bounded) rather than sleep
	run --json record get "$lid"
	test "$(json_get 'd["file_count"] >= 3' <<<"$out")" = True
}
wait_for 15 three_files
run --json record stop "$lid"
check "within 15 s: cut at least twice, every file named logger-*" test "$(json_get \
	'd["file_count"] >= 3 and d["part"] == d["file_count"]' <<<"$out")" = True -a \
	"$(ls "$rec" | grep -c '^logger-.*-publish\.wav$')" = "$(json_get 'd["file_count"]' <<<"$out")"
pruned_row() {
	run --json history --code 5019 --limit 5
	test "$(json_get 'len(d["rows"])' <<<"$out")" -ge 1
}
check "a RECORDER_LOGGER_PRUNED row in the history" wait_for 5 pruned_row
run record rm "$lid"
check "record rm of the logger take removes its files" test "$rc" = 0 -a \
	"$(ls "$rec" | grep -c '^logger-')" = 0

# ---- usage and server errors
run record start --bits x
check_eq "record start --bits x: usage error 64" 64 "$rc"
run record start --format
check_eq "record start --format without a value: 64" 64 "$rc"
run record start --bogus 1
check_eq "record start with an unknown option: 64" 64 "$rc"
run record get abc
check_eq "record get abc: 64" 64 "$rc"
run record frobnicate 1
check_eq "unknown record verb: 64" 64 "$rc"
run record start --track nosuchtrack
check "unknown track: exit 1, RECORDER_UNKNOWN_TRACK" test "$rc" = 1 -a \
	-n "$(grep 'RECORDER_UNKNOWN_TRACK' <<<"$err")"
run record start --format flac --bits 32
check "flac 32: exit 1, RECORDER_INVALID_FORMAT" test "$rc" = 1 -a \
	-n "$(grep 'RECORDER_INVALID_FORMAT' <<<"$err")"
run record get 999
check "unknown take: exit 1, RECORDER_TAKE_NOT_FOUND" test "$rc" = 1 -a \
	-n "$(grep 'RECORDER_TAKE_NOT_FOUND' <<<"$err")"

# ---- rm
run record rm "$id"
check_eq "record rm" "deleted take $id" "$out"
check "record rm deletes the files" test ! -e "$path0"
run record rm "$id"
check "record rm twice: exit 1" test "$rc" = 1 -a -n "$(grep 'RECORDER_TAKE_NOT_FOUND' <<<"$err")"
run --json record rm "$fid"
check_eq "record rm --json" "True" "$(json_get 'd["deleted"]' <<<"$out")"

check "daemon still running" kill -0 "$pid"
stop_pid "$pid"
check "no lws errors in the daemon log" test -z "$(grep 'lws error' "$dir/log")"
check "no sanitizer report in the daemon log" \
	test -z "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$dir/log")"
finish
