#!/usr/bin/env bash
# Issue 18's GPU run in one call (bench/gpu_run.py): install the carried wheels, record the environment, then
# python -m bench.gpu and the paper-size training run of both arms; every step's JSON and log lands in $OUT.
#
#   bash bench/gpu_run.sh                                         # on the GPU machine (device run, carry [".whl"])
#   bash bench/gpu_run.sh --gpu-args "--variants default tuned compile" --budget-s 480
#
# Arguments go to python -m bench.gpu_run (--help lists them); $PYTHON, if set, replaces python3. Exit status 1
# when a step failed.
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" -m bench.gpu_run --out "${OUT:-gpu_out}" "$@"
