#!/usr/bin/env bash
# Regenerates the real Terraform JSON plans the internal/plan tests read, with the
# project's Terraform, provider mirror and a throwaway mycloud. Run from the
# repo root after `make test-tools build`: internal/plan/testdata/generate.sh
set -euo pipefail
top=$(pwd); out=$top/internal/plan/testdata; work=$(mktemp -d)
addr=127.0.0.1:18499
export MYCLOUD_ENDPOINT=http://$addr MYCLOUD_ACCESS_KEY=fixture MYCLOUD_SECRET_KEY=fixture-secret MYCLOUD_ADMIN_TOKEN=fixture-admin
export TF_CLI_CONFIG_FILE=$top/bin/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
bin/mycloud -addr $addr -data-dir "$work/db" -access-key fixture -create-delay 0s >"$work/mycloud.log" 2>&1 &
pid=$!; trap 'kill $pid; rm -rf "$work"' EXIT
sleep 1
tf() { bin/terraform -chdir="$work/ws" "$@"; }
plan() { # name, extra plan args...
  local name=$1; shift
  tf plan -input=false -out=p.bin "$@" >/dev/null
  tf show -json p.bin | python3 -m json.tool --indent 1 >"$out/$name.json"
}
mkdir "$work/ws"
stack() { # vpc cidr, vpc tag, mysql storage, password
  cat >"$work/ws/main.tf" <<HCL
terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
resource "mycloud_vpc" "main" {
  name = "main"
  cidr = "$1"
  tags = { env = "$2" }
}
resource "mycloud_subnet" "app" {
  name   = "app"
  vpc_id = mycloud_vpc.main.id
  cidr   = "${1%.0.0/16}.1.0/24"
}
resource "mycloud_mysql" "db" {
  name           = "orders"
  subnet_id      = mycloud_subnet.app.id
  admin_password = "$4"
  storage_gib    = $3
}
HCL
}
stack 10.0.0.0/16 prod 20 Fixture-Passw0rd-1
tf init -input=false >/dev/null
plan create
tf apply -input=false -auto-approve >/dev/null
plan no-changes
stack 10.0.0.0/16 staging 40 Fixture-Passw0rd-2
plan update-with-sensitive
stack 10.1.0.0/16 prod 20 Fixture-Passw0rd-1
plan replace
vpc=$(tf state show -no-color mycloud_vpc.main | awk -F'"' '/ id /{print $2}')
curl -fsS -X PATCH -H "Authorization: Bearer $MYCLOUD_ADMIN_TOKEN" -H "Content-Type: application/json" -d '{"tags":{"env":"console","extra":"x"}}' "$MYCLOUD_ENDPOINT/admin/v1/resources/vpcs/$vpc" >/dev/null
stack 10.0.0.0/16 prod 20 Fixture-Passw0rd-1
plan drift-refresh-only -refresh-only
plan drift-normal
printf 'terraform {\n  required_providers {\n    mycloud = { source = "vela-infra/mycloud" }\n  }\n}\n' >"$work/ws/main.tf"
plan destroy-all
curl -fsS -X POST -H "Authorization: Bearer $MYCLOUD_ADMIN_TOKEN" -H "Content-Type: application/json" -d '{"buckets":[{"id":"bucket-old01","name":"old-bucket"}]}' "$MYCLOUD_ENDPOINT/admin/v1/seed" >/dev/null
cat >>"$work/ws/main.tf" <<'HCL'
import {
  to = mycloud_bucket.old
  id = "bucket-old01"
}
resource "mycloud_bucket" "old" {
  name = "old-bucket"
  acl  = "public-read"
}
HCL
tf state rm mycloud_mysql.db mycloud_subnet.app mycloud_vpc.main >/dev/null
plan import-with-update
echo "plans written to $out"
