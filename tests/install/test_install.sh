#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds a user program against it twice:
# with CMake's find_package(ringmaster) and with pkg-config. Usage: test_install.sh BUILD_DIR
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
echo "test_install: 1 passed, 0 failed"
