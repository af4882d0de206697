#!/usr/bin/env bash
# Installs Debian's `prometheus` package, which tests/prometheus_scrape.rs runs against the
# ledger_service example on loopback. Prints `MRUNTIME_REQUIRE_PROMETHEUS=1` on stdout when the
# binary is there (so .ci/run makes its absence a failure), or SKIPPED and why on stderr.
# Measured here: apt-get update + install --no-install-recommends, one package (~19 MB), 17 s.
set -euo pipefail

if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    started=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    echo "installed $(dpkg-query -W -f='${Package} ${Version}' prometheus) in $(( $(date +%s) - started )) s" >&2
  else
    echo "SKIPPED installing prometheus: needs root and apt-get; tests/prometheus_scrape.rs will say it did not run" >&2
    exit 0
  fi
fi
echo "prometheus: $(command -v prometheus)" >&2
echo "MRUNTIME_REQUIRE_PROMETHEUS=1"
