# coffer — one GNU Makefile: deps, all, run, test, install, clean.
# Flags come from pkg-config where a .pc exists; libraries without one are
# listed in NOPC_LIBS. Objects go under build/ (or build-<sanitizer>/).

PREFIX      ?= /usr/local
CC          ?= cc
PYTHON      ?= python3

PKGS        := libevent libevent_pthreads libevent_openssl openssl rocksdb \
               libisal libxxhash libcurl jansson yaml-0.1 libxml-2.0
NOPC_LIBS   := -lerasurecode -lhttp_parser -lpthread -lm -ldl

ifeq ($(SANITIZER),)
  BUILD     := build
  SANFLAGS  :=
else
  BUILD     := build-$(SANITIZER)
  SANFLAGS  := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
endif

OPT         := -O2
ifeq ($(DEBUG),1)
  OPT       := -O0
endif
WARN        := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
               -Wno-unused-parameter
ifeq ($(WERROR),1)
  WARN      += -Werror
endif

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
INCLUDES    := -Icommon -Iconf -Imeta -Ierasure -Iobjlock -Iheal -Igateway -Iingest
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SANFLAGS) \
              $(INCLUDES) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS        = $(PKG_LIBS) $(NOPC_LIBS)

# Module sources (dependency order: common conf meta erasure objlock gateway).
MOD_DIRS    := common conf meta erasure objlock heal ingest gateway
MOD_SRCS    := $(foreach d,$(MOD_DIRS),$(wildcard $(d)/*.c))
MOD_OBJS    := $(MOD_SRCS:%.c=$(BUILD)/%.o)
CMD_SRCS    := $(wildcard cmd/*.c)
CMD_OBJS    := $(CMD_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
LIBCOFFER   := $(BUILD)/libcoffer.a

.PHONY: all deps deb-deps node-deps run test test-unit test-unit-san test-integration \
        install clean check-src bench fuzz
.DEFAULT_GOAL := all

all: $(BUILD)/coffer $(BUILD)/tests/audit_tamper

# Test-only tools used by the integration suite (never installed).
$(BUILD)/tests/audit_tamper: tests/tools/audit_tamper.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBCOFFER): $(MOD_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/coffer: $(CMD_OBJS) $(LIBCOFFER)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJS) $(LIBCOFFER) $(LIBS)

# Each unit test links only the modules it tests (and what they depend on),
# so one module's tests build while another module is being written.
# test_<name>_OBJS lists directories or single .c files; default: all.
test_cf_OBJS    := common
test_conf_OBJS  := common conf
test_ec_OBJS    := common erasure
test_meta_OBJS  := common meta
test_sigv4_OBJS := common gateway/gw_sigv4.c gateway/gw_chunked.c
test_ol_OBJS    := common meta erasure objlock
test_ol_report_OBJS := common meta erasure objlock
test_ol_export_OBJS := common meta erasure objlock
test_xml_OBJS   := common gateway/gw_xml.c
test_crc_OBJS   := common
test_csum_OBJS  := common gateway/gw_csum.c
test_sse_OBJS   := common meta gateway/gw_sse_crypto.c gateway/gw_sse_key.c
objs_of = $(foreach x,$(1),$(if $(filter %.c,$(x)),$(x:%.c=$(BUILD)/%.o),\
            $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(x)/*.c))))
define unit_rule
$(BUILD)/tests/$(1): $(BUILD)/tests/unit/$(1).o $(call objs_of,$(or $($(1)_OBJS),$(MOD_DIRS)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS) -lcmocka
endef
UNIT_NAMES  := $(UNIT_SRCS:tests/unit/%.c=%)
$(foreach t,$(UNIT_NAMES),$(eval $(call unit_rule,$(t))))

# Fault injection for the integration tests only (LD_PRELOAD; never linked
# into coffer): see tests/fault/fault.c.
FAULT_SO    := $(BUILD)/tests/libcoffer_fault.so
$(FAULT_SO): tests/fault/fault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl

# ---- bench: coffer-bench (not part of all) ----
BENCH_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
$(BUILD)/coffer-bench: $(BENCH_OBJS) $(BUILD)/gateway/gw_sigv4.o \
                       $(call objs_of,common)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcurl openssl) \
	    -lpthread

# ---- dependencies (Debian packages only; idempotent) ----
DEB_PKGS := build-essential pkg-config libevent-dev libssl-dev libxml2-dev \
            librocksdb-dev liberasurecode-dev libisal2 libisal-dev \
            libxxhash-dev libhttp-parser-dev libcurl4-openssl-dev \
            libjansson-dev libyaml-dev libcmocka-dev python3 python3-pytest \
            python3-boto3 awscli rclone s3cmd openssl nodejs faketime
deps: deb-deps node-deps

deb-deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all present"; fi

# The AWS SDK for JavaScript v3 for the client-matrix test, from npm into
# tests/clients/node (package-lock.json pins every version). npm ships
# with NodeSource's nodejs; Debian's comes as the separate npm package.
NODE_DIR := tests/clients/node
node-deps: $(NODE_DIR)/node_modules/.package-lock.json
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json \
                                             $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "node-deps: npm not found \
	    (install nodejs with npm)"; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: deb-deps all
	./$(BUILD)/coffer serve

install: all
	install -D -m 0755 $(BUILD)/coffer $(DESTDIR)$(PREFIX)/bin/coffer

# ---- tests ----
test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Unit tests again under AddressSanitizer (with leak checks) + UBSan.
test-unit-san:
	$(MAKE) SANITIZER=address,undefined test-unit

test-integration: all node-deps $(FAULT_SO)
	tests/integration/run.sh $(BUILD)/coffer

test: deps
	$(MAKE) all
	$(MAKE) test-unit
	$(MAKE) test-unit-san
	$(MAKE) test-integration

check-src:
	@! grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|gets|atoi|atol|gmtime|localtime|rand)\(' \
	    $(MOD_SRCS) $(CMD_SRCS) || (echo "check-src: banned call above"; false)

bench: $(BUILD)/coffer-bench $(BUILD)/coffer
	bench/smoke.sh $(BUILD)

clean:
	rm -rf build build-*

-include $(MOD_OBJS:.o=.d) $(CMD_OBJS:.o=.d) \
         $(UNIT_SRCS:%.c=$(BUILD)/%.d) $(BENCH_OBJS:.o=.d)
