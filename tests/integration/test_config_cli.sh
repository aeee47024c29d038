#!/usr/bin/env bash
# test_config_cli.sh - airmixd --check-config against the shipped and bad files.
#
# Runs the real daemon binary, $BUILD/airmixd (BUILD defaults to build, or
# AIRMIXD names the binary): the shipped conf/airmix.conf must pass (exit 0,
# "FILE: ok"), each bad file must fail (exit 1) with its "file:line: key:
# message" line on stderr, and --help and --version must exit 0. The daemon
# is also started on a bad file and with a bad command-line value: it must
# refuse before starting anything (a timeout stops it if it does start).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

AIRMIXD=${AIRMIXD:-$BIN/airmixd}
T=$(tmpdir)

if [ ! -x "$AIRMIXD" ]; then
	check "airmixd is built ($AIRMIXD)" false
	finish
fi

# check_bad NAME EXPECTED_STDERR_LINE CONTENT: the file is refused with that line.
check_bad() {
	local name=$1 want=$2 file="$T/$1.conf" rc
	printf '%b' "$3" >"$file"
	"$AIRMIXD" --check-config "$file" >"$T/out" 2>"$T/err"
	rc=$?
	check_eq "$name: exit status 1" 1 "$rc"
	if grep -qxF "$file:$want" "$T/err"; then
		check "$name: stderr has $file:$want" true
	else
		check "$name: stderr has $file:$want (got: $(head -c 400 "$T/err"))" false
	fi
	check "$name: nothing on stdout says ok" bash -c "! grep -q ': ok' '$T/out'"
}

# the shipped file
"$AIRMIXD" --check-config "$TOP/conf/airmix.conf" >"$T/out" 2>"$T/err"
check_eq "shipped conf/airmix.conf: exit status 0" 0 "$?"
check_eq "shipped conf/airmix.conf: prints FILE: ok" "$TOP/conf/airmix.conf: ok" "$(cat "$T/out")"
check_eq "shipped conf/airmix.conf: stderr empty" "" "$(cat "$T/err")"

# a good non-default file
printf '[engine]\nbackend = offline\nsample_rate = 44100\n[http]\nlisten = 0.0.0.0\n%s\n' \
	'admin_password_hash = "$y$j9T$salt$hash"' >"$T/good.conf"
"$AIRMIXD" --check-config "$T/good.conf" >"$T/out" 2>"$T/err"
check_eq "a valid non-default file: exit status 0" 0 "$?"

check_bad range "3: sample_rate: 7999 is out of range 8000..192000 Hz" \
	'# rate\n[engine]\nsample_rate = 7999\n'
check_bad not_integer "2: port: \"80a\" is not an integer" '[http]\nport = 80a\n'
check_bad enum "2: level: \"loud\" is not one of error, warning, info, debug" \
	'[log]\nlevel = loud\n'
check_bad unknown_key "2: sampel_rate: unknown key \"sampel_rate\" in [engine]" \
	'[engine]\nsampel_rate = 48000\n'
check_bad unknown_section "1: unknown section [foo]" '[foo]\nbar = 1\n'
check_bad duplicate "4: inputs: duplicate key, first set on line 2" \
	'[jack]\ninputs = 2\n# again\ninputs = 4\n'
check_bad syntax "2: syntax error: expected \"key = value\", \"[section]\" or a comment" \
	'[engine]\nsample_rate 48000\n'
check_bad password "2: listen: admin_password_hash is required when listen is not a loopback address: set it with airmixctl passwd" \
	'[http]\nlisten = 0.0.0.0\n'
long=$(head -c 400 /dev/zero | tr '\0' '#')
check_bad long_comment \
	"4: lock_memory: \"sometimes\" is not a boolean (true/false, yes/no, on/off, 1/0)" \
	"[engine]\n$long\n\nlock_memory = sometimes\n"

# several errors: each one on stderr
printf '[engine]\nsample_rate = 1\nperiod_frames = x\n[tone]\nbuses = all\n' >"$T/many.conf"
"$AIRMIXD" --check-config "$T/many.conf" >"$T/out" 2>"$T/err"
check_eq "three errors: exit status 1" 1 "$?"
check_eq "three errors: three file:line: lines on stderr" 3 \
	"$(grep -cE "^$T/many.conf:[0-9]+: [a-z_]+: " "$T/err")"

# a missing file
"$AIRMIXD" --check-config "$T/missing.conf" >"$T/out" 2>"$T/err"
check_eq "missing file: exit status 1" 1 "$?"
check "missing file: stderr names it" grep -qF "$T/missing.conf: cannot open" "$T/err"

# a bad file stops the daemon itself before anything starts (no data dir made)
port=$(free_port)
printf '[http]\nport = %s\n[engine]\nbackend = offline\nrt_priority = 0\n' "$port" >"$T/start.conf"
timeout -k 5 20 "$AIRMIXD" --config "$T/start.conf" --data-dir "$T/data" >"$T/out" 2>"$T/err"
check_eq "airmixd --config with a bad file: exit status 1" 1 "$?"
check "airmixd --config with a bad file: the error on stderr" \
	grep -qxF "$T/start.conf:5: rt_priority: 0 is out of range 1..95" "$T/err"
check "airmixd --config with a bad file: no data dir created" test ! -e "$T/data"

# a bad command-line value is refused the same way
printf '[http]\nport = %s\n' "$port" >"$T/ok.conf"
timeout -k 5 20 "$AIRMIXD" --config "$T/ok.conf" --data-dir "$T/data" --backend jackd \
	>"$T/out" 2>"$T/err"
check_eq "airmixd --backend jackd: exit status 1" 1 "$?"
check "airmixd --backend jackd: the error on stderr" grep -qxF -- \
	'--backend: backend: "jackd" is not one of auto, jack, alsa, internal, offline' "$T/err"

"$AIRMIXD" --help >"$T/out" 2>&1
check_eq "--help: exit status 0" 0 "$?"
check "--help mentions --check-config" grep -q -- "--check-config" "$T/out"
"$AIRMIXD" --version >"$T/out" 2>&1
check_eq "--version: exit status 0" 0 "$?"
check "--version prints a version" grep -qE "[0-9]+\.[0-9]+\.[0-9]+" "$T/out"

finish
