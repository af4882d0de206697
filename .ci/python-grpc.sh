#!/usr/bin/env bash
# Creates the virtualenv of tests/grpc_python.rs (real Python grpcio clients against the
# grpc_service example: its ledger calls, and grpc.health.v1): `python3 -m venv`, then
# `pip install grpcio grpcio-tools grpcio-health-checking` from PyPI.
# Reused when it already imports both. Prints on stdout the variables the test reads:
# MRUNTIME_PYTHON=<venv>/bin/python and MRUNTIME_REQUIRE_PYTHON_GRPC=1 (so a broken install fails
# the test instead of skipping it). Measured here: about 17 s for a fresh venv, 0.2 s reused.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CARGO_TARGET_DIR:-$PWD/target}/python-grpc"
python="$venv/bin/python"
if ! "$python" -c 'import grpc, grpc_tools, grpc_health.v1.health_pb2_grpc' >/dev/null 2>&1; then
  started=$(date +%s)
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check --no-input grpcio grpcio-tools grpcio-health-checking >&2
  echo "created $venv in $(( $(date +%s) - started )) s" >&2
fi
echo "python-grpc: $("$python" -c 'import grpc; print("grpcio", grpc.__version__)')" >&2
echo "MRUNTIME_PYTHON=$python"
echo "MRUNTIME_REQUIRE_PYTHON_GRPC=1"
