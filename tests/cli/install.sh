#!/usr/bin/env bash
# `cmake --install` puts the command, library, header and pkg-config file in place, and a
# program built against the installed copy through pkg-config trains the CSV example. The
# version is the same everywhere: ddpc.pc, `ddpc --version`, the library's ddpc_version()
# and the header's DDPC_VERSION_* macros (its one source).
source "$(dirname "$0")/lib/common.bash"
: "${DDPC_BUILD_DIR:?}"

prefix="$T_DIR/prefix"
t_check "cmake --install succeeds" cmake --install "$DDPC_BUILD_DIR" --prefix "$prefix"
t_check "binary installed" test -x "$prefix/bin/ddpc"
t_check "header installed" test -f "$prefix/include/ddpc/ddpc.h"
pc_dir=$(dirname "$(find "$prefix" -name ddpc.pc | head -n 1)")
t_check "pkg-config file installed" test -f "$pc_dir/ddpc.pc"
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs --static ddpc)
t_check "pkg-config names the library" grep -q -- "-lddpc" <<<"$flags"
extra=()
grep -q "DDPC_SANITIZE:BOOL=ON" "$DDPC_BUILD_DIR/CMakeCache.txt" && extra=(-fsanitize=address,undefined)
# shellcheck disable=SC2086
t_check "example compiles against the installed ddpc" \
  cc -std=c11 "${extra[@]}" "$DDPC_SOURCE_DIR/examples/train_from_c.c" $flags -o "$T_DIR/train_from_c"
out=$("$T_DIR/train_from_c" "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" "train.epochs=3" "output.dir=$T_DIR/run")
t_check "installed example trains (output: $out)" grep -q "3 epochs, test accuracy 0\.[5-9]" <<<"$out"
version=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --modversion ddpc)
header_version=$(awk '/^#define DDPC_VERSION_(MAJOR|MINOR|PATCH) / {v = v (v == "" ? "" : ".") $3} END {print v}' \
  "$prefix/include/ddpc/ddpc.h")
t_check "ddpc.pc's version ($version) is the header's ($header_version)" test "$version" = "$header_version"
t_check "the library's ddpc_version() is it too (output: $out)" grep -q "^ddpc $version: " <<<"$out"
t_check "installed ddpc --version says ddpc $version" test "$("$prefix/bin/ddpc" --version)" = "ddpc $version"
t_finish
