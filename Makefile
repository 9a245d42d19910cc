# ilr — Interactive Learning for LLM Reasoning, in C.  See README.md.
#
#   make              build build/release/ilr (the CLI) and build/release/libilr.a; ./ilr links to the CLI built last
#   make test         build and run the test suite (cmocka); T=name runs the groups whose name contains it
#   make test SAN=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer (build/san/)
#   make bench        build and run the benchmarks in bench/
#   make fuzz         build the libFuzzer targets in fuzz/ with clang and run each FUZZ_SECONDS (60)
#   make demo         the paper, small: ILR vs compute-matched GRPO on the synthetic world, and its report
#   make agents       train the synthetic world's two base agents into build/agents/ (25-35 min on 2 cores)
#   make CUDA=1       the same with the CUDA backend (src/kernels/cuda/, nvcc + cuBLAS; build/cuda/)
#   make MPI=1        the same with MPI (Open MPI, found by pkg-config ompi-c; build/mpi/): mpirun -np N ./ilr train ...

CC ?= gcc
SAN ?= 0
CUDA ?= 0
MPI ?= 0
FUZZ_SECONDS ?= 60
T ?=

# The CUDA backend: nvcc for src/kernels/cuda/*.cu (Hopper sm_90 code plus PTX for the driver to compile
# elsewhere), cuBLAS for the matmuls.  CUDA_HOME: where the toolkit is; CUDA_ARCH: the GPU's code target.
CUDA_HOME ?= /usr/local/cuda
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=compute_90
NVCC ?= $(CUDA_HOME)/bin/nvcc
ifeq ($(CUDA),1)
ifeq ($(SAN),1)
$(error CUDA=1 with SAN=1 is not supported: AddressSanitizer and the CUDA driver do not mix; test the kernels with compute-sanitizer)
endif
ifeq ($(wildcard $(NVCC)),)
$(error CUDA=1 needs nvcc, not found at $(NVCC) (set CUDA_HOME to the CUDA toolkit))
endif
endif
ifeq ($(MPI),1)
ifneq ($(CUDA),0)
$(error MPI=1 with CUDA=1 is not supported yet: data-parallel training sums CPU gradients; build one or the other)
endif
endif

# OpenBLAS built for OpenMP: it shares ilr's OpenMP threads.  The pthread build keeps its own thread pool,
# which fights ilr's OpenMP kernels for the cores (measured: half the training throughput on 2 cores).
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
OPENBLAS_DIR := /usr/lib/$(MULTIARCH)/openblas-openmp
# (make 4.3 does not pass exported variables to $(shell), so the search path goes on each command line)
PKG_CONFIG := PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config

# Dependencies, each with the Debian package that provides it (scripts/deps.sh installs them all).
NO_DEPS_GOALS := clean help
ifneq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifeq ($(shell command -v pkg-config),)
$(error pkg-config is missing: apt-get install pkg-config (or run scripts/deps.sh))
endif
DEP_PAIRS := jansson:libjansson-dev cmocka:libcmocka-dev openblas:libopenblas-openmp-dev \
             libpcre2-8:libpcre2-dev libutf8proc:libutf8proc-dev yaml-0.1:libyaml-dev \
             libmicrohttpd:libmicrohttpd-dev
ifeq ($(MPI),1)
DEP_PAIRS += ompi-c:libopenmpi-dev
endif
MISSING := $(strip $(foreach d,$(DEP_PAIRS),$(if $(shell $(PKG_CONFIG) --exists $(word 1,$(subst :, ,$(d))) && echo ok),,$(d))))
ifneq ($(MISSING),)
$(error missing dependencies: $(foreach d,$(MISSING),$(word 1,$(subst :, ,$(d))) (apt-get install $(word 2,$(subst :, ,$(d))))) — or run scripts/deps.sh)
endif
endif

MARCH := $(shell $(CC) -march=native -E -x c /dev/null >/dev/null 2>&1 && echo -march=native)
ifeq ($(SAN),1)
BUILD := build/san$(if $(filter 1,$(MPI)),-mpi)
OPT := -O1 -g $(MARCH) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(CUDA),1)
BUILD := build/cuda
OPT := -O3 $(MARCH) -g
else ifeq ($(MPI),1)
BUILD := build/mpi
OPT := -O3 $(MARCH) -g
else
BUILD := build/release
OPT := -O3 $(MARCH) -g
endif

PKGS := jansson openblas libpcre2-8 libutf8proc yaml-0.1 libmicrohttpd
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
              -fopenmp $(OPT) -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS)
LDLIBS_ALL := $(shell $(PKG_CONFIG) --libs $(PKGS)) -Wl,-rpath,$(OPENBLAS_DIR) -fopenmp -lm $(LDLIBS)
TEST_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)
# MPI: src/base/dist.c only (include/ilr/dist.h); every other file is the same in both builds
ifeq ($(MPI),1)
CFLAGS_ALL += -DILR_MPI $(shell $(PKG_CONFIG) --cflags ompi-c)
LDLIBS_ALL += $(shell $(PKG_CONFIG) --libs ompi-c)
endif
ifeq ($(CUDA),1)
CFLAGS_ALL += -DILR_CUDA -I$(CUDA_HOME)/include
LDLIBS_ALL += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
NVCC_FLAGS := -std=c++17 -O3 $(CUDA_ARCH) -Iinclude -Xcompiler -Wall,-Wextra,-Wno-unused-parameter -Werror all-warnings
endif

LIB_SRC := $(wildcard src/base/*.c src/model/*.c src/kernels/cpu/*.c src/tokenizer/*.c src/generate/*.c src/reward/*.c \
                     src/data/*.c src/rl/*.c src/ilr/*.c src/eval/*.c src/serve/*.c)
CUDA_C_SRC := src/model/transformer_cuda.c src/generate/engine_cuda.c
CU_SRC := $(wildcard src/kernels/cuda/*.cu)
ifeq ($(CUDA),1)
LIB_CU_OBJ := $(CU_SRC:%.cu=$(BUILD)/%.o)
else
LIB_SRC := $(filter-out $(CUDA_C_SRC),$(LIB_SRC))
LIB_CU_OBJ :=
endif
CLI_SRC := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)
FUZZ_SRC := $(wildcard fuzz/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test bench fuzz demo agents clean help
.SECONDARY:
all: $(BUILD)/ilr $(BUILD)/libilr.a
ifeq ($(SAN),0)
	@ln -sf $(BUILD)/ilr ilr
endif

help:
	@sed -n '3,11p' Makefile | sed 's/^# //'

# SwiGLU's and the LM head's exp loops vectorise only when comparisons may be evaluated speculatively (GCC keeps selects on floats
# out of vector code under the default -ftrapping-math); ilr never reads the floating-point exception flags,
# and the values are the same.
$(BUILD)/src/kernels/cpu/swiglu.o $(BUILD)/src/kernels/cpu/lm_head.o: CFLAGS_ALL += -fno-trapping-math

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu $(wildcard src/kernels/cuda/*.cuh) include/ilr/cuda.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(BUILD)/libilr.a: $(LIB_OBJ) $(LIB_CU_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ilr: $(BUILD)/src/cli/main.o $(CLI_OBJ) $(BUILD)/libilr.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/run_tests: $(TEST_OBJ) $(CLI_OBJ) $(BUILD)/libilr.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDLIBS_ALL)

# tests/serve_openai.py: `ilr serve` driven by the official openai client, where its venv exists
# (bash tests/fixtures/openai_venv.sh makes it); with T=name only when "serve_openai" contains name
OPENAI_PY := build/openai-venv/bin/python
test: $(BUILD)/run_tests $(BUILD)/ilr
	ILR_BIN=$(BUILD)/ilr $(BUILD)/run_tests $(T)
ifneq ($(if $(T),$(findstring $(T),serve_openai),all),)
	@if [ -x $(OPENAI_PY) ]; then $(OPENAI_PY) tests/serve_openai.py $(BUILD)/ilr; \
	 else echo "serve_openai: skipped: no $(OPENAI_PY) (bash tests/fixtures/openai_venv.sh makes it)"; fi
endif

$(BUILD)/bench/%: bench/%.c $(BUILD)/libilr.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# make demo builds with every core, takes the shipped base agents (data/agents/, hash-checked; make agents
# trains them instead) and runs the paper, small (README, "What make demo does")
NPROC := $(shell nproc 2>/dev/null || echo 2)
demo:
	$(MAKE) -j$(NPROC) all
	ILR=$(BUILD)/ilr SHIPPED=1 scripts/agents.sh
	$(BUILD)/ilr demo

agents: all
	ILR=$(BUILD)/ilr scripts/agents.sh

# Fuzzing: the library is rebuilt with clang, libFuzzer and ASan+UBSan in build/fuzz/.
FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS))
FUZZ_LIB_OBJ := $(filter-out $(CUDA_C_SRC:%.c=build/fuzz/%.o),$(LIB_SRC:%.c=build/fuzz/%.o))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fopenmp=libgomp -MMD -MP -c $< -o $@

build/fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	@command -v $(FUZZ_CC) >/dev/null || { echo "clang is missing: apt-get install clang libclang-rt-14-dev"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(shell $(PKG_CONFIG) --libs $(PKGS)) -Wl,-rpath,$(OPENBLAS_DIR) -lgomp -lm

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n build/fuzz/crashes/$$n; \
	  echo "== fuzzing $$n for $(FUZZ_SECONDS) s (seeds: fuzz/corpus/$$n)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/crashes/$$n/ -print_final_stats=1 \
	      build/fuzz/corpus/$$n fuzz/corpus/$$n 2>build/fuzz/$$n.log || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' build/fuzz/$$n.log; done; echo "fuzz: no crashes"

clean:
	rm -rf build ilr

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
