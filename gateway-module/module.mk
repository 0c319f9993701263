# The gateway module's rules, included by the top Makefile before `all:`.
#
#   make                     builds $(GATEWAY_ALL): the nginx module .so, the
#                            test NNG service and the gateway unit tests
#   make gateway-test        unit tests, pytest suite, a short fuzz run
#   make fuzz [FUZZ_SECONDS=10]   every libFuzzer harness of tests/fuzz/
#   make bench               wrk: stock nginx vs the module (tests/bench/)
#
# The module is built against Debian's nginx-dev (/usr/share/nginx/src) with
# --with-compat and Debian's own configure flags, so that the .so loads into
# /usr/sbin/nginx.  configure runs once, in a copy of the sources under
# $(BUILD)/gateway/; later builds only recompile what changed.

GW_DIR       := gateway-module
GW_BUILD     := $(BUILD)/gateway
GW_NGX_SRC   := $(GW_BUILD)/nginx-src
GW_NGX_OBJ   := $(GW_BUILD)/nginx-objs
GW_SO        := $(GW_BUILD)/ngx_http_lintel_module.so
GW_TESTSVC   := $(GW_BUILD)/lintel-test-service
GW_FLOOR     := $(GW_BUILD)/nng-floor
# libcommon's pure units that the module compiles too (no libcommon deps).
GW_COMMON    := libcommon/lc_b64url.c
GW_PURE      := $(GW_DIR)/lintel_host.c $(GW_DIR)/lintel_jwt.c \
                $(GW_DIR)/lintel_envelope.c $(GW_DIR)/lintel_sp.c $(GW_COMMON)
GW_GEN_C     := $(BUILD)/gen/lintel/v1/envelope.pb-c.c \
                $(BUILD)/gen/lintel/v1/events.pb-c.c \
                $(BUILD)/gen/lintel/v1/health.pb-c.c \
                $(BUILD)/gen/lintel/v1/users.pb-c.c
GW_GEN_H     := $(GW_GEN_C:.c=.h)
GW_SRCS      := $(wildcard $(GW_DIR)/*.c $(GW_DIR)/*.h) $(GW_COMMON) \
                $(GW_COMMON:.c=.h)
GW_UNIT      := $(patsubst tests/gateway/%.c,$(GW_BUILD)/tests/%,\
                  $(wildcard tests/gateway/test_*.c))
GW_FUZZ      := $(patsubst tests/fuzz/%.c,$(GW_BUILD)/fuzz/%,\
                  $(wildcard tests/fuzz/fuzz_*.c))
GW_CFLAGS    := -std=c11 -O2 -g -Wall -Wextra -Werror \
                -Wno-missing-field-initializers -D_GNU_SOURCE \
                -I$(GW_DIR) -Ilibcommon -I$(BUILD)/gen
GW_LIBS      := -lnng -lprotobuf-c -lcjson -lcrypto -lpthread
FUZZ_SECONDS ?= 10
FUZZ_CC      ?= clang

# Debian's own cc/ld options (dpkg-buildflags), which --with-compat expects.
GW_NGX_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
GW_NGX_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC

GATEWAY_ALL  := $(GW_SO) $(GW_TESTSVC) $(GW_UNIT)

.PHONY: gateway gateway-unit gateway-test fuzz bench

gateway: $(GATEWAY_ALL)

$(GW_NGX_OBJ)/Makefile: $(GW_DIR)/config $(GW_DIR)/module.mk $(GW_GEN_H) \
                        | $(DEPS_OK)
	rm -rf $(GW_NGX_SRC) $(GW_NGX_OBJ)
	mkdir -p $(GW_BUILD)
	cp -r /usr/share/nginx/src $(GW_NGX_SRC)
	cd $(GW_NGX_SRC) && LINTEL_GEN_DIR=$(abspath $(BUILD)/gen) bash -c \
	    '. ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(GW_NGX_CC_OPT)" --with-ld-opt="$(GW_NGX_LD_OPT)" \
	    --builddir=$(abspath $(GW_NGX_OBJ)) \
	    --add-dynamic-module=$(abspath $(GW_DIR))' \
	    > $(abspath $(GW_BUILD))/configure.log 2>&1 \
	    || { tail -20 $(abspath $(GW_BUILD))/configure.log; exit 1; }

# A plain `make` with a clean MAKEFLAGS: nginx's Makefile must see neither
# our command-line variables (CFLAGS=...) nor `make -n`.
$(GW_SO): $(GW_NGX_OBJ)/Makefile $(GW_SRCS) $(GW_GEN_C)
	MAKEFLAGS= make -s -j2 -C $(GW_NGX_SRC) \
	    -f $(abspath $(GW_NGX_OBJ))/Makefile modules
	@# a new inode: a running nginx keeps its mapping of the old file
	cp $(GW_NGX_OBJ)/ngx_http_lintel_module.so $@.tmp && mv -f $@.tmp $@

$(GW_TESTSVC): tests/gateway/lintel_test_service.c $(GW_GEN_C) $(GW_GEN_H) \
               | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(GW_CFLAGS) -o $@ $< $(GW_GEN_C) $(GW_LIBS)

$(GW_FLOOR): tests/bench/nng_floor.c tests/bench/bench_client.c \
             tests/bench/bench_client.h $(GW_GEN_C) $(GW_GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(GW_CFLAGS) -o $@ $< tests/bench/bench_client.c $(GW_GEN_C) $(GW_LIBS)

$(GW_BUILD)/tests/test_%: tests/gateway/test_%.c $(GW_PURE) $(GW_GEN_C) \
                          $(GW_GEN_H) $(wildcard $(GW_DIR)/lintel_*.h) \
                          $(GW_COMMON:.c=.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(GW_CFLAGS) -o $@ $< $(GW_PURE) $(GW_GEN_C) $(GW_LIBS) -lcmocka

$(GW_BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(GW_PURE) $(GW_GEN_C) \
                         $(GW_GEN_H) $(wildcard $(GW_DIR)/lintel_*.h) \
                         $(GW_COMMON:.c=.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -Wall -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -D_GNU_SOURCE -I$(GW_DIR) -Ilibcommon \
	    -I$(BUILD)/gen -o $@ $< $(GW_PURE) $(GW_GEN_C) $(GW_LIBS)

gateway-unit: $(GW_UNIT)
	@set -e; for t in $(GW_UNIT); do echo "== $$t"; $$t; done

# Each harness starts from its seeds (tests/fuzz/seeds/<name>/, read-only)
# and keeps what it finds under $(BUILD), never in the repository.
fuzz: $(GW_FUZZ)
	@set -e; for f in $(GW_FUZZ); do \
	    n=$$(basename $$f); c=$(GW_BUILD)/fuzz/corpus-$$n; mkdir -p $$c; \
	    echo "== $$n ($(FUZZ_SECONDS) s)"; \
	    if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(GW_BUILD)/fuzz/crash-$$n- \
	        $$c tests/fuzz/seeds/$$n > $(GW_BUILD)/fuzz/$$n.log 2>&1; then \
	        tail -40 $(GW_BUILD)/fuzz/$$n.log; exit 1; \
	    fi; \
	    grep -E 'number_of_executed_units|new_units_added' \
	        $(GW_BUILD)/fuzz/$$n.log; \
	done

gateway-test: $(GATEWAY_ALL)
	$(MAKE) gateway-unit
	LINTEL_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q \
	    -p no:cacheprovider tests/gateway
	$(MAKE) fuzz FUZZ_SECONDS=3

bench: $(GATEWAY_ALL) $(GW_FLOOR) $(SVC_BINS) $(BUILD)/bench/entitlement_bench
	bash tests/bench/run.sh $(abspath $(BUILD))
	bash tests/bench/projects.sh $(abspath $(BUILD))
	bash tests/bench/reporting.sh $(abspath $(BUILD))
	bash tests/bench/entitlement.sh $(abspath $(BUILD))
