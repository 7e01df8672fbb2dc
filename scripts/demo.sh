#!/usr/bin/env bash
# The demo, from a fresh clone on a fresh machine:
#   bash scripts/demo.sh
# Installs dockermagic, makes sure a Docker engine is ready, then executes the bundled
# example notebook (examples/heart_roc.ipynb) in a real IPython kernel. The notebook
# dockerizes itself (image heart-roc), runs the image, and the figures it showed land in
# examples/dockermagic-outputs/heart-roc-<date>-<time>/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "== installing dockermagic"
python3 -m pip install -q -e . matplotlib pandas scikit-learn imbalanced-learn 2>&1 | grep -v -E "^WARNING: (Location|Running pip)" || true
echo "== making sure a Docker engine and the base image are ready"
bash scripts/ensure-engine.sh
echo "== executing examples/heart_roc.ipynb in a real kernel (first build about a minute)"
cd examples
JPY_SESSION_NAME="$PWD/heart_roc.ipynb" python3 -m jupyter nbconvert --to notebook --execute heart_roc.ipynb \
  --output heart_roc.executed.ipynb --ExecutePreprocessor.timeout=1200 2>&1 | grep -v "without encryption" || true
latest=$(ls -1dt dockermagic-outputs/heart-roc-* 2>/dev/null | head -n 1 || true)
[ -n "$latest" ] || { echo "demo failed: no outputs folder (see examples/heart_roc.executed.ipynb)"; exit 1; }
echo
echo "The executed notebook: examples/heart_roc.executed.ipynb"
echo "What the container produced: examples/$latest/"
find "$latest" -type f | sort | sed 's/^/  examples\//'
