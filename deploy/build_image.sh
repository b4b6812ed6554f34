#!/bin/sh
# Build the REST API's image (Containerfile) with podman, or docker where that is what
# the machine has:  deploy/build_image.sh [TAG]   (make image; TAG: mnist-digits:latest)
#
#   MODEL_BACKEND=keras   the TensorFlow variant serving the .h5 (default: litert)
#   BASE_IMAGE=NAME       the base to build on (default: the Containerfile's official
#                         Python slim image; where that cannot be pulled, a Debian base
#                         made here from Debian's own packages with mmdebstrap)
set -eu
cd "$(dirname "$0")/.."
TAG=${1:-mnist-digits:latest}
OFFICIAL_BASE=docker.io/library/python:3.11-slim-bookworm   # the Containerfile's default
LOCAL_BASE=localhost/mnist-digits-base:bookworm
# podman here needs runc and explicit ulimits (deploy/podman/containers.conf says why).
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}"

if [ -n "${ENGINE:-}" ]; then :
elif command -v podman >/dev/null 2>&1; then ENGINE=podman
elif docker info >/dev/null 2>&1; then ENGINE=docker
else echo "error: neither podman nor a running docker found (make container-engine installs podman)" >&2; exit 1
fi

has_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# Debian bookworm with Python 3.11, from the machine's own Debian sources: the same
# Python and Debian release as the official image, for machines that reach Debian's
# packages but no image registry.
build_local_base() {
    command -v mmdebstrap >/dev/null || { echo "error: no base image: install mmdebstrap, or set BASE_IMAGE" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "building the base $LOCAL_BASE with mmdebstrap (about a minute)" >&2
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    grep -v '^#' "$sources" | mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --include=python3,python3-venv,ca-certificates --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$work/rootfs.tar" - >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    "$ENGINE" import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' "$work/rootfs.tar" "$LOCAL_BASE" >/dev/null
}

# The base: as given; else the official image if it is here or can be pulled (bounded:
# a machine without a registry fails fast); else the local Debian base.
if [ -z "${BASE_IMAGE:-}" ]; then
    if has_image "$OFFICIAL_BASE"; then BASE_IMAGE=$OFFICIAL_BASE
    elif has_image "$LOCAL_BASE"; then BASE_IMAGE=$LOCAL_BASE
    elif timeout 60 "$ENGINE" pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then BASE_IMAGE=$OFFICIAL_BASE
    else build_local_base; BASE_IMAGE=$LOCAL_BASE
    fi
fi

set -- --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "MODEL_BACKEND=${MODEL_BACKEND:-litert}" -t "$TAG" -f Containerfile
# pip inside the build trusts what the host trusts (a proxy's CA included); docker
# builds have no such mount, and use their own network settings.
if [ "$ENGINE" = podman ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    set -- "$@" -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
fi
echo "$ENGINE build $TAG on $BASE_IMAGE (MODEL_BACKEND=${MODEL_BACKEND:-litert})" >&2
"$ENGINE" build "$@" .
