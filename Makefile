# mcxvault — top-level, non-recursive Makefile.
#
# Each module owns a fragment (<dir>/module.mk) that adds its sources and
# programs; this file holds the flags, the generic rules and the two commands
# a newcomer runs:  `make demo`  and  `make check`.
#
#   make            build everything into build/
#   make SAN=1      the same with AddressSanitizer + UBSan into build-asan/
#   make check      install missing Debian packages, build both, run every test
#   make demo       install missing packages, build, walk through the main job
#   make bench      run the benchmarks (docs/performance.md)
#   make bench-ir   instruction counts per request under callgrind (docs/performance.md)
#   make install    install vaultd, vaultctl, libmcxvault, headers, provider
#
# SPDX-License-Identifier: Apache-2.0

VERSION     := 0.1.0
PKGS        := p11-kit-1 libconfig jansson libcrypto libxml-2.0 sqlite3 libpq
CC          ?= cc
SAN         ?=
ifeq ($(SAN),1)
B           ?= build-asan
SANFLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPTFLAGS    := -O1 -g
else
B           ?= build
SANFLAGS    :=
OPTFLAGS    := -O2 -g
endif

PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS    += -Iinclude -I. -D_GNU_SOURCE -DMCXVAULT_VERSION=\"$(VERSION)\" $(PKG_CFLAGS)
WARNFLAGS   := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes \
               -Wmissing-prototypes -Wno-unused-parameter
CFLAGS      += -std=c11 $(OPTFLAGS) $(WARNFLAGS) -fPIC -fstack-protector-strong \
               -fno-strict-aliasing $(SANFLAGS)
ifneq ($(SAN),1)
CPPFLAGS    += -D_FORTIFY_SOURCE=2
endif
LDFLAGS     += $(SANFLAGS) -Wl,-z,relro -Wl,-z,now
LDLIBS      += -lpthread

PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib
DESTDIR     ?=

# objs(SOURCES): object files in the build tree for a list of .c files
objs = $(patsubst %.c,$(B)/obj/%.o,$(1))

# Filled in by the module fragments.
PROGRAMS    :=
LIBRARIES   :=
TEST_PROGRAMS :=
BENCH_PROGRAMS :=
EXTRA_TARGETS :=

all: build-all

include common/module.mk
include pkcs11/module.mk
-include crypto/module.mk
include vault/module.mk
-include vault/client/module.mk
-include vault/vaultctl/module.mk
-include provider/module.mk
-include $(wildcard tests/*/module.mk)
-include $(wildcard bench/*.mk)
-include $(wildcard fuzz/*.mk)

build-all: $(LIBRARIES) $(PROGRAMS) $(EXTRA_TARGETS) $(TEST_PROGRAMS) $(BENCH_PROGRAMS)

# what is installed, without the tests and benchmarks (packaging)
build-bin: $(LIBRARIES) $(PROGRAMS) $(PROVIDER_SO) $(B)/libmcxvault.so

ifeq ($(V),1)
Q :=
else
Q := @
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# --- Debian packages -------------------------------------------------------
# Everything mcxvault needs to build, test and demo; installed when missing.
DEB_PACKAGES := build-essential pkg-config libp11-kit-dev p11-kit softhsm2 libssl-dev openssl \
                libconfig-dev libjansson-dev libxml2-dev libsqlite3-dev libwolfssl-dev \
                opensc xmlsec1 util-linux procps logrotate python3 valgrind clang libclang-rt-14-dev \
                postgresql libpq-dev

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing missing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "==> Debian packages: all present"; fi

# --- the two commands ----------------------------------------------------------
JOBS := $(shell nproc 2>/dev/null || echo 2)

demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@B=$(B) sh tests/demo.sh

check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=1 build-all
	@sh tests/run-all.sh build build-asan

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@B=$(B) sh bench/run.sh

# instruction counts (callgrind): stable where times are not
bench-ir: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@B=$(B) bash bench/ir.sh

install: build-bin install-provider
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/mcx \
	           $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)/etc/mcxvault
	install -m 755 $(B)/vaultd $(DESTDIR)$(PREFIX)/sbin/vaultd
	install -m 755 $(B)/vaultctl $(DESTDIR)$(PREFIX)/bin/vaultctl
	install -m 644 include/mcxvault.h $(DESTDIR)$(PREFIX)/include/mcxvault.h
	install -m 644 include/mcx/error.h $(DESTDIR)$(PREFIX)/include/mcx/error.h
	install -m 644 $(B)/libmcxvault.a $(DESTDIR)$(LIBDIR)/libmcxvault.a
	install -m 644 $(B)/libmcxvault.so.0 $(DESTDIR)$(LIBDIR)/libmcxvault.so.0
	ln -sf libmcxvault.so.0 $(DESTDIR)$(LIBDIR)/libmcxvault.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    vault/client/mcxvault.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mcxvault.pc
	[ -e $(DESTDIR)/etc/mcxvault/vault.conf ] || install -m 640 config/vault.conf $(DESTDIR)/etc/mcxvault/vault.conf
	[ -e $(DESTDIR)/etc/mcxvault/softhsm2.conf ] || install -m 644 config/softhsm2.conf $(DESTDIR)/etc/mcxvault/softhsm2.conf
	@$(MAKE) --no-print-directory install-member-sdk
	@$(MAKE) --no-print-directory install-ops

# man pages, systemd units, sysusers.d/tmpfiles.d entries, logrotate, bash completion
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
LOGROTATEDIR   ?= /etc/logrotate.d
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
MAN_PAGES      := $(wildcard docs/man/*.[1-8])
install-ops:
	for page in $(MAN_PAGES); do \
	  sec=$${page##*.}; install -d $(DESTDIR)$(MANDIR)/man$$sec; install -m 644 $$page $(DESTDIR)$(MANDIR)/man$$sec/; \
	done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(LOGROTATEDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' config/systemd/vaultd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/vaultd.service
	install -m 644 config/systemd/vaultd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/vaultd.socket
	install -m 644 config/systemd/mcxvault.sysusers $(DESTDIR)$(SYSUSERSDIR)/mcxvault.conf
	install -m 644 config/systemd/mcxvault.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mcxvault.conf
	sed 's|@BINDIR@|$(PREFIX)/bin|g' config/logrotate/mcxvault > $(DESTDIR)$(LOGROTATEDIR)/mcxvault
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 config/bash-completion/vaultctl $(DESTDIR)$(BASHCOMPDIR)/vaultctl
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/vaultd.service $(DESTDIR)$(LOGROTATEDIR)/mcxvault

clean:
	rm -rf build build-asan


# Debian packages into $(B)/deb (dpkg-buildpackage leaves them in ..)
deb: deps
	@command -v dh >/dev/null || { echo 'make deb needs debhelper (apt-get install debhelper)'; exit 1; }
	dpkg-buildpackage -us -uc -b
	mkdir -p $(B)/deb && mv ../mcxvault_$(VERSION)_* ../libmcxvault0_$(VERSION)_* ../libmcxvault-dev_$(VERSION)_* \
	   ../openssl-provider-mcxvault_$(VERSION)_* $(B)/deb/ && { mv ../*-dbgsym_$(VERSION)_*.deb $(B)/deb/ 2>/dev/null || true; } && ls $(B)/deb

# builds the packages, lints them, installs them here and runs vaultd from them (root; not in make check)
deb-check: deb
	@B=$(B) bash tests/ops/deb-check.sh

.PHONY: all build-all build-bin deb deb-check deps demo check bench bench-ir clean install install-ops

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
