#!/bin/sh
# suites.sh - which suites run in which build, fed to tests/run.sh.
#
# Usage: tests/suites.sh all|normal|asan|tsan  (all = the three, then the Debian package)
#   normal  every unit test and every integration suite in build/, the daemon
#           under the RT-safety shim (build/librtcheck.so)
#   asan    the same in build-asan/ (ASan+UBSan); the shim is left out, as the
#           sanitizer owns the allocator
#   tsan    the threaded unit tests in build-tsan/
# Runs from the repository top.
set -eu
mode=${1:-all}

# the unit suites that drive the graph run under the RT-safety shim (normal build)
rt_unit="test_engine_offline test_mixing test_recorder test_mixminus test_rtc_media test_push test_forward"

unit() {	# unit BUILD PREFIX ENV [only...]
	build=$1 prefix=$2 env=$3
	shift 3
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		if [ $# -gt 0 ]; then
			case " $* " in *" $name "*) ;; *) continue ;; esac
		fi
		shim=""
		case " $rt_unit " in
		*" $name "*) [ -z "$env" ] && [ -f "$build/librtcheck.so" ] &&
			shim="LD_PRELOAD=$build/librtcheck.so AIRMIX_RTCHECK_LOG=$build/test-logs/$name.rtcheck" ;;
		esac
		printf '%s%s\t%s %s %s\n' "$prefix" "$name" "$env" "$shim" "$t"
	done
}

integration() {	# integration BUILD PREFIX ENV
	for t in tests/integration/test_*.sh tests/integration/test_*.py; do
		[ -f "$t" ] || continue
		name=$(basename "$t" | sed 's/\.[a-z]*$//')
		case $t in
		*.py) runner=/usr/bin/python3 ;;
		*) runner=bash ;;
		esac
		printf '%s%s\tBUILD=%s %s %s %s\n' "$2" "$name" "$1" "$3" "$runner" "$t"
	done
}

threaded="test_ring test_stress test_history test_engine_offline test_rtcheck test_media test_mixing test_clock_alsa test_recorder test_push test_mixminus test_rtc_media test_auth test_rooms test_forward"
# libsndfile 1.2.0 leaks on a damaged Ogg Vorbis header (tests/lib/lsan.supp)
asan_env="ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 LSAN_OPTIONS=suppressions=$(pwd)/tests/lib/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 AIRMIX_NO_RTCHECK=1 AIRMIX_SANITIZER=asan"
tsan_env="TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 AIRMIX_NO_RTCHECK=1"

list() {
	case $1 in
	normal)
		unit build "" ""
		integration build "" ""
		;;
	asan)
		unit build-asan "asan/" "$asan_env"
		integration build-asan "asan/" "$asan_env"
		;;
	tsan)
		# shellcheck disable=SC2086
		unit build-tsan "tsan/" "$tsan_env" $threaded
		;;
	esac
}

# The Debian package is built, installed, run and purged once (it changes the
# system: root only, see tests/deb/test_deb.sh).
deb() {
	printf 'deb/test_deb\tBUILD=build bash tests/deb/test_deb.sh\n'
}

case $mode in
all) { list normal; list asan; list tsan; deb; } | bash tests/run.sh -l build/test-logs ;;
normal | asan | tsan) list "$mode" | bash tests/run.sh -l "build/test-logs" ;;
*) echo "usage: $0 all|normal|asan|tsan" >&2; exit 2 ;;
esac
