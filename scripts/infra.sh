#!/usr/bin/env bash
# Checks the CDK app in infra/ (issue 23): installs its pinned packages, type-checks it, runs its
# jest tests, and synthesizes the prod stacks of every products/*.toml. Offline apart from the npm
# registry, and without AWS credentials: synth makes no lookups, and the CDK CLI's version check,
# notices and telemetry are off. Usage: bash scripts/infra.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/infra"

export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1
# No instance-metadata probe for credentials or a region: synth needs neither.
export AWS_EC2_METADATA_DISABLED=true
region="${CDK_REGION:-us-east-1}"

start=$SECONDS
step() {
  local name="$1"
  shift
  local t0=$SECONDS
  echo "==> $name"
  "$@"
  echo "    $name: $((SECONDS - t0)) s"
}

step "npm ci" npm ci --no-audit --no-fund --loglevel=error
step "tsc" npx tsc --noEmit -p .
step "jest" npx jest --ci

rm -rf cdk.out
for toml in "$root"/products/*.toml; do
  product="$(basename "$toml" .toml)"
  step "cdk synth $product (prod)" npx cdk synth --quiet --strict --no-notices \
    --context productName="$product" --context environment=prod --context region="$region" \
    --context imageTag=check --context mailDomain=example.com \
    --output "cdk.out/$product-prod"
done

echo "infra: all checks passed in $((SECONDS - start)) s"
