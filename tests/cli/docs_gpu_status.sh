#!/usr/bin/env bash
# README and the docs say one thing about `device: cuda`: its tests passed on one GPU (an
# H200), and training on two or more GPUs (NCCL between GPUs) has never run. No page may
# claim the multi-GPU path works, nor still say that the GPU path never ran at all.
source "$(dirname "$0")/lib/common.bash"
cd "$DDPC_SOURCE_DIR" || exit 1
for page in README.md docs/gpu.md docs/config.md; do
  t_check "$page says the CUDA path was tested on one H200" grep -qi "H200" "$page"
  t_check "$page says two or more GPUs have never run" grep -qiE "never run on (two or more|several) GPUs|two or more GPUs[^.]*never run" <(tr '\n' ' ' <"$page" | tr -s ' *')
done
stale=$(grep -rniE "never run on a GPU|nobody knows yet whether it trains|none of it has been observed" README.md docs/*.md || true)
t_check "no page still says the GPU path never ran: $stale" test -z "$stale"
claims=$(grep -rniE "(trains|runs|tested) on (two|2|several|multiple) GPUs|multi-GPU (training )?(works|is tested)" README.md docs/*.md |
  grep -viE "never|not |skipped|where there are two|with two GPUs" || true)
t_check "no page claims that training on several GPUs works: $claims" test -z "$claims"
t_finish
