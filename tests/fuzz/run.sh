#!/usr/bin/env bash
# run.sh TARGET SECONDS BUILD: build the libFuzzer target TARGET (json,
# session, path) with clang under ASan+UBSan, then fuzz it for SECONDS from
# its seed corpus (tests/fuzz/corpus/TARGET, copied, so the repo is not
# written). Exit non-zero on a crash, leak, UB report or time-out.
set -euo pipefail
target=$1 seconds=$2 build=$3
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mkdir -p "$build"
bin="$build/fuzz_$target"
clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$top" "$here/fuzz_$target.c" -o "$bin" -lpthread
rm -rf "$build/corpus_$target"
cp -r "$here/corpus/$target" "$build/corpus_$target"
rc=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/" \
  "$build/corpus_$target" > "$build/fuzz_$target.log" 2>&1 || rc=$?
grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" "$build/fuzz_$target.log" || true
if [ "$rc" -ne 0 ]; then
  tail -40 "$build/fuzz_$target.log"
  exit "$rc"
fi
