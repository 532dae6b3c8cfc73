#!/usr/bin/env bash
# Create a separate venv for the Evidently comparison (never install Evidently in the main venv).
# Evidently 0.7.x does not import with pandas 3, hence "pandas<3".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-evidently"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet evidently "pandas<3" numpy scipy >&2
"$venv/bin/python" -c "import evidently, pandas; print('evidently', evidently.__version__, 'pandas', pandas.__version__)" >&2
echo "$venv/bin/python"
