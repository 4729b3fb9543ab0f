#!/usr/bin/env bash
# Copies up to <max> (default 40) of AFL++'s coverage-increasing queue entries of <target>, each at most 4 KiB, into
# corpus/<target>/queue-<id>, so that the default test run replays more than the seeds:
#   Tests/RaftKv.Fuzz/keep-queue.sh <target> [max]
set -euo pipefail
target=$1
max=${2:-40}
here=$(cd "$(dirname "$0")" && pwd)
queue="${FUZZ_WORK:-/tmp/raftkv-fuzz}/findings/$target/default/queue"
# Spread the picks over the whole run: the later entries are the deeper ones.
mapfile -t files < <(find "$queue" -maxdepth 1 -name 'id:*+cov*' -size -4097c | sort)
step=$(( (${#files[@]} + max - 1) / max ))
count=0
for ((i = 0; i < ${#files[@]}; i += step > 0 ? step : 1)); do
  id=$(basename "${files[$i]}" | sed -E 's/^id:([0-9]+).*/\1/')
  cp "${files[$i]}" "$here/corpus/$target/queue-$id"
  count=$((count + 1))
done
echo "kept $count queue entries of $target"
