#!/usr/bin/env bash
# run.sh - runs test suites and sums them into one line: "N passed, N failed".
#
# Usage: tests/suites.sh MODE | tests/run.sh [-t SECONDS] [-l LOGDIR]
# Reads one suite per line on standard input: "NAME<TAB>COMMAND". A suite
# prints "# passed N failed M" at the end. A suite that exits non-zero without
# reporting a failure, times out, or reports no checks counts as one failure.
# Each suite's output goes to LOGDIR/NAME.log and is shown when it fails.
set -u
timeout_s=900
logdir=build/test-logs
while getopts "t:l:" opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
	l) logdir=$OPTARG ;;
	*) exit 2 ;;
	esac
done
mkdir -p "$logdir"
total_pass=0
total_fail=0
while IFS=$'\t' read -r name cmd; do
	[ -z "$name" ] && continue
	log="$logdir/$name.log"
	mkdir -p "$(dirname "$log")"
	start=$(date +%s)
	timeout -k 10 "$timeout_s" bash -c "$cmd" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	line=$(grep -E '^# passed [0-9]+ failed [0-9]+$' "$log" | tail -n 1)
	p=0
	f=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $3}')
		f=$(echo "$line" | awk '{print $5}')
	fi
	note=""
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		note="exited with status $rc"
		[ "$rc" -eq 124 ] && note="timed out after ${timeout_s}s"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		note="ran no checks"
	fi
	printf '%-44s %4d passed %4d failed %5ds %s\n' "$name" "$p" "$f" "$secs" "$note"
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
