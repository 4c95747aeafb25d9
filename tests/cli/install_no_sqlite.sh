#!/usr/bin/env bash
# A program that embeds training links libddpc alone, and libddpc does not need SQLite
# (the tuner's store is in the ddpc program only): after `cmake --install`, ddpc.pc names
# no sqlite3, the archive references no sqlite3_* symbol, and examples/train_from_c.c
# builds through `pkg-config --static ddpc` and trains in a mount namespace where every
# SQLite file (header, libraries, sqlite3.pc) is hidden under an empty file. Needs root
# (or CAP_SYS_ADMIN) for `unshare --mount`; skips (77) where that is not allowed.
source "$(dirname "$0")/lib/common.bash"
: "${DDPC_BUILD_DIR:?}"

if ! unshare --mount true 2>/dev/null; then
  echo "SKIPPED: unshare --mount is not allowed here (needs root or CAP_SYS_ADMIN)"
  exit 77
fi
# SQLite's files as its Debian packages list them (the header, libsqlite3.so*, .a, .pc).
sqlite_files=()
if command -v dpkg >/dev/null; then
  while IFS= read -r f; do
    [ -f "$f" ] && sqlite_files+=("$(realpath "$f")")
  done < <(dpkg -L libsqlite3-dev libsqlite3-0 2>/dev/null | grep -E '(sqlite3[a-z]*\.h|libsqlite3\.(so[.0-9]*|a)|sqlite3\.pc)$')
fi
mapfile -t sqlite_files < <(printf '%s\n' "${sqlite_files[@]}" | sort -u | grep .)
if [ ${#sqlite_files[@]} -eq 0 ]; then
  echo "SKIPPED: no SQLite files found through dpkg (libsqlite3-dev) to hide"
  exit 77
fi

prefix="$T_DIR/prefix"
t_check "cmake --install succeeds" cmake --install "$DDPC_BUILD_DIR" --prefix "$prefix"
pc_dir=$(dirname "$(find "$prefix" -name ddpc.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc_dir"
requires=$(pkg-config --print-requires ddpc; pkg-config --print-requires-private ddpc)
t_check "ddpc.pc requires no sqlite3 (requires: $(tr '\n' ' ' <<<"$requires"))" \
  bash -c '! grep -qi sqlite <<<"$1"' _ "$requires"
flags=$(pkg-config --cflags --libs --static ddpc)
t_check "pkg-config --static ddpc links no sqlite3 ($flags)" bash -c '! grep -qi sqlite <<<"$1"' _ "$flags"
archive=$(find "$prefix" -name libddpc.a | head -n 1)
t_check "libddpc.a installed" test -f "$archive"
refs=$(nm "$archive" 2>/dev/null | grep -i ' sqlite3_' | sort -u | head -n 5 | tr '\n' ' ')
t_check "libddpc.a references no sqlite3_* symbol ($refs)" test -z "$refs"

extra=()
grep -q "DDPC_SANITIZE:BOOL=ON" "$DDPC_BUILD_DIR/CMakeCache.txt" && extra=(-fsanitize=address,undefined)
# Inside the namespace: hide SQLite, prove it is hidden (a program that uses it no longer
# builds), then build and run the example. Each step leaves its exit code in a file.
cat >"$T_DIR/uses_sqlite.c" <<'EOF'
#include <sqlite3.h>
int main(void) { return sqlite3_libversion_number() > 0 ? 0 : 1; }
EOF
cat >"$T_DIR/inside.sh" <<'EOF'
set -u
empty=$T_DIR/empty
: >"$empty"
for f in "${SQLITE_FILES[@]}"; do mount --bind "$empty" "$f" || exit 90; done
cc -std=c11 "$T_DIR/uses_sqlite.c" -lsqlite3 -o "$T_DIR/uses_sqlite" >"$T_DIR/control.log" 2>&1
echo $? >"$T_DIR/control.rc"
pkg-config --exists sqlite3 2>/dev/null
echo $? >"$T_DIR/control_pc.rc"
# shellcheck disable=SC2086
cc -std=c11 "${EXTRA[@]}" "$DDPC_SOURCE_DIR/examples/train_from_c.c" $FLAGS -o "$T_DIR/train_from_c" \
  >"$T_DIR/build.log" 2>&1
echo $? >"$T_DIR/build.rc"
"$T_DIR/train_from_c" "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" "train.epochs=3" "output.dir=$T_DIR/run" \
  >"$T_DIR/run.out" 2>"$T_DIR/run.err"
echo $? >"$T_DIR/run.rc"
EOF
# Arrays do not cross exec: the file list goes through the environment as lines.
T_DIR="$T_DIR" FLAGS="$flags" SQLITE_LIST=$(printf '%s\n' "${sqlite_files[@]}") EXTRA_LIST="${extra[*]}" \
  unshare --mount bash -c 'mapfile -t SQLITE_FILES <<<"$SQLITE_LIST"; read -ra EXTRA <<<"$EXTRA_LIST"; source "$T_DIR/inside.sh"'
rc=$?
t_check "SQLite hidden in the namespace (${sqlite_files[*]}; rc $rc)" test "$rc" -eq 0
t_check "there, a program that uses SQLite does not build" test "$(cat "$T_DIR/control.rc" 2>/dev/null)" != 0
t_check "there, pkg-config finds no usable sqlite3" test "$(cat "$T_DIR/control_pc.rc" 2>/dev/null)" != 0
t_check "train_from_c builds without SQLite: $(cat "$T_DIR/build.log" 2>/dev/null)" \
  test "$(cat "$T_DIR/build.rc" 2>/dev/null)" = 0
out=$(cat "$T_DIR/run.out" 2>/dev/null)
t_check "and trains without SQLite (rc $(cat "$T_DIR/run.rc" 2>/dev/null), output: $out $(cat "$T_DIR/run.err" 2>/dev/null))" \
  grep -q "3 epochs, test accuracy 0\.[5-9]" <<<"$out"
if [ -f "$T_DIR/train_from_c" ]; then
  syms=$(nm "$T_DIR/train_from_c" 2>/dev/null | grep -i sqlite | head -n 5 | tr '\n' ' ')
  t_check "the program has no sqlite symbol ($syms)" test -z "$syms"
  needed=$(readelf -d "$T_DIR/train_from_c" | grep NEEDED | tr -s ' ' | tr '\n' ' ')
  t_check "the program needs no SQLite library ($needed)" bash -c '! grep -qi sqlite <<<"$1"' _ "$needed"
fi
t_finish
