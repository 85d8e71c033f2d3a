# scor: privacy-preserving federated statistics inside PostgreSQL (PGXS)

EXTENSION = scor
EXTVERSION = 0.1.0

MODULE_big = scor
# The crypto core: no PostgreSQL headers, also linked into unit tests and fuzzers
CORE_OBJS = src/crypto.o src/ristretto.o src/dlog.o src/noise.o
OBJS = \
	src/scor.o \
	src/ciphertext.o \
	src/aggregates.o \
	src/keys.o \
	src/decode.o \
	src/option.o \
	src/connection.o \
	src/protocol.o \
	src/remote.o \
	src/federate.o \
	src/audit.o \
	src/worker.o \
	src/dp.o \
	src/manifest.o \
	src/lockdown.o \
	$(CORE_OBJS)

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = test/unit/*.bin

# site runs first: it creates the key every later test encrypts under
REGRESS = site ciphertext aggregates decode roles fdw federation peer manifest audit
REGRESS_OPTS = --inputdir=test --load-extension=scor

# -Wno-unused-parameter: PostgreSQL 15's own headers (bufpage.h, ilist.h) trip it
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter
PG_CPPFLAGS += -I$(libpq_srcdir)
SHLIB_LINK += -lsodium -lgmp -lm -lcurl
SHLIB_LINK_INTERNAL += $(libpq)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script is the concatenation of one file per concept (named so
# that pg_regress, which looks in ./sql first, never mistakes one for a test)
SQL_PARTS = sql/scor.sql sql/scor-fdw.sql sql/scor-federation.sql sql/scor-manifest.sql \
	sql/scor-roles.sql

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $(SQL_PARTS) > $@

# The demo: three hospitals as three clusters on this machine (demo/demo.sh)
.PHONY: demo demo-stop
demo:
	bash demo/demo.sh start
demo-stop:
	bash demo/demo.sh stop

# Unit tests of the crypto core, without a server
UNIT_CFLAGS = -O2 -g -Wall -Wextra -Werror -std=gnu11 -Isrc
UNIT_TESTS = $(patsubst test/unit/%.c,test/unit/%.bin,$(wildcard test/unit/test_*.c))
CORE_SRCS = $(CORE_OBJS:.o=.c)

test/unit/%.bin: test/unit/%.c $(CORE_SRCS) src/*.h test/unit/unit.h
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) -lsodium -lgmp -lm

.PHONY: unittest
unittest: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do ./$$t; done

# Multi-cluster TAP tests (PostgreSQL::Test::Cluster), against the installed scor
.PHONY: prove_installcheck
prove_installcheck:
	rm -rf $(CURDIR)/tmp_check
	$(MKDIR_P) $(CURDIR)/tmp_check
	TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PGPORT='6$(DEF_PGPORT)' \
		PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' \
		$(PROVE) $(PG_PROVE_FLAGS) -I $(CURDIR)/test/perl $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

# ---- TAP test tools (test/t/003_forgery.pl) ----
# scor_forge rewrites a site's answer in a bundle and re-signs it with the
# site's key: the crypto core and libsodium only, no PostgreSQL headers
test/tools/scor_forge: test/tools/forge.c src/crypto.c src/crypto.h src/ristretto.c
	$(CC) -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc -o $@ test/tools/forge.c src/crypto.c src/ristretto.c -lsodium

# scor_fastpath calls a function through libpq's fast-path interface (PQfn)
test/tools/scor_fastpath: test/tools/fastpath.c
	$(CC) -O2 -Wall -Wextra -Werror -std=gnu11 -I$(includedir) -o $@ test/tools/fastpath.c -L$(libdir) -lpq

prove_installcheck: test/tools/scor_forge test/tools/scor_fastpath
EXTRA_CLEAN += test/tools/scor_forge test/tools/scor_fastpath
# ---- end of TAP test tools ----

# ---- fuzzing and sanitizers (test/fuzz, test/sanitize.sh, docs/fuzzing.md) ----
# make fuzz: the libFuzzer targets, built with clang and ASan+UBSan into
# test/fuzz/bin (packages: clang libclang-rt-14-dev lld).  The PostgreSQL-side
# targets compile the real src/*.c against the server headers and link
# test/fuzz/pgstub.c instead of the backend; lld's --gc-sections drops the
# functions they never reach.  Run them with: bash test/fuzz/run.sh [seconds]
# make sanitize-check (as root, like test/ci.sh): the whole suite against an
# ASan+UBSan build of scor.so, installed into a private relocated copy of
# PostgreSQL whose postgres preloads the runtimes; the system PostgreSQL and
# its installed scor are never touched (test/sanitize.sh).
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O2 -fno-omit-frame-pointer -std=gnu11 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-ffunction-sections -fdata-sections \
	-Wall -Wno-unused-parameter -Wno-ignored-attributes -Wno-unused-function \
	-Isrc -Itest/fuzz -I$(includedir_server) -I$(includedir)
FUZZ_LDFLAGS = -fuse-ld=lld -Wl,--gc-sections
FUZZ_LIBS = -lsodium -lgmp -lm
FUZZ_TARGETS = fuzz_point_decode fuzz_proofs fuzz_dlog_table \
	fuzz_ciphertext fuzz_answer fuzz_bundle fuzz_federate \
	fuzz_manifest fuzz_keyseed
FUZZ_BINS = $(addprefix test/fuzz/bin/,$(FUZZ_TARGETS))
FUZZ_PG = test/fuzz/pgstub.c test/fuzz/pgstub.h
FUZZ_MSG = test/fuzz/fuzz_msg.c test/fuzz/fuzz_msg.h $(FUZZ_PG) src/protocol.c
FUZZ_SRCS_fuzz_point_decode =
FUZZ_SRCS_fuzz_proofs =
FUZZ_SRCS_fuzz_dlog_table =
FUZZ_SRCS_fuzz_ciphertext = $(FUZZ_PG) src/ciphertext.c
FUZZ_SRCS_fuzz_answer = $(FUZZ_MSG)
FUZZ_SRCS_fuzz_bundle = $(FUZZ_MSG)
FUZZ_SRCS_fuzz_federate = $(FUZZ_MSG) src/ciphertext.c src/federate.c
FUZZ_SRCS_fuzz_manifest = $(FUZZ_PG) src/manifest.c src/protocol.c src/ciphertext.c test/fuzz/pgstub_json.c $(FUZZ_JSON_OBJS)
FUZZ_SRCS_fuzz_keyseed = $(FUZZ_PG) src/keys.c
# Files that a target #includes to reach their static functions
FUZZ_INCLUDED = src/federate.c src/manifest.c src/keys.c
# fuzz_manifest runs PostgreSQL's own JSON and jsonb code: these backend
# files, compiled (and instrumented) from the LLVM bitcode that PostgreSQL
# installs for its JIT (package postgresql-15, $(pkglibdir)/bitcode), and
# pg_parse_json from libpgcommon_shlib.a
FUZZ_BITCODE = $(pkglibdir)/bitcode/postgres
FUZZ_JSON_BC = utils/adt/jsonb utils/adt/jsonb_util utils/adt/jsonfuncs utils/adt/numeric nodes/list
FUZZ_JSON_OBJS = $(addprefix test/fuzz/bin/pg/,$(addsuffix .o,$(notdir $(FUZZ_JSON_BC))))
FUZZ_PGCOMMON = $(pkglibdir)/libpgcommon_shlib.a $(pkglibdir)/libpgport_shlib.a

.PHONY: fuzz sanitize-check
fuzz: $(FUZZ_BINS)

.SECONDEXPANSION:
test/fuzz/bin/%: test/fuzz/%.c test/fuzz/fuzz_common.h $(CORE_SRCS) src/*.h $$(FUZZ_SRCS_$$*) Makefile
	@mkdir -p test/fuzz/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $< \
		$(filter %.c %.o,$(filter-out $(FUZZ_INCLUDED),$(FUZZ_SRCS_$*))) $(CORE_SRCS) \
		$(if $(filter fuzz_manifest,$*),$(FUZZ_PGCOMMON)) $(FUZZ_LIBS)

# A backend file from its bitcode, with the fuzzers' instrumentation
test/fuzz/bin/pg/%.o: Makefile
	@mkdir -p test/fuzz/bin/pg
	$(FUZZ_CC) -g -O2 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
		-ffunction-sections -fdata-sections -Wno-override-module -c \
		$(FUZZ_BITCODE)/$(filter %/$*,$(FUZZ_JSON_BC)).bc -o $@

sanitize-check:
	bash test/sanitize.sh

EXTRA_CLEAN += test/fuzz/bin
# ---- end of fuzzing and sanitizers ----
