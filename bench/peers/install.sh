#!/usr/bin/env bash
# Installs the MLflow peer into bench/.venv (git-ignored). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# MLFLOW_VERSION pins a version (e.g. MLFLOW_VERSION=3.1.4); default = latest.
spec="mlflow${MLFLOW_VERSION:+==$MLFLOW_VERSION}"
"$venv/bin/python" -m pip install --quiet "$spec"
"$venv/bin/python" - <<'PY'
import mlflow, sys
print(f"mlflow {mlflow.__version__} installed (python {sys.version.split()[0]})")
PY
