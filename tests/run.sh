#!/usr/bin/env bash
# run.sh - runs test suites and sums them into one line: "N passed, N failed".
#
# Usage: tests/run.sh [-t SECONDS] [-l LOGDIR] [-p PREFIX] SUITE...
# A suite is an executable (a C test binary or a script) that prints
# "# passed N failed M" at the end. A suite that exits non-zero without
# reporting a failure, or times out, counts as one failure. Each suite's
# output goes to LOGDIR/<name>.log and is shown when it fails.
set -u
timeout_s=900
logdir=build/test-logs
prefix=""
while getopts "t:l:p:" opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
	l) logdir=$OPTARG ;;
	p) prefix=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
mkdir -p "$logdir"
total_pass=0
total_fail=0
for suite in "$@"; do
	name="${prefix}$(basename "$suite")"
	log="$logdir/$name.log"
	start=$(date +%s)
	timeout -k 10 "$timeout_s" "$suite" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	line=$(grep -E '^# passed [0-9]+ failed [0-9]+$' "$log" | tail -n 1)
	p=0
	f=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $3}')
		f=$(echo "$line" | awk '{print $5}')
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		[ "$rc" -eq 124 ] && echo "  $name: timed out after ${timeout_s}s"
		echo "  $name: exited with status $rc"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "  $name: ran no checks"
	fi
	printf '%-40s %4d passed %4d failed %5ds\n' "$name" "$p" "$f" "$secs"
	if [ "$f" -ne 0 ]; then
		grep -E '^not ok' "$log" | head -n 20 | sed 's/^/    /'
		echo "    --- last lines of $log"
		tail -n 15 "$log" | sed 's/^/    /'
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
