#!/usr/bin/env bash
# Print the path of a Python that has Quix Streams 3.28.1, making its venv first when there is none: python3 -m venv
# into .local/quix-venv (repo-local, ignored by git), then pip from PyPI. A venv of its own because quixstreams pins
# its own confluent-kafka; load_tests/quix_peer.py (the JSON bench's Quix peer) runs in it. Progress goes to stderr,
# the path alone to stdout, so callers can run "$(deploy/tools/quix.sh)" load_tests/quix_peer.py ...
set -euo pipefail
VERSION=3.28.1
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$REPO/.local/quix-venv"
PY="$VENV/bin/python"

wanted() {  # the venv's python imports quixstreams of the pinned version
  [[ -x "$PY" ]] && [[ "$("$PY" -c 'import quixstreams; print(quixstreams.__version__)' 2>/dev/null)" == "$VERSION" ]]
}

if wanted; then
  echo "$PY"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "quix.sh: python3 with the venv module is needed (apt-get install python3-venv)" >&2
  exit 1
fi
echo "quix.sh: installing quixstreams==$VERSION into $VENV (pip, about a minute)" >&2
python3 -m venv "$VENV" >&2  # on an existing venv too: a half-made one gets its pip back
"$PY" -m pip install -q --disable-pip-version-check "quixstreams==$VERSION" >&2
wanted || { echo "quix.sh: $PY does not import quixstreams $VERSION" >&2; exit 1; }
echo "$PY"
