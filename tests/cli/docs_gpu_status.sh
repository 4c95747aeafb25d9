#!/usr/bin/env bash
# README and the docs say one thing about `device: cuda`: wired and compiled, never run on a
# GPU. No page may state that it trains or runs on a GPU as a fact (README once did both).
source "$(dirname "$0")/lib/common.bash"
cd "$DDPC_SOURCE_DIR" || exit 1
for page in README.md docs/gpu.md docs/config.md; do
  t_check "$page says the CUDA path has never run" grep -qi "never run" "$page"
done
claims=$(grep -rniE "cuda\`? (runs|trains)|(runs|trains) (every step )?on (the|a) GPU\b" README.md docs/*.md | grep -viE "written to|would|if " || true)
t_check "no page claims that the CUDA path runs: $claims" test -z "$claims"
t_finish
