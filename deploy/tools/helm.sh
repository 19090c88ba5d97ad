#!/usr/bin/env bash
# Print the path of a Helm v3.22 binary, building it first when there is none: `go install` from the Go module
# proxy into .local/tools/bin (repo-local, ignored by git). Go is the only requirement. Progress goes to stderr,
# the path alone to stdout, so callers can run "$(deploy/tools/helm.sh)" lint ...
set -euo pipefail
VERSION=v3.22.0
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$REPO/.local/tools/bin"

wanted() {  # $1 is a helm binary of the pinned minor version
  [[ -x "$1" ]] && [[ "$("$1" version --template '{{.Version}}' 2>/dev/null)" == "${VERSION%.*}"* ]]
}

gobin="$(go env GOBIN 2>/dev/null || true)"
[[ -n "$gobin" ]] || gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
for candidate in "$BIN/helm" "$gobin/helm"; do
  if wanted "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

if ! command -v go >/dev/null; then
  echo "helm.sh: Go is needed to build Helm $VERSION (apt-get install golang-go, or a Go toolchain on PATH)" >&2
  exit 1
fi
echo "helm.sh: building Helm $VERSION into $BIN (go install, a few minutes)" >&2
mkdir -p "$BIN"
GOBIN="$BIN" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$VERSION" >&2
wanted "$BIN/helm" || { echo "helm.sh: $BIN/helm is not Helm ${VERSION%.*}" >&2; exit 1; }
echo "$BIN/helm"
