#!/bin/sh
# deps.sh - installs the Debian packages airmix needs, only those missing.
#
# Usage: debian/deps.sh build|run|test|bench|deb
#   build  compilers' libraries (-dev packages) and pkg-config
#   run    build + what `make run` starts (nothing more on the internal clock)
#   test   run + what the test suites start and use (jackd2, sqlite3, python,
#          chromium and node for the browser tests)
#   bench  test + Janus, which bench_rtc measures beside airmix (Debian's
#          package also enables its own janus service, on ports 8088/8188)
#   deb    build + the packaging tools `make deb` and `make test-deb` use
# Runs apt-get update once when something has to be installed. Needs root
# (or sudo) only then.
set -eu

build_pkgs="build-essential pkg-config libjack-jackd2-dev libasound2-dev libsqlite3-dev
	libwebsockets-dev libjansson-dev libinih-dev libsystemd-dev libssl-dev
	libcurl4-openssl-dev libsndfile1-dev libavformat-dev libavcodec-dev libavutil-dev
	libswresample-dev libsoxr-dev libebur128-dev librubberband-dev libopus-dev libspeexdsp-dev
	libcrypt-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
	libgstreamer-plugins-bad1.0-dev libnice-dev"
# browser guests: webrtcbin and the elements it builds on (loaded at run time)
run_pkgs="$build_pkgs gstreamer1.0-plugins-base gstreamer1.0-plugins-good
	gstreamer1.0-plugins-bad gstreamer1.0-nice"
test_pkgs="$run_pkgs chromium firefox-esr nodejs jackd2 alsa-utils libasound2-plugins sqlite3 python3 python3-websockets
	python3-numpy curl libclang-rt-14-dev clang procps iproute2
	sox ffmpeg nginx libnginx-mod-rtmp icecast2 openssl"
# npm for the browser tests: Debian's package, unless a nodejs that ships its
# own npm (NodeSource's, which conflicts with Debian's npm) is installed
command -v npm >/dev/null 2>&1 || test_pkgs="$test_pkgs npm"
bench_pkgs="$test_pkgs janus"
deb_pkgs="$run_pkgs dpkg-dev debhelper lintian fakeroot adduser systemd python3 curl
	util-linux"

case "${1:-}" in
build) want=$build_pkgs ;;
run) want=$run_pkgs ;;
test) want=$test_pkgs ;;
bench) want=$bench_pkgs ;;
deb) want=$deb_pkgs ;;
*) echo "usage: $0 build|run|test|bench|deb" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
