#!/usr/bin/env bash
# Debian 12 packages for scor (run as root).
#
#   bash test/install-deps.sh           everything: build, tests and driver tests (CI, test/ci.sh)
#   bash test/install-deps.sh --build   only what building and running scor needs (make demo)
#
# libcurl fetches network manifests; python3 and openssl make the HTTPS
# server and certificates of test/t/005_manifest.pl.
set -euo pipefail

mode=all
case "${1:-}" in
'') ;;
--build) mode=build ;;
*)
	echo "usage: bash test/install-deps.sh [--build]" >&2
	exit 2
	;;
esac

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
build=(build-essential ca-certificates
	postgresql-15 postgresql-server-dev-15 libpq-dev
	libsodium-dev libgmp-dev libcurl4-openssl-dev)
if [ "$mode" = build ]; then
	apt-get install -y -qq --no-install-recommends "${build[@]}" >/dev/null
	exit 0
fi
apt-get install -y -qq --no-install-recommends "${build[@]}" libipc-run-perl python3 openssl >/dev/null

# The driver tests (test/drivers): psycopg2 and psycopg 3, node-postgres
# (installed from the npm registry by npm ci), and JDBC compiled with javac
drivers=(python3-psycopg2 nodejs default-jdk-headless libpostgresql-jdbc-java)
apt-cache show python3-psycopg >/dev/null 2>&1 && drivers+=(python3-psycopg)
apt-get install -y -qq --no-install-recommends "${drivers[@]}" >/dev/null
# Debian's nodejs comes without npm; a nodejs that bundles npm conflicts with
# Debian's npm package, so install it only when npm is missing
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null
