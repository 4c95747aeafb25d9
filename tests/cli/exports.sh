#!/usr/bin/env bash
# libddpc exports its API and nothing else: every function core/include/ddpc/ddpc.h
# declares is marked DDPC_API, and the only defined symbols of default visibility in
# libddpc.a are exactly those functions (the library is compiled with -fvisibility=hidden,
# so a shared object that links it does not re-export ddpc's internals). A known internal
# function is defined there, hidden, so the check cannot pass on an archive it failed to read.
source "$(dirname "$0")/lib/common.bash"
: "${DDPC_BUILD_DIR:?}"
command -v readelf >/dev/null || { echo "SKIPPED: no readelf (binutils)"; exit 77; }

header="$DDPC_SOURCE_DIR/core/include/ddpc/ddpc.h"
archive="$DDPC_BUILD_DIR/lib/libddpc.a"
t_check "libddpc.a built ($archive)" test -f "$archive"

# The header's function declarations, as "NAME API|NOAPI" lines: comments, preprocessor
# lines and the C++ guard removed, then every top-level statement that declares ddpc_*(...).
python3 - "$header" >"$T_DIR/declared" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
src = re.sub(r"//[^\n]*", " ", src)
src = re.sub(r"#ifdef __cplusplus.*?#endif", " ", src, flags=re.S)
src = re.sub(r"^[ \t]*#[^\n]*", " ", src, flags=re.M)
while re.search(r"\{[^{}]*\}", src):
    src = re.sub(r"\{[^{}]*\}", " ", src)  # struct bodies: their function pointers are not declarations
for stmt in src.split(";"):
    m = re.search(r"\b(ddpc_\w+)\s*\(", stmt)
    if m:
        print(m.group(1), "API" if stmt.split()[0] == "DDPC_API" else "NOAPI")
EOF
awk '{print $1}' "$T_DIR/declared" | sort -u >"$T_DIR/api"
t_check "the header declares functions ($(tr '\n' ' ' <"$T_DIR/api"))" test -s "$T_DIR/api"
for f in ddpc_train_run ddpc_last_error ddpc_version; do
  t_check "the header parse finds $f" grep -qx "$f" "$T_DIR/api"
done
unmarked=$(awk '$2 == "NOAPI" {print $1}' "$T_DIR/declared" | tr '\n' ' ')
t_check "every function in ddpc.h is marked DDPC_API (unmarked: $unmarked)" test -z "$unmarked"

# readelf -sW: Num Value Size Type Bind Vis Ndx Name. Defined (Ndx not UND) global or weak
# symbols, with their visibility.
readelf -sW "$archive" | awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && NF >= 8 {print $6, $8}' \
  >"$T_DIR/defined"
awk '$1 == "DEFAULT" {print $2}' "$T_DIR/defined" | sort -u >"$T_DIR/exported"
extra=$(comm -13 "$T_DIR/api" "$T_DIR/exported" | tr '\n' ' ')
missing=$(comm -23 "$T_DIR/api" "$T_DIR/exported" | tr '\n' ' ')
t_check "no symbol exported beyond ddpc.h's API (extra: $extra)" test -z "$extra"
t_check "every API function is defined and exported (missing: $missing)" test -z "$missing"
t_check "internal functions are there, hidden (ddpc_error_set)" grep -qx "HIDDEN ddpc_error_set" "$T_DIR/defined"
t_finish
