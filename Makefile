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
INCLUDES    := -Icommon -Iconf -Imeta -Ierasure -Iobjlock -Iiam -Iheal -Igateway -Iingest
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SANFLAGS) \
              $(INCLUDES) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS        = $(PKG_LIBS) $(NOPC_LIBS)

# Module sources (dependency order: common conf meta erasure objlock iam gateway).
MOD_DIRS    := common conf meta erasure objlock iam heal ingest gateway
MOD_SRCS    := $(foreach d,$(MOD_DIRS),$(wildcard $(d)/*.c))
MOD_OBJS    := $(MOD_SRCS:%.c=$(BUILD)/%.o)
CMD_SRCS    := $(wildcard cmd/*.c)
CMD_OBJS    := $(CMD_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
LIBCOFFER   := $(BUILD)/libcoffer.a

.PHONY: all deps deb-deps node-deps run test test-unit test-unit-san test-integration \
        install clean check-src bench bench-smoke fuzz fuzz-build fuzz-smoke
.DEFAULT_GOAL := all

all: $(BUILD)/coffer $(BUILD)/tests/audit_tamper $(BUILD)/tests/coffer-testclock

# Test-only tools used by the integration suite (never installed).
$(BUILD)/tests/audit_tamper: tests/tools/audit_tamper.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

# A test-only coffer whose compliance clock starts COFFER_TEST_CLOCK_ADVANCE_S
# seconds ahead (lifecycle tests need days to pass): ol_clock.c compiled
# with -DCOFFER_TEST_CLOCK, linked before libcoffer.a so the archive's own
# ol_clock.o is not used. Never installed; build/coffer has no such code.
$(BUILD)/tests/ol_clock_test.o: objlock/ol_clock.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCOFFER_TEST_CLOCK -c $< -o $@

$(BUILD)/tests/coffer-testclock: $(BUILD)/tests/ol_clock_test.o $(CMD_OBJS) \
                                 $(LIBCOFFER)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BUILD)/tests/ol_clock_test.o $(CMD_OBJS) \
	    $(LIBCOFFER) $(LIBS)

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
test_ol_lc_OBJS := common objlock/ol_lc.c
test_ol_report_OBJS := common meta erasure objlock
test_ol_export_OBJS := common meta erasure objlock
test_xml_OBJS   := common gateway/gw_xml.c
test_crc_OBJS   := common
test_csum_OBJS  := common gateway/gw_csum.c
test_sse_OBJS   := common meta gateway/gw_sse_crypto.c gateway/gw_sse_key.c
test_iam_OBJS   := common meta iam
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
# coffer-bulkload: catalog records of empty objects for the LIST benchmark
# (tests/tools/coffer_bulkload.c; scratch data directories only).
$(BUILD)/tests/coffer-bulkload: $(BUILD)/tests/tools/coffer_bulkload.o \
                                $(LIBCOFFER)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

BENCH_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
$(BUILD)/coffer-bench: $(BENCH_OBJS) $(BUILD)/gateway/gw_sigv4.o \
                       $(call objs_of,common)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcurl openssl) \
	    -lpthread

# ---- fuzz: libFuzzer targets (clang, ASan + UBSan; see tests/fuzz/) ----
# Built apart from the normal build, in build-fuzz/: the module sources a
# target needs are compiled again with clang and the fuzzer sanitizers.
# `make fuzz` runs each target FUZZ_SECONDS with its seed corpus (new
# inputs go to build-fuzz/corpus/<name>/, never into the repository);
# `make fuzz-smoke` runs each FUZZ_SMOKE_SECONDS. Any crash, leak or UB
# report fails the run, its input saved as build-fuzz/artifacts/<name>-*.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra \
               -Wno-unused-parameter $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
               $(INCLUDES) $(PKG_CFLAGS) -MMD -MP
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
# What each target links, as for the unit tests (default: every module).
fuzz_sigv4_OBJS   := common gateway/gw_sigv4.c gateway/gw_chunked.c
fuzz_chunked_OBJS := common gateway/gw_sigv4.c gateway/gw_chunked.c
fuzz_xml_OBJS     := common gateway/gw_xml.c objlock/ol_lc.c
fuzz_conf_OBJS    := common conf
fuzz_shard_OBJS   := common erasure
fuzz_policy_OBJS  := common meta iam
fuzz_objs_of = $(foreach x,$(1),$(if $(filter %.c,$(x)),\
            $(x:%.c=$(FUZZ_BUILD)/%.o),\
            $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(wildcard $(x)/*.c))))

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

define fuzz_rule
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/tests/fuzz/fuzz_$(1).o \
        $(call fuzz_objs_of,$(or $(fuzz_$(1)_OBJS),$(MOD_DIRS)))
	$$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(t))))

fuzz-build: $(FUZZ_BINS)

# $(1): seconds per target.
define fuzz_run
	@set -e; mkdir -p $(FUZZ_BUILD)/artifacts; \
	for t in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    echo "== fuzz_$$t ($(1) s)"; \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(1) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	        2>$(FUZZ_BUILD)/fuzz_$$t.log || \
	        { tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; \
	          echo "fuzz: fuzz_$$t failed (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
	          exit 1; }; \
	    grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/fuzz_$$t.log; \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))

# ---- dependencies (Debian packages only; idempotent) ----
DEB_PKGS := build-essential pkg-config libevent-dev libssl-dev libxml2-dev \
            librocksdb-dev liberasurecode-dev libisal2 libisal-dev \
            libxxhash-dev libhttp-parser-dev libcurl4-openssl-dev \
            libjansson-dev libyaml-dev libcmocka-dev clang-14 \
            libclang-rt-14-dev python3 python3-pytest \
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
	$(MAKE) fuzz-smoke
	$(MAKE) bench-smoke
	$(MAKE) test-integration

check-src:
	@! grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|gets|atoi|atol|gmtime|localtime|rand)\(' \
	    $(MOD_SRCS) $(CMD_SRCS) || (echo "check-src: banned call above"; false)

# make bench: the standard set (bench/standard.sh; ~15 min, a quiet
# machine); make bench-smoke: every workload for a second, no errors
# allowed (part of make test).
bench: $(BUILD)/coffer-bench $(BUILD)/coffer $(BUILD)/tests/coffer-bulkload
	bench/standard.sh $(BUILD)

bench-smoke: $(BUILD)/coffer-bench $(BUILD)/coffer
	bench/smoke.sh $(BUILD)

clean:
	rm -rf build build-*

-include $(MOD_OBJS:.o=.d) $(CMD_OBJS:.o=.d) \
         $(wildcard $(FUZZ_BUILD)/*/*.d $(FUZZ_BUILD)/*/*/*.d) \
         $(UNIT_SRCS:%.c=$(BUILD)/%.d) $(BENCH_OBJS:.o=.d)
