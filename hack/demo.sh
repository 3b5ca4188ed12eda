#!/usr/bin/env bash
# The demo on the embedded default cloud, with bare Terraform and the real
# provider: start mycloud seeded with a pre-existing VPC, adopt it with an
# import block (no recreate), change the VPC out of band and show the drift.
# `make demo KEEP=1` leaves mycloud running.
#
# Not yet part of it (see README "Status"): the local cluster, the addons and
# the infra-* workflow steps through vela.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=$top/bin
state=$top/.demo
addr=${MYCLOUD_ADDR:-127.0.0.1:8480}
export MYCLOUD_ENDPOINT=http://$addr MYCLOUD_ACCESS_KEY=demo-access-key MYCLOUD_SECRET_KEY=demo-secret-key
export MYCLOUD_ADMIN_TOKEN=demo-admin-token TF_CLI_CONFIG_FILE=$bin/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
start=$(date +%s)
step() { printf '\n\033[1m==> [%ss] %s\033[0m\n' "$(( $(date +%s) - start ))" "$*"; }
admin() { curl -fsS -X "$1" -H "Authorization: Bearer $MYCLOUD_ADMIN_TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"} "$MYCLOUD_ENDPOINT/admin/v1/$2"; }
tf() { "$bin/terraform" -chdir="$state/work" "$@"; }

command -v curl >/dev/null || { echo "demo: curl is needed (apt-get install curl)" >&2; exit 1; }
rm -rf "$state" && mkdir -p "$state/work"

step "starting mycloud on $addr, seeded with e2e/testdata/mycloud-seed.yaml"
"$bin/mycloud" -addr "$addr" -data-dir "$state/mycloud" -access-key "$MYCLOUD_ACCESS_KEY" \
  -seed e2e/testdata/mycloud-seed.yaml -create-delay 1s >"$state/mycloud.log" 2>&1 &
echo $! >"$state/mycloud.pid"
cleanup() { [ "${KEEP:-}" = 1 ] || kill "$(cat "$state/mycloud.pid")" 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 1 100); do
  curl -fsS "$MYCLOUD_ENDPOINT/healthz" >/dev/null 2>&1 && break
  [ "$i" = 100 ] && { echo "mycloud did not become healthy in 10s; log:"; cat "$state/mycloud.log"; exit 1; }
  sleep 0.1
done
admin GET requests >/dev/null

step "adopting the pre-existing VPC vpc-legacy01 with an import block"
cp definitions/modules/vpc/main.tf "$state/work/main.tf"
cat >"$state/work/import.tf" <<'HCL'
import {
  to = mycloud_vpc.this
  id = "vpc-legacy01"
}
HCL
cat >"$state/work/terraform.tfvars" <<'HCL'
name = "legacy-network"
cidr = "10.40.0.0/16"
tags = { owner = "ops" }
HCL
tf init -input=false >/dev/null
tf plan -input=false -no-color | sed -n '/Terraform will perform/,$p'
tf apply -input=false -auto-approve -no-color | tail -n 3
creates=$(admin GET requests | grep -o '"method":"\(POST\|DELETE\)","path":"/v1/vpcs[^"]*"' || true)
echo "mycloud request log, creates/deletes of VPCs: ${creates:-none}"

step "someone changes the VPC in the console (out-of-band edit through the admin API)"
admin PATCH resources/vpcs/vpc-legacy01 '{"tags":{"owner":"someone-else","temp":"yes"}}' >/dev/null
echo "tags are now {owner=someone-else, temp=yes}"

step "drift: terraform plan -refresh-only shows what changed in the cloud"
tf plan -refresh-only -input=false -no-color | sed -n '/Terraform detected/,/^─/p'

step "done in $(( $(date +%s) - start ))s"
if [ "${KEEP:-}" = 1 ]; then
  echo "mycloud keeps running (pid $(cat "$state/mycloud.pid")) at $MYCLOUD_ENDPOINT; workspace in .demo/work"
fi
