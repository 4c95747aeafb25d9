#!/usr/bin/env bash
# A damaged data cache is never trusted: one bit flipped in a cached file's samples gives
# one warning line naming the file and the damaged section, the cache is rebuilt, and the
# training ends with bitwise the same parameters as on a clean cache; the next run hits.
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=2 --set train.batch_size=16 --quiet)
crc() { t_json "$1/summary.json" params_crc32; }

t_run train "$cfg" --run-dir "$T_DIR/first" "${common[@]}"
t_check "first run exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "first run writes the cache" test "$(t_json "$T_DIR/first/summary.json" data_cache)" = miss
cache=$(ls "$DDPC_CACHE_DIR"/*.ddpcdata)
t_check "one cache file" test "$(wc -w <<<"$cache")" -eq 1

# Byte 512 lies in the first section, the training file's samples (the header is smaller).
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[512] ^= 4; open(sys.argv[1], "wb").write(b)' "$cache"
t_run train "$cfg" --run-dir "$T_DIR/damaged" "${common[@]}"
t_check "damaged cache: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "damaged cache: one warning line naming the file and the damage ($T_ERR)" test "$T_ERR" = \
  "ddpc: warning: data cache $cache: ignored and rebuilt: its training-file samples are damaged (CRC32 mismatch)"
t_check "damaged cache: rebuilt, not used" test "$(t_json "$T_DIR/damaged/summary.json" data_cache)" = miss
t_check "damaged cache: the same parameters as on the clean cache" test "$(crc "$T_DIR/damaged")" = "$(crc "$T_DIR/first")"

t_run train "$cfg" --run-dir "$T_DIR/again" "${common[@]}"
t_check "rebuilt cache: a silent hit ($T_ERR)" test "$T_RC" -eq 0 -a -z "$T_ERR"
t_check "rebuilt cache: data_cache hit" test "$(t_json "$T_DIR/again/summary.json" data_cache)" = hit
t_check "rebuilt cache: the same parameters" test "$(crc "$T_DIR/again")" = "$(crc "$T_DIR/first")"
t_finish
