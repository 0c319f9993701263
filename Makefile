# Lintel: build, test, run, bench. The only entry points a person needs.
#
#   make          build everything into build/
#   make run      start the local stack, follow its logs, stop it on Ctrl-C
#   make test     unit tests, the spec's checks, then the end-to-end suite on a
#                 throw-away stack (every response checked against the spec)
#   make contract redocly lint of proto/openapi.yaml and its typed client
#   make asan     unit tests under AddressSanitizer + UBSan (build-asan/)
#   make up | down | status     the local stack, detached
#   make deps     install the Debian packages (run by the other targets)

BUILD     ?= build
CC        ?= cc
SANITIZE  ?=
OPT       ?= -O2

CPPFLAGS  += -D_GNU_SOURCE -Ilibcommon -I$(BUILD)/gen -I/usr/include/postgresql -MMD -MP
CFLAGS    += -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wformat=2 \
             -Wno-missing-field-initializers $(SANITIZE)
LDFLAGS   += $(SANITIZE)
LDLIBS    += -lnng -lprotobuf-c -lhiredis -lcjson -lpq -lcrypto -lpthread

PROTOS    := $(wildcard proto/lintel/v1/*.proto)
GEN_C     := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_H     := $(GEN_C:.c=.h)

LC_SRC    := $(wildcard libcommon/*.c)
LC_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(LC_SRC)) \
             $(patsubst %.c,%.o,$(subst $(BUILD)/gen,$(BUILD)/obj/gen,$(GEN_C)))
LC_LIB    := $(BUILD)/lib/liblintelcommon.a

SERVICES  := $(notdir $(wildcard services/*))
SVC_BINS  := $(patsubst %,$(BUILD)/bin/lintel-%,$(SERVICES))
TOOL_BINS := $(BUILD)/bin/lintel-call

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# Unit tests that need a live PostgreSQL or Redis run from the e2e suite.
UNIT_LIVE := $(BUILD)/tests/test_db $(BUILD)/tests/test_cache
UNIT_PURE := $(filter-out $(UNIT_LIVE),$(UNIT_BINS))

DEPS_OK   := $(BUILD)/.deps-ok
STACK     := compose/local/stack.sh
# The checks of proto/openapi.yaml that run on node (tests/contract/): its
# tools come from the committed package-lock.json, installed by npm ci.
CONTRACT  := tests/contract
NPM_OK    := $(CONTRACT)/node_modules/.npm-ci-ok
NPX       := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
             npx --no-install

# The gateway module's own rules; they define GATEWAY_ALL and `make fuzz`.
-include gateway-module/module.mk

.PHONY: all deps unit asan contract test e2e run up down status logs fmt clean
.DEFAULT_GOAL := all
# Objects and generated code are kept: faster rebuilds, and no clean-up
# lines after the test summary.
.SECONDARY:

all: $(SVC_BINS) $(TOOL_BINS) $(UNIT_BINS) $(GATEWAY_ALL)

deps $(DEPS_OK): compose/local/packages.txt compose/local/deps.sh
	@bash compose/local/deps.sh
	@mkdir -p $(BUILD) && touch $(DEPS_OK)

# Generated code: protoc-c output lives in build/, never in git.
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto | $(DEPS_OK)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LC_LIB): $(LC_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(BUILD)/bin/lintel-%: $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard services/$$*/*.c))) $(LC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -largon2 -ljwt -lcurl

$(BUILD)/bin/lintel-call: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/lintel-call/*.c)) $(LC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Test-only protos (tests/unit/*.proto), generated like the ones in proto/.
$(BUILD)/gen/test/%.pb-c.c $(BUILD)/gen/test/%.pb-c.h: tests/unit/%.proto | $(DEPS_OK)
	@mkdir -p $(BUILD)/gen/test
	protoc-c --c_out=$(BUILD)/gen/test -Itests/unit $<

$(BUILD)/obj/tests/unit/test_pbjson.o: $(BUILD)/gen/test/pbjson_test.pb-c.h
$(BUILD)/tests/test_pbjson: $(BUILD)/obj/gen/test/pbjson_test.pb-c.o
# lc_password calls libargon2, which only the programs that hash link.
$(BUILD)/tests/test_password: LDLIBS += -largon2

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_PURE); do echo "== $$t"; $$t; done

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	    SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" unit

# redocly lint (no errors; the warnings kept are listed in redocly.yaml),
# then the typed client a frontend would generate (README), type-checked.
$(NPM_OK): $(CONTRACT)/package.json $(CONTRACT)/package-lock.json | $(DEPS_OK)
	cd $(CONTRACT) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

contract: $(NPM_OK)
	cd $(CONTRACT) && $(NPX) redocly lint --config redocly.yaml ../../proto/openapi.yaml
	cd $(CONTRACT) && $(NPX) openapi-typescript ../../proto/openapi.yaml -o generated/lintel.d.ts
	cd $(CONTRACT) && $(NPX) tsc -p tsconfig.json

e2e: all
	/usr/bin/python3 -m pytest -q tests/e2e

test: all
	$(MAKE) unit
	$(MAKE) asan
	$(MAKE) gateway-test
	$(MAKE) contract
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

up: all
	@bash $(STACK) up
down:
	@bash $(STACK) down
status:
	@bash $(STACK) status
logs:
	@bash $(STACK) logs
run: all
	@bash $(STACK) run

fmt:
	clang-format -i libcommon/*.[ch] services/*/*.[ch] tools/*/*.[ch] tests/unit/*.c

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
