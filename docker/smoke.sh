#!/usr/bin/env bash
# Smoke test of the raftkv-silo image with docker/compose.yaml: starts the three silos, waits for all three to be
# healthy (the file's healthcheck), writes and reads a key through the CLI from this host, kills the leader's container
# and checks that writes go on, starts it again and checks that it recovers its WAL from its volume and catches up,
# SIGKILLs its process from the host (a crash: the restart policy brings it back), and times a `stop` of the leader
# (the file's stop_grace_period is 15 s; the silo should exit 0 in about a second). Needs root for the crash step
# (the host kills the container's process). Prints each step's
# result and exits non-zero at the first failure. At the end, passed or not, the cluster is removed with its volumes
# (KEEP=1 leaves it running; while it runs, ComposeFileTests cannot make the same 172.28.0.0/24 network and fails).
#
#   docker build --network host -f docker/Dockerfile -t raftkv-silo .   # first
#   docker/smoke.sh
#
# Environment: COMPOSE (default `docker compose`, else `docker-compose`), PROJECT (compose project, default
# raftkv-smoke), ENDPOINTS (the published client ports, default the compose file's 127.0.0.1:7101-7103), RAFTKV_CLI (a
# built raftkv.dll; default: Client/RaftKv.Cli is built into a temporary folder), KEEP=1 (leave the cluster running).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE="docker-compose"; fi
fi
PROJECT=${PROJECT:-raftkv-smoke}
ENDPOINTS=${ENDPOINTS:-http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103}
IFS=, read -r -a endpoint <<<"$ENDPOINTS"
compose() { $COMPOSE -p "$PROJECT" -f docker/compose.yaml "$@"; }
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
cid() { compose ps -q "$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(cid "$1")"; }
show() { docker ps -a --filter "label=com.docker.compose.project=$PROJECT" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'; }
wait_healthy() { # wait_healthy SECONDS SERVICE...
  local limit=$1 start; start=$(now); shift
  while :; do
    local all=1 s
    for s in "$@"; do [ "$(health "$s")" = healthy ] || all=0; done
    [ $all = 1 ] && { echo "healthy after $(since "$start") s: $*"; return 0; }
    awk -v t="$(since "$start")" -v l="$limit" 'BEGIN { exit !(t > l) }' && { show; fail "not healthy within $limit s: $*"; }
    sleep 1
  done
}

cli_dir=""
cleanup() {
  [ -z "$cli_dir" ] || rm -rf "$cli_dir"
  if [ "${KEEP:-0}" != 1 ]; then say "compose down -v"; compose down -v; fi
}
trap cleanup EXIT
if [ -z "${RAFTKV_CLI:-}" ]; then
  cli_dir=$(mktemp -d)
  dotnet build Client/RaftKv.Cli -c Release -o "$cli_dir" --nologo -v q >/dev/null || fail "building the CLI"
  RAFTKV_CLI=$cli_dir/raftkv.dll
fi
raftkv() { dotnet "$RAFTKV_CLI" "$@"; }
node_endpoint() { echo "${endpoint[$(($1 - 1))]}"; }

say "compose up ($COMPOSE, project $PROJECT, image $(docker image inspect -f '{{.Id}}' raftkv-silo | cut -c1-19))"
compose up -d
wait_healthy 180 silo1 silo2 silo3
show

say "put and get through the CLI ($ENDPOINTS)"
raftkv --endpoints "$ENDPOINTS" put smoke/greeting "hello from the image" || fail "put"
for n in 1 2 3; do
  printf 'node %s (%s): ' "$n" "$(node_endpoint $n)"
  raftkv --endpoints "$(node_endpoint $n)" get smoke/greeting || fail "get through node $n"
done
raftkv --endpoints "$ENDPOINTS" status --all

say "kill the leader's container"
status=$(raftkv --endpoints "$ENDPOINTS" status)
echo "$status"
leader=$(sed -n 's/.* leader=\([0-9]*\) .*/\1/p' <<<"$status")
[ -n "$leader" ] && [ "$leader" != 0 ] || fail "no leader in: $status"
victim=silo$leader
docker kill "$(cid "$victim")" >/dev/null
echo "killed $victim: $(docker inspect -f '{{.State.Status}} exit {{.State.ExitCode}}' "$(cid "$victim")")"
others=()
for n in 1 2 3; do [ "$n" = "$leader" ] || others+=("$(node_endpoint $n)"); done
survivors=$(IFS=,; echo "${others[*]}")
start=$(now)
raftkv --endpoints "$survivors" put smoke/after-kill "written while node $leader was down" || fail "put after the kill"
echo "put after the kill acknowledged in $(since "$start") s (includes the new election)"
raftkv --endpoints "$survivors" status
for i in 1 2 3 4 5; do raftkv --endpoints "$survivors" put "smoke/while-down/$i" "$i" >/dev/null || fail "put $i while down"; done
echo "5 more puts while node $leader is down: ok"

say "restart $victim"
sleep 2
echo "after 2 s: $(docker inspect -f '{{.State.Status}} (restart count {{.RestartCount}})' "$(cid "$victim")") (a killed container is not restarted by 'unless-stopped')"
compose start "$victim"
wait_healthy 120 "$victim"
docker logs "$(cid "$victim")" 2>&1 | grep -E "node $leader recovered" | tail -1 || fail "no recovery line in $victim's log"
printf 'node %s reads the write made while it was down: ' "$leader"
raftkv --endpoints "$(node_endpoint "$leader")" get smoke/after-kill || fail "get through node $leader after its restart"
raftkv --endpoints "$ENDPOINTS" status --all

say "crash $victim's process (SIGKILL from the host, not through docker): restart: unless-stopped brings it back"
restarts=$(docker inspect -f '{{.RestartCount}}' "$(cid "$victim")")
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$(cid "$victim")")"
start=$(now)
until [ "$(docker inspect -f '{{.RestartCount}}' "$(cid "$victim")")" != "$restarts" ]; do
  awk -v t="$(since "$start")" 'BEGIN { exit !(t > 30) }' && fail "$victim was not restarted"
  sleep 0.5
done
echo "restarted by docker after $(since "$start") s (restart count $(docker inspect -f '{{.RestartCount}}' "$(cid "$victim")"))"
wait_healthy 120 "$victim"

say "stop the leader's container (stop_grace_period 15 s)"
leader=$(raftkv --endpoints "$ENDPOINTS" status | sed -n 's/.* leader=\([0-9]*\) .*/\1/p')
stopped=silo$leader
start=$(now)
compose stop "$stopped"
echo "$stopped (the leader) stopped in $(since "$start") s: $(docker inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}' "$(cid "$stopped")")"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(cid "$stopped")")" = 0 ] || { docker logs --tail 30 "$(cid "$stopped")"; fail "exit code not 0"; }
docker logs "$(cid "$stopped")" 2>&1 | grep -E "node $leader stopped in" | tail -1
raftkv --endpoints "$ENDPOINTS" status
compose start "$stopped"
wait_healthy 120 silo1 silo2 silo3
show

say "smoke test passed"
