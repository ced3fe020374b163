#!/usr/bin/env bash
# The main job on the bundled example: installs what is missing, builds, then validates
# examples/secure-workspace and checks its formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake -S . -B build -DAMLSEC_WERROR=ON >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
./build/amlsec validate examples/secure-workspace
if ./build/amlsec help fmt >/dev/null 2>&1; then
  ./build/amlsec fmt -check examples/secure-workspace
fi
