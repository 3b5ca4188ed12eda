#!/usr/bin/env bash
# vuln.sh — govulncheck on the shipped binaries, offline.
#
# golang.org/x/vulndb (served by the Go module proxy) holds the Go
# vulnerability database as OSV files; its indexdb command turns them into
# the database directory govulncheck reads with -db file://. Both tools and
# the database are built once per vulndb version and cached outside the
# checkout, like the other tools (hack/build-tool.sh).
#
# govulncheck lists the vulnerabilities the binaries' code reaches. Each one
# must be named in hack/vuln-accepted.txt with the reason it remains (no fix
# that resolves with the required dependencies, fixed only in a newer Go...);
# one that is not fails the target, so a new vulnerability is a decision.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd); cd "$top"
cache=${VELA_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vela-infra}/tools
export GOFLAGS=-mod=mod
vulndb=$(awk '$1=="golang.org/x/vulndb"{print $2}' hack/tools/vuln/go.mod)
vuln=$(awk '$1=="golang.org/x/vuln"{print $2}' hack/tools/vuln/go.mod)
dir=$cache/vuln-$vuln-$vulndb

if [ ! -x "$dir/govulncheck" ] || [ ! -f "$dir/db/index/db.json" ]; then
  echo "==> building govulncheck $vuln and its database from golang.org/x/vulndb $vulndb (first time on this machine; cached afterwards)"
  tmp=$(mktemp -d "$cache/.build-vuln.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
  (cd hack/tools/vuln && go build -trimpath -o "$tmp/govulncheck" golang.org/x/vuln/cmd/govulncheck \
    && go build -trimpath -o "$tmp/indexdb" golang.org/x/vulndb/cmd/indexdb)
  osv=$(cd hack/tools/vuln && go list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv
  "$tmp/indexdb" -vulns "$osv" -out "$tmp/db"
  rm -rf "$dir"; mkdir -p "$(dirname "$dir")"; mv "$tmp" "$dir"
fi

echo "==> govulncheck -db file://$dir/db ./cmd/... (Go $(go env GOVERSION))"
out=$("$dir/govulncheck" -db "file://$dir/db" ./cmd/... 2>&1) && rc=0 || rc=$?
echo "$out"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then  # 3: vulnerabilities found
  echo "vuln: govulncheck failed (exit $rc)"; exit "$rc"
fi
reached=$(grep -oE '^Vulnerability #[0-9]+: GO-[0-9]{4}-[0-9]+' <<<"$out" | grep -oE 'GO-[0-9]{4}-[0-9]+' | sort -u || true)
status=0
echo "==> reached vulnerabilities and why they remain (hack/vuln-accepted.txt)"
for id in $reached; do
  reason=$(awk -v id="$id" '$1==id{$1=""; sub(/^ /,""); print}' hack/vuln-accepted.txt)
  if [ -z "$reason" ]; then
    echo "  $id  NOT ACCEPTED: fix it (upgrade the module or Go) or name it in hack/vuln-accepted.txt with the reason"; status=1
  else
    echo "  $id  $reason"
  fi
done
[ -n "$reached" ] || echo "  none"
exit $status
