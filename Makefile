# keten — plain Makefile (see README.md).  `make` builds bin/keten-broker,
# bin/keten-agent and bin/keten; `make test` runs unit + integration tests;
# `make test SANITIZE=1` does the same under ASan+UBSan; `make demo` shows a
# small network of agencies exchanging messages.

PKGS     := libzmq libsodium libprotobuf-c lmdb yaml-0.1 jansson libmicrohttpd libseccomp
DEB_PKGS := build-essential pkg-config libzmq3-dev libsodium-dev libprotobuf-c-dev \
            protobuf-c-compiler liblmdb-dev libcmocka-dev libyaml-dev \
            libmicrohttpd-dev libjansson-dev libseccomp-dev bc python3 python3-cryptography curl \
            lmdb-utils groff-base systemd

CC      ?= cc
BUILD   ?= build
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 \
           -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter \
           -fstack-protector-strong -MMD -MP -I. -I$(BUILD)
ifneq ($(WERROR),)
CFLAGS  += -Werror
endif
ifneq ($(FUZZ),)
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
ifneq ($(SANITIZE),)
BUILD   := build-san
BIN     := bin-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -D_FORTIFY_SOURCE=2
endif
BIN     ?= bin

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS)

ifeq ($(V),)
Q = @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q =
say =
endif

PROTOS   := $(wildcard schemas/*.proto)
PROTO_C  := $(patsubst schemas/%.proto,$(BUILD)/schemas/%.pb-c.c,$(PROTOS))
PROTO_H  := $(PROTO_C:.c=.h)

REGISTRY_C := $(BUILD)/schemas/registry.c
# The layers, lowest first; each is a static library that may use only the
# ones below it (tests/layers.sh checks the includes and the symbols):
#   proto   generated protobuf-c code (schemas/*.proto) and the codec registry
#   common  what broker, agent and CLI share: keys, envelope, log, config, ...
#   schemas the descriptor-walking codec and field formats
#   policy  the policy compiler and evaluator
#   ledger  the only code that knows the ledger's on-disk format
PROTO_SRC   := $(PROTO_C) $(REGISTRY_C)
COMMON_SRC  := $(wildcard common/*.c)
SCHEMAS_SRC := $(wildcard schemas/*.c)
POLICY_SRC  := $(wildcard policy/*.c)
LEDGER_SRC  := $(wildcard ledger/*.c)
LAYERS      := ledger policy schemas common proto
BROKER_SRC := $(wildcard broker/*.c)
CLIENT_SRC := agent/keten_client.c
AGENT_SRC  := $(filter-out $(CLIENT_SRC),$(wildcard agent/*.c))
CLI_SRC    := $(wildcard cli/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(patsubst $(BUILD)/%,%,$(1)))

PROTO_OBJ   := $(call obj,$(PROTO_SRC))
COMMON_OBJ  := $(call obj,$(COMMON_SRC))
SCHEMAS_OBJ := $(call obj,$(SCHEMAS_SRC))
POLICY_OBJ  := $(call obj,$(POLICY_SRC))
LEDGER_OBJ  := $(call obj,$(LEDGER_SRC))
LAYER_OBJ   := $(PROTO_OBJ) $(COMMON_OBJ) $(SCHEMAS_OBJ) $(POLICY_OBJ) $(LEDGER_OBJ)
# every layer, in link order (highest first): a call from a lower layer into a
# higher one finds nothing left to resolve it and fails the link
LIBS        := $(patsubst %,$(BUILD)/libketen-%.a,$(LAYERS))
BROKER_OBJ := $(call obj,$(BROKER_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))

FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY  := $(patsubst %,$(BUILD)/tests/fuzz_%,$(FUZZ_TARGETS))
FUZZ_SECONDS ?= 60
# libFuzzer's -seed: 0 picks a new one each run (printed); CI fixes it, so a
# run of CI does what the same run here did (docs/security.md, Fuzzing)
FUZZ_SEED    ?= 0
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
INTEG_HELPERS := $(BUILD)/tests/rawpeer $(BUILD)/tests/ledgertamper $(BUILD)/tests/keten-broker-evil \
  $(BUILD)/tests/syncshim.so $(BUILD)/tests/keten-broker-nosync

PROGS := $(BIN)/keten-broker $(BIN)/keten-agent $(BIN)/keten $(BIN)/keten-client-example

.PHONY: bench-deps all deps deps-fuzz test unit integ faults demo demo-partners clean bench fuzz fuzz-run install
all: $(PROGS) man

# Install the Debian packages keten needs, only when one is missing.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	@# the console's browser tests: Debian's Chromium, Node.js, playwright-core and axe-core
	@tests/browser/install.sh

$(BUILD)/schemas/%.pb-c.c $(BUILD)/schemas/%.pb-c.h: schemas/%.proto
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(BUILD)/schemas
	$(Q)protoc-c --proto_path=schemas --c_out=$(BUILD)/schemas $<

# The codec's registry of sendable types: every message of schemas/case.proto.
$(REGISTRY_C): $(BUILD)/schemas/case.pb-c.h
	$(call say,GEN,$@)
	$(Q){ echo '/* generated from schemas/case.proto by the Makefile */'; \
	  echo '#include <stddef.h>'; echo '#include "schemas/case.pb-c.h"'; \
	  echo 'const ProtobufCMessageDescriptor *const codec_registry[] = {'; \
	  sed -n 's/^extern const ProtobufCMessageDescriptor \(.*\);$$/\t\&\1,/p' $<; \
	  echo '\tNULL'; echo '};'; } >$@.tmp && mv $@.tmp $@

# Generated headers must exist before any object is compiled.
$(LAYER_OBJ) $(BROKER_OBJ) $(AGENT_OBJ) $(CLI_OBJ): | $(PROTO_H)

$(BUILD)/%.o: %.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/schemas/%.o: $(BUILD)/schemas/%.c
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/libketen-proto.a: $(PROTO_OBJ)
$(BUILD)/libketen-common.a: $(COMMON_OBJ)
$(BUILD)/libketen-schemas.a: $(SCHEMAS_OBJ)
$(BUILD)/libketen-policy.a: $(POLICY_OBJ)
$(BUILD)/libketen-ledger.a: $(LEDGER_OBJ)
# an archive is made anew when its list of members changes (a module moved to
# another layer), not only when a member is newer
$(LIBS): $(BUILD)/libketen-%.a: $(BUILD)/libketen-%.members
$(BUILD)/libketen-%.members: FORCE
	@mkdir -p $(BUILD); \
	  printf '%s\n' $(call obj,$($(shell echo $* | tr a-z A-Z)_SRC)) | cmp -s - $@ || \
	  printf '%s\n' $(call obj,$($(shell echo $* | tr a-z A-Z)_SRC)) >$@
$(LIBS):
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $(filter %.o,$^)
.PHONY: FORCE

$(BIN)/keten-broker: $(BROKER_OBJ) $(LIBS)
	$(call say,LD,$@)
	$(Q)mkdir -p $(BIN)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/keten-agent: $(AGENT_OBJ) $(LIBS)
	$(call say,LD,$@)
	$(Q)mkdir -p $(BIN)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libketen-client: the C client of the agent's REST API (agent/keten_client.h);
# no dependency beyond libc
$(BUILD)/libketen-client.a: $(CLIENT_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN)/keten-client-example: $(BUILD)/examples/c/client_example.o $(BUILD)/libketen-client.a
	$(call say,LD,$@)
	$(Q)mkdir -p $(BIN)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/keten: $(CLI_OBJ) $(BUILD)/libketen-client.a $(LIBS)
	$(call say,LD,$@)
	$(Q)mkdir -p $(BIN)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the broker's metrics and verifier are modules of their own: their unit tests link them
$(BUILD)/tests/test_metrics: $(BUILD)/broker/metrics.o
$(BUILD)/tests/test_metrics: EXTRA_OBJ := $(BUILD)/broker/metrics.o
$(BUILD)/tests/test_verify: $(BUILD)/broker/verify.o
$(BUILD)/tests/test_verify: EXTRA_OBJ := $(BUILD)/broker/verify.o

# the message path's modules, for their unit tests (tests/unit/msgutil.h)
$(BUILD)/tests/test_gate: $(call obj,broker/gate.c broker/queue.c agent/outbound.c)
$(BUILD)/tests/test_gate: EXTRA_OBJ := $(call obj,broker/gate.c broker/queue.c agent/outbound.c)
$(BUILD)/tests/test_queue: $(call obj,broker/queue.c agent/outbound.c)
$(BUILD)/tests/test_queue: EXTRA_OBJ := $(call obj,broker/queue.c agent/outbound.c)
$(BUILD)/tests/test_zap: $(call obj,broker/zap.c)
$(BUILD)/tests/test_zap: EXTRA_OBJ := $(call obj,broker/zap.c)
$(BUILD)/tests/test_receipt: $(call obj,agent/receipt.c)
$(BUILD)/tests/test_receipt: EXTRA_OBJ := $(call obj,agent/receipt.c)
$(BUILD)/tests/test_store: $(call obj,agent/store.c agent/outbound.c)
$(BUILD)/tests/test_store: EXTRA_OBJ := $(call obj,agent/store.c agent/outbound.c)
$(BUILD)/tests/test_inbound: $(call obj,agent/outbound.c agent/inbound.c)
$(BUILD)/tests/test_inbound: EXTRA_OBJ := $(call obj,agent/outbound.c agent/inbound.c)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBS) | $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $< \
	  $(EXTRA_OBJ) $(LIBS) $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/rawpeer $(BUILD)/tests/ledgertamper: $(BUILD)/tests/%: tests/integ/%.c $(LIBS) | $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# The evil broker of the adversary tests (tests/adversary/evil.c): the
# broker's objects with its approval checks wrapped away.
$(BUILD)/tests/keten-broker-evil: tests/adversary/evil.c $(BROKER_OBJ) $(LIBS) | $(PROTO_H)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--wrap=trust_check_policy -Wl,--wrap=trust_check_directory \
	  -Wl,--wrap=trust_version_cmp -Wl,--wrap=ledger_receipt -Wl,--wrap=trust_check_root \
	  -o $@ $< $(BROKER_OBJ) $(LIBS) $(LDLIBS)

# The machine-crash test (tests/integ/t_powerloss.sh): an LD_PRELOAD shim that
# keeps what a disk would hold after a power cut, and a broker with its
# second sync wrapped away, the control that shows the test can fail.
$(BUILD)/tests/syncshim.so: tests/crash/syncshim.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl -pthread
$(BUILD)/tests/keten-broker-nosync: tests/crash/nosync.c $(BROKER_OBJ) $(LIBS) | $(PROTO_H)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--wrap=mdb_env_sync \
	  -o $@ $< $(BROKER_OBJ) $(LIBS) $(LDLIBS)

# Fuzz targets: with gcc (make test) a plain main() replays the seed corpus;
# `make fuzz` builds them with clang's libFuzzer and runs each FUZZ_SECONDS.
# A target that reaches into the broker or the agent links their modules.
FUZZ_WIRE_OBJ := $(call obj,broker/gate.c broker/queue.c agent/outbound.c agent/inbound.c \
  agent/receipt.c)
# (fuzz_rest includes agent/rest.c and rest_api.c and runs the agent's outbound_prepare)
$(BUILD)/tests/fuzz_wire $(BUILD)/fuzz/fuzz_wire $(BUILD)/tests/fuzz_rest $(BUILD)/fuzz/fuzz_rest: $(FUZZ_WIRE_OBJ)
$(BUILD)/tests/fuzz_wire $(BUILD)/fuzz/fuzz_wire $(BUILD)/tests/fuzz_rest $(BUILD)/fuzz/fuzz_rest: EXTRA_OBJ := $(FUZZ_WIRE_OBJ)
$(BUILD)/tests/fuzz_rest $(BUILD)/fuzz/fuzz_rest: agent/rest.c agent/rest_api.c agent/rest_guard.c
# fuzz_wire also runs the broker's dispatch of a frame (broker/dispatch.c)
FUZZ_DISPATCH_OBJ := $(call obj,broker/dispatch.c broker/submit.c broker/events.c \
  broker/session.c broker/verify.c broker/metrics.c broker/spool.c)
$(BUILD)/tests/fuzz_wire $(BUILD)/fuzz/fuzz_wire: $(FUZZ_DISPATCH_OBJ)
$(BUILD)/tests/fuzz_wire $(BUILD)/fuzz/fuzz_wire: EXTRA_OBJ := $(FUZZ_WIRE_OBJ) $(FUZZ_DISPATCH_OBJ)

# the generator of the seeds that need signatures (tests/fuzz/mkcorpus.sh)
$(BUILD)/tests/gen_seeds: tests/fuzz/gen_seeds.c $(FUZZ_WIRE_OBJ) $(LIBS) | $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_WIRE_OBJ) $(LIBS) $(LDLIBS)

$(BUILD)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIBS) | $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(EXTRA_OBJ) $(LIBS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBS) | $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(EXTRA_OBJ) $(LIBS) $(LDLIBS)

deps-fuzz: deps
	@dpkg-query -W -f='$${Status}' clang libclang-rt-14-dev 2>/dev/null | grep -c 'ok installed' | grep -q 2 || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q clang libclang-rt-14-dev; }

fuzz: deps-fuzz
	$(Q)$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz FUZZ=1 fuzz-run

fuzz-run: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d); echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/ $$work tests/fuzz/corpus/$$t 2>&1 | \
	    grep -E 'INFO: Seed:|stat::number_of_executed_units|stat::peak_rss|DONE .*cov:|ERROR|SUMMARY' || true; \
	  test -z "$$(ls $(BUILD)/fuzz/crash-* $(BUILD)/fuzz/leak-* $(BUILD)/fuzz/timeout-* 2>/dev/null)" || \
	    { echo "fuzz_$$t found a failing input:"; ls $(BUILD)/fuzz/crash-* $(BUILD)/fuzz/leak-* $(BUILD)/fuzz/timeout-* 2>/dev/null; exit 1; }; \
	  rm -rf $$work; done

unit: deps
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN) $(FUZZ_REPLAY) $(LIBS)
	$(Q)tests/layers.sh $(BUILD)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "== $$t"; ./$$t; done
	$(Q)set -e; for t in $(FUZZ_TARGETS); do $(BUILD)/tests/fuzz_$$t tests/fuzz/corpus/$$t; done
	$(Q)$(MAKE) --no-print-directory $(BIN)/keten
	@echo "== keten policy lint --strict / test policy/stm.yaml"
	$(Q)$(BIN)/keten policy lint --strict policy/stm.yaml >/dev/null
	$(Q)$(BIN)/keten policy test policy/stm.yaml policy/tests >$(BUILD)/policy-test.out || \
	  { cat $(BUILD)/policy-test.out; exit 1; }
	$(Q)tail -n 2 $(BUILD)/policy-test.out

integ: deps
	$(Q)$(MAKE) --no-print-directory $(PROGS) $(INTEG_HELPERS)
	$(Q)KETEN_BIN=$(BIN) KETEN_TESTBIN=$(BUILD)/tests tests/integ/run.sh

# The fault suite (docs/faults.md): kill -9, disk full, offline, frozen
# processes, a wrong clock.  FAULT_SECONDS bounds it (soft, default 330);
# FAULT_SEED replays a run; ONLY=NAME runs one test.
faults: deps
	$(Q)$(MAKE) --no-print-directory $(PROGS) $(INTEG_HELPERS)
	$(Q)KETEN_BIN=$(BIN) KETEN_TESTBIN=$(BUILD)/tests tests/faults/run.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integ

# (the demo also plays a compromised broker: the evil broker of the adversary tests)
demo: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/tests/keten-broker-evil
	$(Q)KETEN_BIN=$(BIN) KETEN_TESTBIN=$(BUILD)/tests ./demo/demo.sh

# every partner of the programme exchanging (demo/partners.sh): KMar, the
# RIEC, CoMensha and a care provider beside police, OM, NLA and municipalities
demo-partners: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)KETEN_BIN=$(BIN) KETEN_TESTBIN=$(BUILD)/tests ./demo/partners.sh

$(BUILD)/bench/zmq_baseline: bench/zmq_baseline.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS) -lpthread

# each benchmark links the layers' libraries (the ledger's writer is in libketen-ledger)

$(BUILD)/bench/api_bench: bench/api_bench.c bench/bench.h $(BUILD)/libketen-client.a
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libketen-client.a -ljansson -lpthread

# the RabbitMQ comparison needs librabbitmq-dev, which only `make bench` installs
$(BUILD)/bench/rabbit_bench: bench/rabbit_bench.c bench/bench.h
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lrabbitmq -lpthread

$(BUILD)/bench/%_bench: bench/%_bench.c bench/bench.h $(LIBS)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(EXTRA_OBJ) $(LIBS) $(LDLIBS)

# make bench: the component benchmarks, then one table (bench/broker_path.sh,
# explained in bench/RESULTS.md): broker saturation against raw libzmq and
# RabbitMQ in the same run, footprint, and the whole path through real agents.
# RabbitMQ and librabbitmq are installed here only, not by `make deps` (CI).
BENCH_DEB_PKGS := rabbitmq-server librabbitmq-dev
bench-deps: deps
	@missing=""; for p in $(BENCH_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing || \
	    echo "could not install$$missing: the RabbitMQ comparison will say so"; \
	fi

bench: bench-deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/zmq_baseline $(BUILD)/bench/codec_bench \
	  $(BUILD)/bench/policy_bench $(BUILD)/bench/envelope_bench $(BUILD)/bench/ledger_bench \
	  $(BUILD)/bench/api_bench $(BUILD)/bench/broker_bench
	$(Q)test ! -e /usr/include/amqp.h || $(MAKE) --no-print-directory $(BUILD)/bench/rabbit_bench
	@echo "== ledger"
	$(Q)$(BUILD)/bench/ledger_bench 1000000 $(BIN)
	@echo "== envelope"
	$(Q)$(BUILD)/bench/envelope_bench
	@echo "== policy"
	$(Q)$(BUILD)/bench/policy_bench
	@echo "== codec"
	$(Q)$(BUILD)/bench/codec_bench tests/data/messages/signal_carwash.json CaseSignal
	@echo "== broker saturation, footprint, message path, REST API (bench/RESULTS.md)"
	$(Q)KETEN_BIN=$(BIN) KETEN_TESTBIN=$(BUILD)/bench bench/broker_path.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the programs, the C client
# library and header, the systemd units and the guides (docs/operator.md).
# Installs what `make` built; run `make` first (as yourself, not root).
PREFIX ?= /usr/local
install:
	@test -x $(BIN)/keten -a -f $(BUILD)/libketen-client.a || { echo "run make first"; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/doc/keten $(DESTDIR)$(PREFIX)/share/keten/deploy \
	  $(DESTDIR)$(PREFIX)/share/keten/policy
	install -m 0755 $(BIN)/keten-broker $(BIN)/keten-agent $(BIN)/keten $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(BUILD)/libketen-client.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 agent/keten_client.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/keten/
	install -m 0644 deploy/*.service $(DESTDIR)$(PREFIX)/share/keten/deploy/
	install -m 0644 policy/stm.yaml policy/directory.example.yaml $(DESTDIR)$(PREFIX)/share/keten/policy/
	$(MAKE) --no-print-directory install-man

clean:
	rm -rf build build-san build-fuzz bin bin-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# man pages and bash completion: the man and install-man targets
include man/man.mk

# keten init finds the installed policy under PREFIX/share/keten
$(BUILD)/cli/cmd_init.o: CFLAGS += -DKETEN_SHARE='"$(PREFIX)/share/keten"'
