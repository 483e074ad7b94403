# penny - build, test, fuzz.
#
#   make            build/penny, build/libpenny.a, build/libpenny.so
#   make test       all tests, optimised build
#   make test-asan  all tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       libFuzzer targets (clang) in build-fuzz/
#   make run        chat with the built-in model
#   make model      retrain the built-in model (data/model.sh)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) -fPIC -Iinclude -Isrc
LDLIBS  += -lm -lpthread -lpcre2-8 -lutf8proc -lcjson -lcurl -lnettle -lmicrohttpd -ledit

LIB_SRC  := $(shell find src -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard fuzz/*.c)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all bench test test-asan test-clang check fuzz fuzz-run run model clean format
all: $(BUILD)/penny $(BUILD)/libpenny.a $(BUILD)/libpenny.so $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# SIMD_OPT, when set, replaces OPT for the SIMD kernel files (src/kernels/x86,
# arm): the fuzz build compiles them without sanitizers or coverage, which
# cost clang ~10 minutes on gemm_avx512.c, and no fuzz target aims at them
# (the ASan+UBSan test build still instruments them, with gcc).
ifneq ($(SIMD_OPT),)
SIMD_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter src/kernels/x86/% src/kernels/arm/%,$(LIB_SRC)))
$(SIMD_OBJ): override OPT = $(SIMD_OPT)
endif

# The chat page (web/) is embedded in the binary: each file becomes a C array.
WEB_SRC := $(sort $(wildcard web/*))
$(BUILD)/gen/web_assets.h: $(WEB_SRC)
	@mkdir -p $(dir $@)
	(cd web && for f in $(notdir $(WEB_SRC)); do xxd -i $$f | \
	  sed -e '/_len = /d' -e 's/^unsigned/static const unsigned/'; done) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/serve/web.o: $(BUILD)/gen/web_assets.h
$(BUILD)/obj/src/serve/web.o: CFLAGS += -I$(BUILD)/gen

$(BUILD)/libpenny.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libpenny.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/penny: $(CLI_OBJ) $(BUILD)/libpenny.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libpenny.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libpenny.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libpenny.a $(LDFLAGS) $(LDLIBS)

# Data-parallel training over Open MPI (docs/training.md): when mpicc is
# present, `make` also builds build/penny-mpi, the same CLI with the MPI
# all-reduce (src/train/dist.c compiled with PENNY_MPI) linked in ahead of
# libpenny's single-process stand-in. Nothing else needs MPI.
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
all: $(BUILD)/penny-mpi
endif
$(BUILD)/obj/dist_mpi.o: src/train/dist.c
	@mkdir -p $(dir $@)
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) -DPENNY_MPI -MMD -MP -c $< -o $@
$(BUILD)/penny-mpi: $(CLI_OBJ) $(BUILD)/obj/dist_mpi.o $(BUILD)/libpenny.a
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/obj/dist_mpi.o $(BUILD)/libpenny.a $(LDFLAGS) $(LDLIBS)

# Benchmarks (never part of CI): build/bench/matvec, build/bench/bw, ...
bench: $(BENCH_BIN)
$(BUILD)/bench/%: bench/%.c $(BUILD)/libpenny.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libpenny.a $(LDFLAGS) $(LDLIBS)

test: all
	tests/run.sh $(BUILD)

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 $(SAN)" LDFLAGS="$(SAN)" all
	tests/run.sh build-asan

# Fuzz targets link against a libFuzzer-instrumented copy of the library.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz OPT="-O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN)" SIMD_OPT=-O1 \
	  build-fuzz/libpenny.a
	@for f in $(FUZZ_SRC); do echo "fuzz target $$f"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer $(FUZZ_SAN) \
	    -o build-fuzz/$$(basename $$f .c) $$f build-fuzz/libpenny.a $(LDLIBS) || exit 1; \
	done

# Everything CI runs: optimised tests, sanitizer tests, a clang build, and
# each fuzz target for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
check: test test-asan test-clang fuzz-run

test-clang:
	$(MAKE) CC=clang BUILD=build-clang all

fuzz-run: fuzz
	for f in build-fuzz/fuzz_*; do \
	  n=$$(basename $$f); seeds=fuzz/corpus/$${n#fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
	  [ -d $$seeds ] || seeds=; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus-$$n $$seeds \
	    > build-fuzz/$$n.log 2>&1; rc=$$?; tail -4 build-fuzz/$$n.log; \
	  [ $$rc -eq 0 ] || { echo "fuzz target $$n failed"; exit 1; }; \
	done

# `make run` chats with penny's built-in assistant, trained by penny itself
# and shipped in models/ (docs/model-card.md); MODEL=file.gguf picks another.
MODEL ?= models/penny-assistant.gguf
run: $(BUILD)/penny
	$(BUILD)/penny chat -m $(MODEL)

# `make model` rebuilds the built-in assistant from scratch with data/model.sh
# (data -> tokenizer -> pretraining scaling runs -> fine-tuning -> export ->
# F16 -> evaluation) and copies it to models/. Needs
# scripts/install-data-deps.sh; seeded and deterministic (docs/model-card.md).
model: $(BUILD)/penny
	PENNY=$(BUILD)/penny data/model.sh $(BUILD)/model
	@mkdir -p models
	cp $(BUILD)/model/penny-assistant.gguf models/penny-assistant.gguf
	cd models && sha256sum penny-assistant.gguf > penny-assistant.gguf.sha256

format:
	clang-format -i $(LIB_SRC) $(wildcard src/*/*.h) include/*.h $(CLI_SRC) $(TEST_SRC) $(FUZZ_SRC)

clean:
	rm -rf build build-asan build-fuzz build-clang

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
