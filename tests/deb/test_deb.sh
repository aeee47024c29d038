#!/usr/bin/env bash
# shellcheck disable=SC2317  # helpers are called through check
# test_deb.sh - the Debian package end to end on this machine: `make deb`,
# lintian, dpkg -i + apt-get -f install, the installed layout, the airmix
# user, --check-config, the daemon run as airmix answering airmixctl health,
# a reinstall keeping a local conffile edit, dpkg --remove keeping the state
# and the config, dpkg --purge removing them and the user, and
# systemd-analyze verify on the installed unit.
#
# Needs root (dpkg); run by `make test-deb`. Not an integration suite of
# `make test` (it lives outside tests/integration/ on purpose): it installs
# and purges a system package, so it runs once, not in every build tree.
# It purges the package at the end, whatever happened.
set -u
if [ "$(id -u)" -ne 0 ]; then
	exec sudo -E bash "$0" "$@"
fi
# shellcheck source=tests/lib/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

# lintian warnings kept on purpose (README, "Debian package"); none so far
KEEP_WARNINGS=""
ARCH=$(dpkg --print-architecture)
VERSION=$(dpkg-parsechangelog -S Version -l "$TOP/debian/changelog")
DEB="$BIN/deb/airmix_${VERSION}_${ARCH}.deb"
LOG="$ARTEFACTS/deb"
mkdir -p "$LOG"

status() { dpkg-query -W -f='${Status}' airmix 2>/dev/null; }

purge_if_present() {
	case "$(status)" in
	"" | *not-installed) ;;
	*) dpkg --purge airmix >>"$LOG/purge-on-exit.log" 2>&1 ;;
	esac
}

_deb_cleanup() {
	_cleanup
	purge_if_present
}
trap _deb_cleanup EXIT

no_missing_libs() { ! ldd "$@" | grep -q 'not found'; }
mode_of() { stat -c '%U:%G %a' "$1" 2>/dev/null; }
quiet() { "$@" >/dev/null 2>&1; }
as_airmix() { setpriv --reuid=airmix --regid=airmix --init-groups -- "$@"; }

if [ -n "$(status)" ] && [ "$(status)" != "unknown ok not-installed" ]; then
	echo "# airmix is installed ($(status)): purging it first"
	dpkg --purge airmix >"$LOG/purge-before.log" 2>&1
fi
getent passwd airmix >/dev/null && echo "# note: a user airmix exists before the install"

# ---- build
start=$(date +%s)
make -C "$TOP" --no-print-directory BUILD="$BUILD" deb >"$LOG/make-deb.log" 2>&1
rc=$?
echo "# make deb took $(($(date +%s) - start)) s"
check_eq "make deb succeeds" 0 "$rc"
check "make deb leaves the package in $BUILD/deb/" test -f "$DEB"
if [ ! -f "$DEB" ]; then
	tail -n 30 "$LOG/make-deb.log" | sed 's/^/# /'
	finish
fi

stage=$(tmpdir)
make -C "$TOP" --no-print-directory BUILD="$BUILD" install DESTDIR="$stage" PREFIX=/usr \
	>"$LOG/make-install.log" 2>&1
check "make install honours DESTDIR and PREFIX=/usr" \
	test -x "$stage/usr/bin/airmixd" -a -x "$stage/usr/bin/airmixctl" \
	-a -f "$stage/etc/airmix/airmix.conf"

# every pkg-config module of the Makefile's PKGS has its -dev package in
# Build-Depends (a library added to the Makefile must be added there too)
missing_bdeps=""
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$TOP/debian/control")
read -ra pcs <<<"$(sed -n 's/^PKGS := //p' "$TOP/Makefile")"
for pc in "${pcs[@]}"; do
	dev=$(dpkg -S "pkgconfig/$pc.pc" 2>/dev/null | head -n 1 | cut -d: -f1)
	grep -qw -- "${dev:-@none@}" <<<"$bdeps" || missing_bdeps="$missing_bdeps $pc(${dev:-?})"
done
check_eq "Build-Depends covers every pkg-config module in the Makefile" "" "$missing_bdeps"

# ---- lintian
lintian --pedantic -I "$BIN"/deb/airmix_"${VERSION}"_"${ARCH}".changes 2>&1 |
	grep -v 'running with root privileges' >"$LOG/lintian.txt"
sed 's/^/# lintian: /' "$LOG/lintian.txt"
check_eq "lintian reports no errors" 0 "$(grep -c '^E:' "$LOG/lintian.txt")"
unkept=$(grep '^W:' "$LOG/lintian.txt" | awk '{print $3}' | sort -u |
	grep -vxF -e "${KEEP_WARNINGS:-@none@}" | tr '\n' ' ')
check_eq "lintian warnings are only the kept ones" "" "$unkept"

# ---- install
dpkg -i "$DEB" >"$LOG/install.log" 2>&1
DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q >>"$LOG/install.log" 2>&1
check_eq "dpkg -i + apt-get -f install installs airmix" "install ok installed" "$(status)"

check "/usr/bin/airmixd is installed" test -x /usr/bin/airmixd
check "/usr/bin/airmixctl is installed" test -x /usr/bin/airmixctl
check "the binaries find every library" no_missing_libs /usr/bin/airmixd /usr/bin/airmixctl
check_eq "airmixd --version matches the package" "airmixd $VERSION" "$(/usr/bin/airmixd --version)"
check "/etc/airmix/airmix.conf is a conffile" \
	grep -q '^ /etc/airmix/airmix.conf ' <(dpkg-query -W -f='${Conffiles}\n' airmix)
check "the installed config keeps the state in /var/lib/airmix" \
	grep -qx 'data_dir = /var/lib/airmix' /etc/airmix/airmix.conf
check_eq "the config is root:airmix 660: the daemon reads and saves it, others nothing" "root:airmix 660" \
	"$(mode_of /etc/airmix/airmix.conf)"
check "the unit is /lib/systemd/system/airmix.service" \
	cmp -s "$TOP/debian/airmix.service" /lib/systemd/system/airmix.service
check "the unit is enabled on install" test -L /etc/systemd/system/multi-user.target.wants/airmix.service
check "the man pages are installed" \
	test -f /usr/share/man/man8/airmixd.8.gz -a -f /usr/share/man/man1/airmixctl.1.gz
check "the JACK drop-in example is installed" \
	test -f /usr/share/doc/airmix/examples/airmix-jack.conf
check "the copyright file is installed" test -f /usr/share/doc/airmix/copyright
check "the admin page is under /usr/share/airmix/web" \
	test -f /usr/share/airmix/web/index.html -a -f /usr/share/airmix/web/js/views/carts.js

uid=$(getent passwd airmix | cut -d: -f3)
check "airmix is a system user" test -n "$uid" -a "${uid:-1000}" -lt 1000
check_eq "airmix's home is /var/lib/airmix" /var/lib/airmix "$(getent passwd airmix | cut -d: -f6)"
check "airmix is in the audio group" grep -qw audio <(id -nG airmix)
check_eq "/var/lib/airmix belongs to airmix" "airmix:airmix 750" "$(mode_of /var/lib/airmix)"

# ---- configuration
check "airmixd --check-config passes on the installed config" \
	quiet /usr/bin/airmixd --check-config /etc/airmix/airmix.conf
check "airmix itself can read and check the installed config" \
	quiet as_airmix /usr/bin/airmixd --check-config /etc/airmix/airmix.conf
check_eq "/etc/airmix is root:airmix 2770 (Settings save there)" "root:airmix 2770" \
	"$(stat -c '%U:%G %a' /etc/airmix 2>/dev/null)"
check "airmix can write a file beside the config (atomic save)" \
	quiet as_airmix sh -c 'touch /etc/airmix/.probe && rm /etc/airmix/.probe'
check "others cannot read the config" bash -c "! runuser -u nobody -- cat /etc/airmix/airmix.conf >/dev/null 2>&1"
run=$(tmpdir)
chmod 0755 "$run"
sed 's/^port = 8080$/port = 0/' /etc/airmix/airmix.conf >"$run/bad.conf"
check "--check-config refuses a bad copy (port = 0)" \
	bash -c "! /usr/bin/airmixd --check-config $run/bad.conf >/dev/null 2>&1"

# ---- systemd unit
if ! command -v systemd-analyze >/dev/null; then
	check "skipped: systemd-analyze is not installed" true
else
	systemd-analyze verify /lib/systemd/system/airmix.service >"$LOG/verify.txt" 2>&1
	rc=$?
	sed 's/^/# verify: /' "$LOG/verify.txt"
	check "systemd-analyze verify airmix.service is clean" \
		test "$rc" -eq 0 -a ! -s "$LOG/verify.txt"
	exposure=$(systemd-analyze security --offline=true /lib/systemd/system/airmix.service 2>/dev/null |
		sed -n 's/.*Overall exposure level for airmix.service: \([0-9.]*\).*/\1/p')
	echo "# systemd-analyze security: exposure ${exposure:-unknown} (0 best, 10 worst)"
	check "the unit stays hardened (exposure at most 3.0)" \
		awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'
fi

# ---- the daemon as the airmix user, with the unit's real-time limits when
# this machine lets root raise them (a container without CAP_SYS_RESOURCE
# does not: then it runs with the inherited limits). setpriv rather than
# runuser: it execs, so $! is the daemon's own PID (runuser stays as a parent).
limits=(prlimit --rtprio=95 --memlock=unlimited --)
if ! prlimit --rtprio=95 --memlock=unlimited -- true 2>/dev/null; then
	limits=()
	echo "# note: cannot raise RLIMIT_RTPRIO/RLIMIT_MEMLOCK here, running with the inherited limits"
fi
port=$(free_port)
sed "s/^port = 8080\$/port = $port/" /etc/airmix/airmix.conf >"$run/airmix.conf"
chmod 0644 "$run/airmix.conf"
check "the test copy of the config uses port $port" grep -qx "port = $port" "$run/airmix.conf"
"${limits[@]}" setpriv --reuid=airmix --regid=airmix --init-groups -- \
	env JACK_NO_START_SERVER=1 /usr/bin/airmixd --config "$run/airmix.conf" \
	>"$LOG/airmixd.log" 2>&1 &
pid=$!
track_pid "$pid"
check "airmixctl health answers" \
	wait_for 15 /usr/bin/airmixctl --url "http://127.0.0.1:$port" health
/usr/bin/airmixctl --url "http://127.0.0.1:$port" health 2>&1 | sed 's/^/# health: /'
check "the installed daemon serves the admin page at /" \
	bash -c "curl -sf 'http://127.0.0.1:$port/' | grep -q 'js/app.js'"
check "and its script modules" curl -sfo /dev/null "http://127.0.0.1:$port/js/views/carts.js"
check_eq "the daemon runs as airmix" "$uid" "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
check "the daemon has the audio group" \
	grep -qw "$(getent group audio | cut -d: -f3)" <(grep '^Groups:' "/proc/$pid/status" 2>/dev/null)
check_eq "the history database is in /var/lib/airmix, owned by airmix" "airmix" \
	"$(stat -c %U /var/lib/airmix/history.db 2>/dev/null)"
check "media/ and recordings/ are created in /var/lib/airmix" \
	test -d /var/lib/airmix/media -a -d /var/lib/airmix/recordings
if [ ${#limits[@]} -eq 0 ]; then
	check "skipped: memory locking and SCHED_FIFO (cannot raise the limits here)" true
else
	check "memory is locked under LimitMEMLOCK=infinity" \
		bash -c "! grep -q 'cannot lock memory' '$LOG/airmixd.log'"
	check "SCHED_FIFO is granted under LimitRTPRIO=95" \
		bash -c "! grep -q 'SCHED_FIFO' '$LOG/airmixd.log'"
fi
kill -HUP "$pid"
sleep 0.5
check "the daemon survives SIGHUP (ExecReload) and answers" \
	wait_for 5 /usr/bin/airmixctl --url "http://127.0.0.1:$port" health
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
check_eq "SIGTERM stops the daemon cleanly" 0 "$?"
sed 's/^/# airmixd: /' "$LOG/airmixd.log" | head -n 20

# ---- reinstall, remove, purge
echo "# a local edit" >>/etc/airmix/airmix.conf
dpkg -i "$DEB" >"$LOG/reinstall.log" 2>&1
check "a reinstall keeps a local edit of the config" grep -qx "# a local edit" /etc/airmix/airmix.conf
check_eq "a reinstall keeps the config's owner and mode" "root:airmix 660" \
	"$(mode_of /etc/airmix/airmix.conf)"

dpkg --remove airmix >"$LOG/remove.log" 2>&1
check_eq "dpkg --remove leaves the config files" "deinstall ok config-files" "$(status)"
check "dpkg --remove removes the binaries" test ! -e /usr/bin/airmixd -a ! -e /usr/bin/airmixctl
check "dpkg --remove keeps the edited config" grep -qx "# a local edit" /etc/airmix/airmix.conf
check "dpkg --remove keeps the history in /var/lib/airmix" test -f /var/lib/airmix/history.db
check "dpkg --remove keeps the airmix user" quiet getent passwd airmix

dpkg --purge airmix >"$LOG/purge.log" 2>&1
check "dpkg --purge forgets the package" bash -c "! dpkg-query -W airmix >/dev/null 2>&1 ||
	dpkg-query -W -f='\${Status}' airmix | grep -q not-installed"
check "dpkg --purge removes /etc/airmix" test ! -e /etc/airmix
check "dpkg --purge removes /var/lib/airmix" test ! -e /var/lib/airmix
check "dpkg --purge removes the airmix user" bash -c "! getent passwd airmix"
check "dpkg --purge removes the airmix group" bash -c "! getent group airmix"
check "dpkg --purge removes the unit's enable link" test ! -e /etc/systemd/system/multi-user.target.wants/airmix.service -a ! -L /etc/systemd/system/multi-user.target.wants/airmix.service
check "the audio group stays" quiet getent group audio
finish
