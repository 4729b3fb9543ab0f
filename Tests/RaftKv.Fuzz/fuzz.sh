#!/usr/bin/env bash
# Runs one fuzz target under AFL++ for a set time:  Tests/RaftKv.Fuzz/fuzz.sh <target> <seconds>
# Builds the harness, instruments the product assemblies with SharpFuzz (repo-local dotnet tool), seeds AFL++ from
# corpus/<target>/, and prints AFL++'s totals at the end. Findings go to $FUZZ_WORK/findings/<target>/ (default
# /tmp/raftkv-fuzz); crashes and hangs there are inputs to replay with `RaftKv.Fuzz replay <target> <file>`.
# Needs AFL++ (Debian: apt-get install afl++). Runs at nice 10 with one AFL++ instance.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 <target> <seconds>   (targets: dotnet run --project Tests/RaftKv.Fuzz -- list)" >&2
  exit 2
fi
target=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${FUZZ_WORK:-/tmp/raftkv-fuzz}
out="$work/bin"
findings="$work/findings/$target"
corpus="$here/corpus/$target"
[[ -d "$corpus" ]] || { echo "no corpus at $corpus" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 2; }

cd "$root"
dotnet tool restore >/dev/null
dotnet publish "$here/RaftKv.Fuzz.csproj" -c Release -o "$out" -p:UseAppHost=false >/dev/null
# The product assemblies whose branches AFL++ should see; the harness itself and the framework stay uninstrumented.
# publish rewrites only what changed, so instrument whatever is not instrumented yet (sharpfuzz refuses twice).
for assembly in RaftKv.Raft RaftKv.Storage RaftKv.Mesh RaftKv.StateMachine RaftKv.Client RaftKv.ClientGateway Google.Protobuf; do
  dll="$out/$assembly.dll"
  stamp="$out/.$assembly.instrumented"
  if [[ ! -f "$stamp" || "$dll" -nt "$stamp" ]]; then
    dotnet sharpfuzz "$dll" >/dev/null
    touch "$stamp"
  fi
done

mkdir -p "$findings"
rm -rf "$findings/default"
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
status=0
nice -n 10 afl-fuzz -i "$corpus" -o "$findings" -t 5000 -m none -V "$seconds" -- dotnet "$out/RaftKv.Fuzz.dll" "$target" \
  > "$findings/afl.log" 2>&1 || status=$?
stats="$findings/default/fuzzer_stats"
if [[ ! -f "$stats" ]]; then
  tail -30 "$findings/afl.log" >&2
  exit "${status/#0/1}"
fi
echo "target=$target seconds=$seconds"
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|corpus_found|bitmap_cvg|saved_crashes|saved_hangs|stability) ' "$stats"
shopt -s nullglob
for file in "$findings"/default/crashes/id:* "$findings"/default/hangs/id:*; do
  echo "finding: $file"
done
