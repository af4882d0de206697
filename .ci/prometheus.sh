#!/usr/bin/env bash
# A real Prometheus server scrapes the ledger_service example on loopback and the test reads
# panic_recovered_total back through Prometheus's HTTP API (tests/prometheus_scrape.rs, which a
# plain `cargo test` lists as ignored because it needs the binary).
#
# Installs Debian's `prometheus` package when the binary is missing (measured here: 17 s for
# `apt-get update` + the install with --no-install-recommends, one package, ~19 MB download);
# the test itself takes about 8 s. When the binary is missing and cannot be installed here (not root, no apt-get),
# this says SKIPPED and why, and exits 0; an install that fails, or a test that fails, fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    started=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    echo "installed $(dpkg-query -W -f='${Package} ${Version}' prometheus) in $(( $(date +%s) - started )) s"
  else
    echo "SKIPPED the Prometheus scrape test: no prometheus binary on PATH, and it cannot be installed here (needs root and apt-get: apt-get install prometheus)"
    exit 0
  fi
fi

command -v prometheus
cargo test -p mruntime-tests --test prometheus_scrape -- --ignored --nocapture
