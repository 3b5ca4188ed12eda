#!/usr/bin/env bash
# build-tool.sh NAME — build one pinned tool from the Go module proxy into bin/.
#
# Every tool is keyed by name and version in a cache outside the checkout
# (${VELA_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vela-infra}/tools), so a
# fresh clone on a machine that built it before only copies it. Builds run one
# at a time (flock): the machines have two cores.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${VELA_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vela-infra}/tools
bin=$top/bin
mkdir -p "$cache" "$bin"

# Versions: kubevela and terraform-controller come from hack/tools/vela/go.mod
# (keep it in step with go.mod); keep the rest in step with
# the README's tool table.
K8S_VERSION=v1.30.14
ETCD_VERSION=v3.5.35
TERRAFORM_VERSION=v1.5.7
CONTROLLER_GEN_VERSION=v0.16.5
HELM_VERSION=v3.16.4
STATICCHECK_VERSION=v0.8.2   # honnef.co/go/tools
KUBEVELA_VERSION=$(awk '$1=="github.com/oam-dev/kubevela"{print $2}' "$top/hack/tools/vela/go.mod")
TFCONTROLLER_VERSION=$(awk '$1=="github.com/oam-dev/terraform-controller"{print $2}' "$top/hack/tools/vela/go.mod")
# cue: from hack/tools/cue/go.mod (cuelang.org/go, the version go.mod uses).
CUE_VERSION=$(awk 'NF>1 && $(NF-1)=="cuelang.org/go"{print $NF; exit}' "$top/hack/tools/cue/go.mod")

# Modules missing from the checksum database: exactly these, never GOSUMDB=off.
export GONOSUMDB=github.com/kmodules/apiserver-runtime
export GOFLAGS=-mod=mod

name=${1:?usage: build-tool.sh NAME}
case $name in
  etcd) version=$ETCD_VERSION ;;
  kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl) version=$K8S_VERSION ;;
  terraform) version=$TERRAFORM_VERSION ;;
  controller-gen) version=$CONTROLLER_GEN_VERSION ;;
  helm) version=$HELM_VERSION ;;
  cue) version=$CUE_VERSION ;;
  staticcheck) version=$STATICCHECK_VERSION ;;
  vela|vela-core) version=$KUBEVELA_VERSION ;;
  # Built from hack/tools/vela/terraform-controller (its reconcilers with the
  # resync period restored); the suffix keeps it apart from an upstream build
  # and changes with that main.go.
  terraform-controller) version=$TFCONTROLLER_VERSION-resync-$(sha256sum "$top/hack/tools/vela/terraform-controller/main.go" | cut -c1-8) ;;
  *) echo "build-tool.sh: unknown tool '$name'" >&2; exit 2 ;;
esac

cached=$cache/$name-$version/$name
install_cached() {
  # Hard link when the cache is on the same file system, copy otherwise.
  ln -f "$cached" "$bin/$name" 2>/dev/null || cp -f "$cached" "$bin/$name"
  echo "$version" > "$bin/.$name.version"
}

if [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if [ -x "$cached" ]; then
  install_cached
  echo "==> $name $version (cached)"
  exit 0
fi

exec 9>"$cache/.build.lock"
flock 9
if [ -x "$cached" ]; then install_cached; exit 0; fi   # built while we waited

out=$(mktemp -d "$cache/.build-$name.XXXXXX")
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
echo "==> building $name $version (first time on this machine; cached afterwards)"
case $name in
  etcd)
    (cd "$top/hack/tools/etcd" && go build -trimpath -o "$out/$name" go.etcd.io/etcd/server/v3) ;;
  kube-*|kubelet|kubectl)
    (cd "$top/hack/tools/k8s" && CGO_ENABLED=0 go build -trimpath -o "$out/$name" "k8s.io/kubernetes/cmd/$name") ;;
  terraform)
    GOBIN=$out go install -trimpath "github.com/hashicorp/terraform@$version" ;;
  controller-gen)
    GOBIN=$out go install -trimpath "sigs.k8s.io/controller-tools/cmd/controller-gen@$version" ;;
  helm)
    GOBIN=$out go install -trimpath "helm.sh/helm/v3/cmd/helm@$version" ;;
  cue)
    (cd "$top/hack/tools/cue" && go build -trimpath -o "$out/$name" cuelang.org/go/cmd/cue) ;;
  staticcheck)
    GOBIN=$out go install -trimpath "honnef.co/go/tools/cmd/staticcheck@$version" ;;
  vela)
    (cd "$top/hack/tools/vela" && go build -trimpath -o "$out/$name" github.com/oam-dev/kubevela/references/cmd/cli) ;;
  vela-core)
    (cd "$top/hack/tools/vela" && go build -trimpath -o "$out/$name" github.com/oam-dev/kubevela/cmd/core) ;;
  terraform-controller)
    (cd "$top/hack/tools/vela" && go build -trimpath -o "$out/$name" ./terraform-controller) ;;
esac
mkdir -p "$(dirname "$cached")"
mv "$out/$name" "$cached"
install_cached
echo "==> built $name $version in $(( $(date +%s) - start ))s"
