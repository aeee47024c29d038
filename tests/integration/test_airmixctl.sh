#!/usr/bin/env bash
# test_airmixctl.sh - airmixctl against a running airmixd: every command, table
# and --json output, and the exit codes (0 ok, 1 server error, 2 unreachable,
# 64 usage).
#
# Run: BUILD=build bash tests/integration/test_airmixctl.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

CTL="$BIN/airmixctl"
dir=$(tmpdir)

start_daemon() {	# start_daemon NAME [TOKEN]: prints "PORT PID" (the caller tracks PID)
	local name=$1 token=${2:-} port pid
	port=$(free_port)
	mkdir -p "$dir/$name"
	cat >"$dir/$name/airmix.conf" <<EOF
[engine]
backend = internal
lock_memory = false
[http]
listen = 127.0.0.1
port = $port
token = "$token"
[log]
level = warning
EOF
	"$BIN/airmixd" --config "$dir/$name/airmix.conf" --data-dir "$dir/$name/data" \
		--backend internal >"$dir/$name/log" 2>&1 &
	echo "$port $!"
}

json_get() {	# json_get EXPR: evaluates EXPR on the JSON document d read from stdin
	$PY -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

run() {	# run ARGS...: sets out, err, rc
	out=$("$CTL" "$@" 2>"$dir/stderr")
	rc=$?
	err=$(cat "$dir/stderr")
}

read -r port pid < <(start_daemon main)
track_pid "$pid"
URL="http://127.0.0.1:$port"
export AIRMIX_URL=$URL
check "airmixd answers" wait_for 15 curl -sf "$URL/api/v1/health"

# ---- plain commands
run --version
check_eq "--version" "airmixctl 0.1.0" "$out"
run help
check "help prints usage" test "$rc" = 0 -a -n "$(echo "$out" | grep '^usage: airmixctl')"

run health
check_eq "health exits 0" 0 "$rc"
check "health table shows the internal clock" grep -Eq '^clock +internal$' <<<"$out"
check "health table shows the data path" grep -Eq "^path.data +$dir/main/data" <<<"$out"
run --json health
check_eq "health --json is the server's json" "internal 48000" \
	"$(json_get 'd["clock"], d["rate"]' <<<"$out" | tr -d "(),'")"

# a 400 ms stop of the whole daemon is one xrun on the internal clock (over its
# 100 ms catch-up), listed with its time
stopped=$(date +%s%N)
kill -STOP "$pid"
sleep 0.4
kill -CONT "$pid"
one_xrun() { [ "$(curl -sf "$URL/api/v1/health" | json_get 'd["xruns"]')" = 1 ]; }
check "a 400 ms SIGSTOP counts one xrun" wait_for 5 one_xrun
began=$(curl -sf "$URL/api/v1/health" | json_get 'd["recent_xruns"][0]["began_us"]')
gap=$(( ${began:-0} - stopped / 1000 ))
check "its logged start is the stop's, within 100 ms ($gap us later)" test "$gap" -ge -20000 -a "$gap" -le 100000
run health
check "health lists it with its time" grep -Eq \
	'^xrun\.1 +[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} took [0-9.]+ ms \(wall [0-9.]+ ms\)$' <<<"$out"

run graph
check "graph table has a header and both buses" \
	test "$rc" = 0 -a -n "$(echo "$out" | grep -E '^ID +NAME +KIND')" \
	-a -n "$(echo "$out" | grep -E '^1 +publish +bus')" \
	-a -n "$(echo "$out" | grep -E '^2 +playout +bus')"
run --json graph
check_eq "graph --json lists the buses" "1 2" \
	"$(json_get '" ".join(str(n["id"]) for n in d["nodes"])' <<<"$out")"

# ---- node commands
run --json tone add --freq 440 --level -20 --bus playout --name ctltone
check_eq "tone add exits 0" 0 "$rc"
id=$(json_get 'd["id"]' <<<"$out")
check_eq "tone add --json: the new node" "ctltone tone playout" \
	"$(json_get 'd["name"] + " " + d["kind"] + " " + ",".join(d["buses"])' <<<"$out")"
run tone add --name second --bus both
check "tone add prints the node as a table" grep -Eq '^[0-9]+ +second +tone +publish,playout' <<<"$out"
id2=$(awk '$2 == "second" {print $1}' <<<"$out")

run gain "$id" 0.5
check "gain ID VALUE: row shows -6.0 dB" grep -Eq "^$id +ctltone +tone +playout +-6\.0 " <<<"$out"
run --json gain "$id" 0.25
check_eq "gain --json" "0.25" "$(json_get 'd["gain"]' <<<"$out")"
run gain "$id" --db -12
check "gain ID --db DB" grep -Eq "^$id +ctltone .* -12\.0 " <<<"$out"
run gain "$id" --db -inf
check "gain ID --db -inf is silence" grep -Eq "^$id +ctltone .* -inf " <<<"$out"
run mute "$id" on
check "mute on" test "$rc" = 0 -a "$(awk -v id="$id" '$1 == id {print $7}' <<<"$out")" = yes
run --json mute "$id" off
check_eq "mute off" "False" "$(json_get 'd["mute"]' <<<"$out")"
run pan "$id" -0.5
check "pan" test "$rc" = 0 -a "$(awk -v id="$id" '$1 == id {print $6}' <<<"$out")" = -0.50

# ---- history and errors
run history --domain api --limit 5
check "history table" test "$rc" = 0 -a -n "$(echo "$out" | grep -E '^TIME +LEVEL +DOMAIN +CODE')"
run --json history --since 2020-01-01T00:00:00Z --until "$(($(date +%s) + 60))000000" --limit 3
check "history --json with ISO and µs times" test "$rc" = 0 -a \
	"$(json_get 'len(d["rows"]) <= 3 and "total" in d' <<<"$out")" = True
run errors
check "errors table" grep -Eq '^api +4000 +API_BAD_JSON +error +400 ' <<<"$out"
run --json errors
check "errors --json" test "$(json_get 'len(d["errors"]) > 40' <<<"$out")" = True

# ---- server errors: exit 1 with name, domain, code and message
run gain "$id" 9
check_eq "server error exits 1" 1 "$rc"
check_eq "server error text" \
	"airmixctl: API_OUT_OF_RANGE (api 4003): field gain must be between 0 and 4, not 9" "$err"
run --json gain "$id" 9
check "server error with --json prints the error json" \
	test "$rc" = 1 -a "$(json_get 'd["error"]["name"]' <<<"$out")" = API_OUT_OF_RANGE
run gain 999999 1
check "unknown node" test "$rc" = 1 -a -n "$(echo "$err" | grep 'ENGINE_NODE_NOT_FOUND (engine 1010)')"
run history --limit 0
check "history bad limit" test "$rc" = 1 -a -n "$(echo "$err" | grep 'API_BAD_QUERY (api 4009)')"
run history --domain nosuch
check "history unknown domain" test "$rc" = 1 -a -n "$(echo "$err" | grep 'unknown domain')"
run tone rm 1
check "tone rm of a bus refused" test "$rc" = 1 -a -n "$(echo "$err" | grep 'ENGINE_INVALID_NODE')"
run tone rm "$id2"
check "tone rm" test "$rc" = 0 -a "$out" = "removed node $id2"
run tone rm "$id2"
check "tone rm twice" test "$rc" = 1 -a -n "$(echo "$err" | grep 'ENGINE_NODE_NOT_FOUND')"
bad_request_stored() {	# the history writer batches rows: poll until it wrote this one
	run --json history --code 4003 --limit 1
	test "$(json_get 'd["rows"][0]["request"].startswith("PUT /api/v1/graph/nodes/")' <<<"$out")" = True
}
check "the CLI's bad request is in the history" wait_for 5 bad_request_stored

# ---- unreachable server: exit 2
dead=$(free_port)
run --url "http://127.0.0.1:$dead" health
check_eq "unreachable exits 2" 2 "$rc"
check "unreachable says so" grep -q "^airmixctl: cannot reach airmixd at http://127.0.0.1:$dead: " <<<"$err"
out=$(AIRMIX_URL="http://127.0.0.1:$dead" "$CTL" graph 2>/dev/null)
check_eq "AIRMIX_URL is used" 2 "$?"

# ---- usage errors: exit 64
for args in "" "frobnicate" "gain abc 1" "gain $id abc" "gain $id" "mute $id maybe" \
	"pan $id" "tone add --bus air" "tone add --freq" "tone rm x" "tone" \
	"history --bogus 1" "history --since yesterday" "--url" "--nope health" "health extra"; do
	# shellcheck disable=SC2086
	run $args
	check_eq "usage error: airmixctl $args" 64 "$rc"
done
check "usage error text" grep -q "^airmixctl: " <<<"$err"

# ---- bearer token
read -r tport tpid < <(start_daemon tok "ctl-token-$$")
track_pid "$tpid"
TURL="http://127.0.0.1:$tport"
check "token daemon answers" wait_for 15 curl -sf "$TURL/"
run --url "$TURL" health
check "without the token: 401 error, exit 1" \
	test "$rc" = 1 -a -n "$(echo "$err" | grep 'API_UNAUTHORIZED (api 4008)')"
run --url "$TURL" --token "ctl-token-$$" health
check_eq "with --token" 0 "$rc"
out=$(AIRMIX_TOKEN="ctl-token-$$" "$CTL" --url "$TURL" health)
check_eq "with AIRMIX_TOKEN" 0 "$?"

check "daemon still running" kill -0 "$pid"
stop_pid "$pid"
check "no lws errors in the daemon log" test -z "$(grep 'lws error' "$dir/main/log")"
finish
