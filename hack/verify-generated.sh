#!/usr/bin/env bash
# Fails when the generated files (deepcopy, CRDs) differ from what
# `make generate` writes: regenerate and compare with the files as they were.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd); cd "$top"
before=$(mktemp -d); trap 'rm -rf "$before"' EXIT
files=(pkg/apis/infra/v1alpha1/zz_generated.deepcopy.go charts/vela-infra/crds/*.yaml addons/vela-infra/resources/*.yaml addons/vela-infra/definitions/*.cue)
for f in "${files[@]}"; do mkdir -p "$before/$(dirname "$f")"; cp "$f" "$before/$f"; done
make -s generate
status=0
for f in pkg/apis/infra/v1alpha1/zz_generated.deepcopy.go charts/vela-infra/crds/*.yaml addons/vela-infra/resources/*.yaml addons/vela-infra/definitions/*.cue; do
  if ! cmp -s "$f" "$before/$f"; then echo "generated file out of date: $f (run make generate and commit)"; status=1; fi
done
exit $status
