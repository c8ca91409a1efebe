#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds user programs against it: a small one
# with CMake's find_package(ringmaster) and with pkg-config, and examples/wordcount.c (a
# map-reduce job of the C API), which then runs under mpirun on a small text.
# Usage: test_install.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
mkdir "$work/app"
cat > "$work/app/main.c" <<'C'
#include <ringmaster.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    printf("ringmaster %s\n", rm_version());
    return strcmp(rm_strerror(RM_EDEAD), "peer is dead") != 0;
}
C
cat > "$work/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(ringmaster REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE ringmaster::ringmaster)
CM
cmake -S "$work/app" -B "$work/app/b" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/cm.log"
cmake --build "$work/app/b" > "$work/cm.log"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app/b/app"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc "$work/app/main.c" $(pkg-config --cflags --libs ringmaster) -o "$work/app/pc"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app/pc"
"$work/prefix/bin/ringmaster" --version

# The wordcount example, built against the installed package, counts a text under mpirun.
src=$(cd "$(dirname "$0")/../.." && pwd)
cc "$src/examples/wordcount.c" $(pkg-config --cflags --libs ringmaster) -o "$work/app/wc"
printf 'the cat and The dog\nand the end\n' > "$work/in.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
LD_LIBRARY_PATH="$work/prefix/lib" timeout 120 mpirun --oversubscribe --enable-recovery -np 2 \
    "$work/app/wc" --input "$work/in.txt" --output "$work/out.tsv" --quiet > "$work/wc.log" 2>&1
want=$(printf 'and\t2\ncat\t1\ndog\t1\nend\t1\nthe\t3\n')
if [ "$(cat "$work/out.tsv" 2>/dev/null)" != "$want" ]; then
    echo "FAIL: the installed wordcount example gave:"; cat "$work/out.tsv" "$work/wc.log"
    echo "test_install: 0 passed, 1 failed"
    exit 1
fi
echo "test_install: 1 passed, 0 failed"
