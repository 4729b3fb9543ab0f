#!/usr/bin/env bash
# Local stand-ins for mcr.microsoft.com/dotnet/{runtime-deps,aspnet,sdk}:10.0, made with debootstrap and this
# machine's .NET install and loaded with `docker import` under the official names, so that docker/Dockerfile builds
# unchanged.
#
# THIS EXISTS ONLY BECAUSE THE MACHINE IT WAS WRITTEN ON CANNOT PULL FROM mcr.microsoft.com. Anywhere the registry is
# reachable, do not run it: `docker build` pulls the real images. If you did run it, `docker rmi` the three tags (or
# build with --pull) to go back to the real ones.
#
# What it emulates, and how it differs:
#   runtime-deps  Debian 12 (bookworm) minbase + the packages the official runtime-deps image installs (ca-certificates,
#                 libc6, libgcc-s1, libicu72, libssl3, libstdc++6, tzdata, zlib1g), the non-root user `app` (uid/gid
#                 1654, home /home/app) and ENV APP_UID, ASPNETCORE_HTTP_PORTS=8080, DOTNET_RUNNING_IN_CONTAINER=true.
#                 The official 10.0 tags are Ubuntu 24.04; only Debian's archive is reachable here, and Debian 12 is
#                 what the official 8.0 images are built on, with the same package set.
#   aspnet        + dotnet host, Microsoft.NETCore.App and Microsoft.AspNetCore.App from $DOTNET_ROOT (runtime only,
#                 no SDK) in /usr/share/dotnet, /usr/bin/dotnet -> it, ENV DOTNET_VERSION and ASPNET_VERSION.
#   sdk           + the whole of $DOTNET_ROOT (SDK, packs, templates) and curl, git, wget, libatomic1, ENV
#                 DOTNET_NOLOGO, DOTNET_GENERATE_ASPNET_CERTIFICATE=false, DOTNET_USE_POLLING_FILE_WATCHER,
#                 NUGET_XMLDOC_MODE=skip, DOTNET_SDK_VERSION. No PowerShell. Runs as root, like the official one.
#                 It also trusts this host's own CAs (/usr/local/share/ca-certificates), which the official one does
#                 not: on the machine this was written on, TLS to NuGet is presented with a local CA's certificates.
# x64 only (whatever this machine's .NET is). Needs root, debootstrap and a Docker engine; takes 5-10 minutes.
#
#   sudo docker/import-base-images.sh            # then: docker build --network host -f docker/Dockerfile -t raftkv-silo .
#
# Environment: DOTNET_ROOT (default /usr/share/dotnet), WORK (a scratch directory, default a new one under /var/tmp,
# removed at the end unless KEEP_WORK=1).
set -euo pipefail

DOTNET_ROOT=${DOTNET_ROOT:-/usr/share/dotnet}
APP_UID=1654
REGISTRY=mcr.microsoft.com/dotnet

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
docker info >/dev/null || { echo "no Docker engine answers" >&2; exit 1; }
runtime_version=$(ls "$DOTNET_ROOT/shared/Microsoft.NETCore.App" | sort -V | tail -1)
aspnet_version=$(ls "$DOTNET_ROOT/shared/Microsoft.AspNetCore.App" | sort -V | tail -1)
sdk_version=$(ls "$DOTNET_ROOT/sdk" | sort -V | tail -1)
case "$runtime_version" in 10.0.*) ;; *) echo "$DOTNET_ROOT has runtime $runtime_version, not 10.0.x" >&2; exit 1;; esac
echo "runtime $runtime_version, ASP.NET Core $aspnet_version, SDK $sdk_version from $DOTNET_ROOT"

WORK=${WORK:-$(mktemp -d /var/tmp/raftkv-base-images.XXXXXX)}
[ "${KEEP_WORK:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"
rootfs=$WORK/rootfs
rm -rf "$rootfs"

# 1. runtime-deps: Debian minbase and the official image's packages, with the same apt sources as this host (main,
#    updates and security, where the host has them) and upgraded, then apt's lists and caches dropped as docker's
#    Debian images do.
debootstrap --variant=minbase --include=ca-certificates,libc6,libgcc-s1,libicu72,libssl3,libstdc++6,tzdata,zlib1g \
  bookworm "$rootfs" >"$WORK/debootstrap.log" || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  rm -f "$rootfs/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
fi
in_root() { chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
clean_apt() { in_root apt-get clean; rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/apt/* "$rootfs"/var/log/dpkg.log; }
in_root apt-get update -qq
in_root apt-get upgrade -y -qq >/dev/null
in_root groupadd --system --gid=$APP_UID app
in_root useradd --no-log-init --system --uid=$APP_UID --gid=app --create-home app
clean_apt
: >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"   # docker mounts its own (and its own /dev: not imported)

path_env='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
deps_changes=(--change "ENV $path_env" --change "ENV APP_UID=$APP_UID" --change "ENV ASPNETCORE_HTTP_PORTS=8080"
  --change "ENV DOTNET_RUNNING_IN_CONTAINER=true" --change 'CMD ["bash"]')
import() { local tag=$1; shift; tar --numeric-owner --exclude='./dev/*' -C "$rootfs" -c . | docker import "$@" - "$tag" >/dev/null; echo "imported $tag ($(du -sh "$rootfs" | cut -f1))"; }
import "$REGISTRY/runtime-deps:10.0" "${deps_changes[@]}"

# 2. aspnet: the runtime only (host, Microsoft.NETCore.App, Microsoft.AspNetCore.App).
mkdir -p "$rootfs/usr/share/dotnet/shared" "$rootfs/usr/share/dotnet/host"
cp -a "$DOTNET_ROOT/dotnet" "$DOTNET_ROOT/LICENSE.txt" "$DOTNET_ROOT/ThirdPartyNotices.txt" "$rootfs/usr/share/dotnet/"
cp -a "$DOTNET_ROOT/host/fxr" "$rootfs/usr/share/dotnet/host/"
mkdir -p "$rootfs/usr/share/dotnet/shared/Microsoft.NETCore.App" "$rootfs/usr/share/dotnet/shared/Microsoft.AspNetCore.App"
cp -a "$DOTNET_ROOT/shared/Microsoft.NETCore.App/$runtime_version" "$rootfs/usr/share/dotnet/shared/Microsoft.NETCore.App/"
cp -a "$DOTNET_ROOT/shared/Microsoft.AspNetCore.App/$aspnet_version" "$rootfs/usr/share/dotnet/shared/Microsoft.AspNetCore.App/"
ln -sf /usr/share/dotnet/dotnet "$rootfs/usr/bin/dotnet"
aspnet_changes=("${deps_changes[@]}" --change "ENV DOTNET_VERSION=$runtime_version" --change "ENV ASPNET_VERSION=$aspnet_version")
import "$REGISTRY/aspnet:10.0" "${aspnet_changes[@]}"

# 3. sdk: the whole .NET install and the official image's extra tools.
rm -rf "$rootfs/usr/share/dotnet"
cp -a "$DOTNET_ROOT" "$rootfs/usr/share/dotnet"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends curl git libatomic1 wget >/dev/null
# Trust what this host trusts beyond Debian's bundle (/usr/local/share/ca-certificates), so that NuGet can restore in
# the build stage when the network in between presents certificates from a local CA. Not what the official image has.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  in_root update-ca-certificates >/dev/null
fi
clean_apt
: >"$rootfs/etc/resolv.conf"
import "$REGISTRY/sdk:10.0" "${aspnet_changes[@]}" --change "ENV DOTNET_GENERATE_ASPNET_CERTIFICATE=false" \
  --change "ENV DOTNET_NOLOGO=true" --change "ENV DOTNET_SDK_VERSION=$sdk_version" \
  --change "ENV DOTNET_USE_POLLING_FILE_WATCHER=true" --change "ENV NUGET_XMLDOC_MODE=skip"

docker run --rm "$REGISTRY/aspnet:10.0" dotnet --list-runtimes
docker run --rm "$REGISTRY/sdk:10.0" dotnet --list-sdks
docker run --rm --user app "$REGISTRY/aspnet:10.0" id
