#!/usr/bin/env bash
# `make sam-check`: proves the template builds and runs under SAM the way users deploy and test
# it, with no AWS account and no registry: `sam validate --lint`; `sam build` (cargo-lambda,
# offline); an offline base image; `sam local invoke` of every API function with its event from
# events/, against the emulator; `sam local start-api` answering a create and a get.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
samvenv="$root/.venv-sam"
if [ ! -f "$samvenv/.installed" ] || [ infra/sam/requirements.txt -nt "$samvenv/.installed" ]; then
  python3 -m venv "$samvenv"
  "$samvenv/bin/pip" install --quiet -r infra/sam/requirements.txt
  touch "$samvenv/.installed"
fi
export PATH="$samvenv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local

echo "== sam validate --lint"
sam validate --lint
echo "== sam build"
# This check proves the template builds and runs under SAM; it does not ship what it builds. It
# links without LTO and with 16 codegen units unless KUPE_SAM_RELEASE_PROFILE=1: measured on two
# cores, 28 s per function instead of 107 s with the release profile (then thin LTO, one
# codegen unit; now fat LTO at opt-level "s", see bench/lambda.md), which matters with one
# binary per route. `sam build` for a deploy uses the release
# profile from Cargo.toml.
if [ "${KUPE_SAM_RELEASE_PROFILE:-0}" != 1 ]; then
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi
sam build --beta-features 2>&1 | grep -E "^(Build Succeeded|Building codeuri|Error)" || true
[ -f .aws-sam/build/CreateClusterFunction/bootstrap ] || { echo "sam build produced no bootstrap"; exit 1; }

echo "== bootstrap sizes (goal: bootstrap ≤ 7,000,000 bytes, zip -9 ≤ 3,000,000 bytes)"
if [ "${KUPE_SAM_RELEASE_PROFILE:-0}" = 1 ]; then
  infra/sam/check-sizes.sh .aws-sam/build
else
  # Linked without LTO above, so larger than what a deploy ships: shown, not gated.
  MAX_BOOTSTRAP=999999999 MAX_ZIP=999999999 infra/sam/check-sizes.sh .aws-sam/build
  echo "(not gated: linked without LTO; KUPE_SAM_RELEASE_PROFILE=1 gates the release profile's sizes)"
fi

echo "== offline base image"
image="$(infra/sam/base-image.sh)"

echo "== emulator, table and the events' tenant and key"
log="$(mktemp)"
# Containers reach the host through the Docker bridge's gateway, so the emulator listens there too.
gateway="$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
gateway="${gateway:-172.17.0.1}"
"$root/.venv/bin/python" infra/emulator/serve.py --host 0.0.0.0 --port 0 --parent-pid $$ >"$log" 2>/dev/null &
emu=$!
api=""
trap 'kill $emu $api 2>/dev/null || true; rm -f "$log" "$log.err"' EXIT
for _ in $(seq 1 100); do grep -q '^READY ' "$log" && break; sleep 0.1; done
port="$(awk '/^READY /{print $2}' "$log")"
export TABLE_NAME=kupe-sam AWS_ENDPOINT_URL="http://127.0.0.1:$port"
admin="$root/target/debug/kupe-admin"
[ -x "$admin" ] || cargo build --quiet -p kupe-admin
"$admin" table create
"$admin" tenant create dev --plan pro
"$admin" apikey create --tenant dev --role admin --name sam --key kupe_0123abcd_devsecretdevsecretdevsecret | tail -1 >/dev/null
cat > .aws-sam/env.json <<JSON
{"Parameters": {"TABLE_NAME": "kupe-sam", "AWS_ENDPOINT_URL_DYNAMODB": "http://$gateway:$port"}}
JSON
common=(--invoke-image "$image" --skip-pull-image --env-vars .aws-sam/env.json)

echo "== sam local invoke, every API function"
failures=0
checks=0
while read -r fn event want; do
  checks=$((checks+1))
  out="$(sam local invoke "$fn" -e "events/$event.json" "${common[@]}" 2>"$log.err" | tail -n 1)"
  got="$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("statusCode"))' 2>/dev/null || echo none)"
  if [ "$got" = "$want" ]; then echo "ok   $fn -> $got"; else
    echo "FAIL $fn -> $got (want $want): $out"; grep -i error "$log.err" | head -n 3; failures=$((failures+1)); fi
done <<'LIST'
CreateClusterFunction create-cluster 201
ListClustersFunction list-clusters 200
GetClusterFunction get-cluster 200
UpdateClusterFunction update-cluster 200
ListOperationsFunction list-operations 200
GetOperationFunction get-operation 200
RetryOperationFunction retry-operation 409
GetKubeconfigFunction get-kubeconfig 503
CreateApiKeyFunction create-apikey 201
ListApiKeysFunction list-apikeys 200
DeleteApiKeyFunction delete-apikey 404
DeleteClusterFunction delete-cluster 204
NotServedFunction not-served 501
GetTenantFunction get-tenant 200
UpdateTenantFunction update-tenant 200
ListPlansFunction list-plans 200
GetPlanFunction get-plan 200
AddMemberFunction add-member 201
ListMembersFunction list-members 200
UpdateMemberFunction update-member 200
RemoveMemberFunction remove-member 204
DeleteTenantFunction delete-tenant 409
PutAlertmanagerReceiverFunction put-alertmanager-receiver 201
GetAlertmanagerReceiverFunction get-alertmanager-receiver 200
ListAlertmanagerReceiversFunction list-alertmanager-receivers 200
PutAlertmanagerRoutesFunction put-alertmanager-routes 200
GetAlertmanagerRoutesFunction get-alertmanager-routes 200
DeleteAlertmanagerReceiverFunction delete-alertmanager-receiver 409
PutAlertmanagerGlobalFunction put-alertmanager-global 200
GetAlertmanagerGlobalFunction get-alertmanager-global 200
GetAlertmanagerConfigFunction get-alertmanager-config 200
CreateSecretFunction create-secret 201
ListSecretsFunction list-secrets 200
GetSecretFunction get-secret 200
UpdateSecretFunction update-secret 200
DeleteSecretFunction delete-secret 204
LIST

echo "== sam local start-api: create and get"
apiport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sam local start-api --port "$apiport" "${common[@]}" >/dev/null 2>&1 &
api=$!
base="http://127.0.0.1:$apiport/api/v1/tenants/dev/clusters"
auth="Authorization: Bearer kupe_0123abcd_devsecretdevsecretdevsecret"
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$apiport/" && break; sleep 0.3; done
created="$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -H 'Content-Type: application/json' \
  -d '{"name":"via-api","displayName":"Via start-api","type":"shared"}' "$base")"
got="$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base/via-api")"
if [ "$created" = 201 ] && [ "$got" = 200 ]; then echo "ok   start-api create -> 201, get -> 200"
else echo "FAIL start-api create -> $created, get -> $got"; failures=$((failures+1)); fi

echo "$((checks + 1 - failures)) passed, $failures failed"
[ "$failures" = 0 ]
