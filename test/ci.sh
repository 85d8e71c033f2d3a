#!/usr/bin/env bash
# Everything from a fresh Debian 12 machine to a tested scor, as root:
# install the packages, build and install scor, then, as the unprivileged
# postgres user, run the crypto core's unit tests, the pg_regress suite on a
# throw-away cluster and the multi-cluster TAP tests.  Exits non-zero on any
# failure.  Usage: bash test/ci.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "test/ci.sh installs packages and runs the tests as the postgres user: run it as root" >&2
	exit 2
fi

echo "== installing packages"
bash "$repo/test/install-deps.sh"

echo "== building and installing scor"
make -C "$repo" -s clean
make -C "$repo" -s
make -C "$repo" -s install

# A copy of the tree that the unprivileged user owns: pg_regress and the TAP
# tests write their results beside the sources.
work=$(mktemp -d /tmp/scor-ci.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$repo" "$work/scor"
chown -R postgres: "$work"
chmod 755 "$work"

echo "== running the tests as postgres"
# CI=true: a driver check that cannot run here fails instead of being skipped
runuser -u postgres -- env CI=true bash "$work/scor/test/run-tests.sh" "$work/scor"
