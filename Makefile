# Thin wrapper over CMake. The two commands a user needs: `make demo` and `make test`.
BUILD      ?= build
BUILD_ASAN ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build demo test test-asan bench soak install clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DRINGMASTER_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	@bash scripts/demo.sh $(BUILD)

# The whole suite: the normal build, then the unit, simulation and MPI tiers again under
# AddressSanitizer and UndefinedBehaviorSanitizer (leak checks on for unit and sim; the MPI
# tier skips them, since ranks that saw a death exit without MPI_Finalize by design).
test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory test-asan

test-asan:
	cmake -S . -B $(BUILD_ASAN) -DRINGMASTER_WERROR=ON -DRINGMASTER_SANITIZE=address,undefined \
	    -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ctest --output-on-failure -j $(JOBS) -L 'unit|sim'
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ctest --output-on-failure -L mpi

bench: deps
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh $(BUILD)

soak: deps
	@$(MAKE) --no-print-directory build
	@bash tests/soak.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
