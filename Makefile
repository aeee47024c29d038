# airmix - one non-recursive Makefile for the daemon, the CLI, the tests and
# the benchmarks. Quiet unless V=1; honours DESTDIR, PREFIX, CFLAGS, LDFLAGS.
#
#   make            build airmixd and airmixctl into $(BUILD)/
#   make run        install missing packages, build, start airmixd on conf/airmix.conf
#   make test       install test packages, build, run every suite (normal, ASan+UBSan, TSan,
#                   the Debian package)
#   make test-asan  the suites under ASan+UBSan only
#   make test-tsan  the threaded suites under TSan only
#   make test-fuzz  every libFuzzer harness tests/fuzz/fuzz_*.c for FUZZ_SECONDS (clang)
#   make bench      install bench packages (test + Janus), build, run every benchmark
#   make install    install binaries, config and web files under $(DESTDIR)$(PREFIX)
#   make deb        build the unsigned Debian package from a clean copy into $(BUILD)/deb/
#   make test-deb   build the package, install it, run it, purge it (root; tests/deb/)

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
SANITIZE ?=
CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
say = $(if $(filter 1,$(V)),,@printf '  %-6s %s\n' $(1) $(2);)

VERSION := 0.1.0
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PKGS := libwebsockets jansson inih jack alsa sqlite3 libsystemd libcurl sndfile libavformat libavcodec libavutil libswresample soxr libebur128 rubberband opus speexdsp libssl libcrypto gstreamer-1.0 gstreamer-sdp-1.0 gstreamer-webrtc-1.0 nice
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ifeq ($(SANITIZE),asan)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ifeq ($(SANITIZE),tsan)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
# the library of the fuzz harnesses (clang): coverage, ASan and UBSan
ifeq ($(SANITIZE),fuzz)
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
endif

AIRMIX_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -D_GNU_SOURCE \
	-DAIRMIX_VERSION='"$(VERSION)"' -DAIRMIX_PREFIX='"$(PREFIX)"' -pthread -I. \
	$(PKG_CFLAGS) $(SAN_FLAGS)
AIRMIX_LIBS := $(PKG_LIBS) -lcrypt -lm -ldl -pthread

MAINS := engine/main.c web-admin/airmixctl.c
LIB_SRCS := $(filter-out $(MAINS),$(sort $(wildcard engine/*.c engine/*/*.c dsp/*.c \
	recorder/*.c web-admin/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
INTEGRATION := $(sort $(wildcard tests/integration/test_*.sh tests/integration/test_*.py))
RTCHECK := $(BUILD)/librtcheck.so
STALLWATCH := $(BUILD)/stallwatch

all: $(BUILD)/airmixd $(BUILD)/airmixctl

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# DSP kernels: -O3 so that the loops vectorise (never -ffast-math: results stay bit-exact)
$(BUILD)/obj/dsp/%.o: dsp/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) -O3 -MMD -MP -c $< -o $@

$(BUILD)/libairmix.a: $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(BUILD)/airmixd: $(BUILD)/obj/engine/main.o $(BUILD)/libairmix.a
	$(call say,LINK,$@)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(AIRMIX_LIBS)

$(BUILD)/airmixctl: $(BUILD)/obj/web-admin/airmixctl.o $(BUILD)/libairmix.a
	$(call say,LINK,$@)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(AIRMIX_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libairmix.a tests/lib/check.h
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) $(LDFLAGS) -Itests/lib -o $@ $< \
		$(BUILD)/libairmix.a $(AIRMIX_LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libairmix.a
	@mkdir -p $(dir $@)
	$(call say,BENCH,$@)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) $(LDFLAGS) -Itests/lib -o $@ $< \
		$(BUILD)/libairmix.a $(AIRMIX_LIBS)

# The RT-safety shim is never sanitized: it interposes the allocator itself.
$(RTCHECK): tests/rtcheck/rtcheck.c
	@mkdir -p $(dir $@)
	$(call say,SHLIB,$@)$(CC) -std=c11 -Wall -Wextra -D_GNU_SOURCE -O2 -g -fPIC -shared \
		-pthread -o $@ $< -ldl

# The stall witness is never sanitized either: its timing is the point.
$(STALLWATCH): tests/stallwatch/stallwatch.c
	@mkdir -p $(dir $@)
	$(call say,TOOL,$@)$(CC) -std=c11 -Wall -Wextra -D_GNU_SOURCE -O2 -g -pthread -o $@ $<

tests-build: all $(UNIT_BINS) $(BENCH_BINS) $(RTCHECK) $(STALLWATCH)

# ---- fuzzing: each harness is built with clang in $(BUILD)-fuzz/ and runs
# FUZZ_SECONDS from a copy of its seed corpus tests/fuzz/corpus/NAME/ (new
# inputs stay in the copy); a crash leaves its input in $(BUILD)-fuzz/ and
# fails the target.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_SECONDS ?= 60

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libairmix.a
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)$(CC) $(AIRMIX_CFLAGS) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(BUILD)/libairmix.a $(AIRMIX_LIBS)

fuzz-build: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

test-fuzz:
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory BUILD=$(BUILD)-fuzz SANITIZE=fuzz CC=clang \
		fuzz-build
	$(Q)for n in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)-fuzz/corpus/$$n && cp -n tests/fuzz/corpus/$$n/* \
			$(BUILD)-fuzz/corpus/$$n/ && \
		echo "  FUZZ   $$n for $(FUZZ_SECONDS) s" && \
		(cd $(BUILD)-fuzz && ./fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=2048 -print_final_stats=1 corpus/$$n \
			>fuzz-$$n.log 2>&1) || { tail -n 40 $(BUILD)-fuzz/fuzz-$$n.log; \
			echo "test-fuzz: fuzz_$$n failed, see $(BUILD)-fuzz/fuzz-$$n.log"; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^Done' $(BUILD)-fuzz/fuzz-$$n.log; \
	done

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/engine/main.d $(BUILD)/obj/web-admin/airmixctl.d

# ---- entry points that install packages first (then build in a sub-make so
# that pkg-config sees the freshly installed libraries)
deps-run:
	$(Q)sh debian/deps.sh run

deps-test:
	$(Q)sh debian/deps.sh test

deps-bench:
	$(Q)sh debian/deps.sh bench

run: deps-run
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory all
	$(Q)mkdir -p var
	./$(BUILD)/airmixd --config conf/airmix.conf --data-dir var

test: deps-test deps-deb
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory tests-build
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory BUILD=build-asan SANITIZE=asan tests-build
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory BUILD=build-tsan SANITIZE=tsan tests-build
	$(Q)sh tests/suites.sh all

test-asan: deps-test
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory BUILD=build-asan SANITIZE=asan tests-build
	$(Q)sh tests/suites.sh asan

test-tsan: deps-test
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory BUILD=build-tsan SANITIZE=tsan tests-build
	$(Q)sh tests/suites.sh tsan

bench: deps-bench
	$(Q)$(MAKE) -j$(JOBS) --no-print-directory tests-build
	$(Q)for b in $(BENCH_BINS); do $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/airmix/web \
		$(DESTDIR)/etc/airmix
	install -m 0755 $(BUILD)/airmixd $(BUILD)/airmixctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 conf/airmix.conf $(DESTDIR)/etc/airmix/airmix.conf
	if [ -d web-admin/www ]; then cp -R web-admin/www/. $(DESTDIR)$(PREFIX)/share/airmix/web/; fi

# ---- Debian package. dpkg-buildpackage runs in a copy of the tracked and
# untracked-but-not-ignored files under $(BUILD)/deb/ (never in this tree:
# its clean would remove the build folders), so the .deb, .changes and
# .buildinfo it writes to the parent folder land in $(BUILD)/deb/ too.
DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/airmix-$(VERSION)

deps-deb:
	$(Q)sh debian/deps.sh deb

deb: deps-deb
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf -; \
	else \
		tar --anchored --exclude=./.git --exclude='./build*' --exclude=./var -cf - .; \
	fi | tar -xf - -C $(DEB_SRC)
	$(call say,DEB,$(DEB_DIR))cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		-u BUILD -u SANITIZE -u DESTDIR -u PREFIX DEB_BUILD_OPTIONS="parallel=$(JOBS) $$DEB_BUILD_OPTIONS" \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -n 40 ../build.log; echo "deb: failed, see $(DEB_DIR)/build.log"; exit 1; }
	$(Q)rm -rf $(DEB_SRC)
	$(Q)ls $(DEB_DIR)/*.deb

test-deb: deps-deb
	$(Q)BUILD=$(BUILD) bash tests/deb/test_deb.sh

clean:
	rm -rf build build-asan build-tsan

.PHONY: all run test test-asan test-tsan test-fuzz fuzz-build bench install clean deps-run \
	deps-test deps-bench tests-build \
	deps-deb deb test-deb
