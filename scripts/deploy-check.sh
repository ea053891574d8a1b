#!/usr/bin/env bash
# The deployment, checked offline (nothing is deployed): cfn-lint and
# `sam validate --lint` on template.yaml; the GitHub workflows against
# GitHub's schema and zizmor, dependabot's file against its schema, the
# deploy role's template with cfn-lint, both templates with checkov (each
# finding fixed or suppressed in place with its reason); then `sam build` of every function
# (cargo-lambda + Zig, arm64, release, vendored OpenSSL), and each built
# `bootstrap` must be an aarch64 ELF needing at most GLIBC 2.34 (AL2023) and
# no shared library beyond glibc's, of at most 10 MiB (7 MiB before the AWS
# SDK came in for Secrets Manager; 9.5 with it). Part of `make test-full`,
# which CI runs.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/arm64.sh"
cd "$ROOT"
export SAM_CLI_TELEMETRY=0

trap print_phases EXIT

step "the tools (SAM CLI, cfn-lint, check-jsonschema, zizmor, checkov, cargo-lambda), pinned, into .local/venv"
ensure_tools sam cfn-lint check-jsonschema zizmor checkov cargo-lambda

step "cfn-lint template.yaml and the deploy role's template"
cfn-lint template.yaml .github/aws-deploy-role.yaml
passed "cfn-lint: clean"

step "the GitHub workflows: GitHub's schema, zizmor; dependabot's file: its schema"
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
# --offline: no GitHub API here; the audits that need none all run.
zizmor --offline --no-progress .github/workflows
passed "workflows and dependabot: valid, no zizmor finding"

step "checkov: template.yaml and the deploy role's template"
checkov --quiet --compact --skip-download --framework cloudformation \
    -f template.yaml -f .github/aws-deploy-role.yaml
passed "checkov: no failed check (suppressions in place, each with its reason)"

step "sam validate --lint"
sam validate --lint
passed "sam validate --lint: clean"

step "SAM's transform: CORS, \$default, access log, tracing, log levels, concurrency, alarms"
"$VENV/bin/python" scripts/check-template.py
passed "the template after SAM's transform"

step "make deploy, with a stand-in for sam that records its calls"
stand_in=$(mktemp -d)
cat >"$stand_in/sam" <<'SH'
#!/usr/bin/env bash
echo "sam $*" >>"${0%/*}/calls"
[ "$1 $2" = "remote invoke" ] && echo '{"applied": []}'
exit 0
SH
chmod +x "$stand_in/sam"
for environment in default prod; do
    : >"$stand_in/calls"
    SAM_CLI="$stand_in/sam" ENV=$environment make -s deploy >/dev/null
    stack=$([ "$environment" = prod ] && echo todo-api-prod || echo todo-api-dev)
    expected="sam build --config-env $environment
sam deploy --config-env $environment
sam remote invoke MigrateFunction --stack-name $stack --config-env $environment --output text
sam list stack-outputs --stack-name $stack --config-env $environment --output table"
    [ "$(cat "$stand_in/calls")" = "$expected" ] || { echo "make deploy ran:" >&2; cat "$stand_in/calls" >&2; exit 1; }
    passed "make deploy ENV=$environment: build, deploy $stack, migrate, outputs"
done
rm -rf "$stand_in"

step "the functions for arm64, release: one cargo build for the workspace"
# `make test-full` started this build in the background (scripts/test.sh):
# wait for it, then build again, which finds everything up to date (or
# shows what failed).
prebuild="$ROOT/target/arm64-build.pid"
if [ -f "$prebuild" ]; then
    pid=$(cat "$prebuild")
    while kill -0 "$pid" 2>/dev/null; do sleep 2; done
    rm -f "$prebuild"
fi
arm64_build

step "sam build (arm64, release)"
sam build

step "the built bootstraps"
# glibc's own libraries; anything else would have to exist on the Lambda host.
allowed='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|ld-linux-aarch64\.so\.1)$'
for function in TasksCollectionFunction TasksItemFunction HealthFunction DocsFunction MigrateFunction; do
    bootstrap=".aws-sam/build/$function/bootstrap"
    [ -f "$bootstrap" ] || { echo "$bootstrap is missing" >&2; exit 1; }
    machine=$(readelf -h "$bootstrap" | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
    [ "$machine" = "AArch64" ] || { echo "$bootstrap is built for $machine, not AArch64" >&2; exit 1; }
    glibc=$(readelf -V "$bootstrap" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
    if [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | tail -n1)" != "2.34" ]; then
        echo "$bootstrap needs GLIBC_$glibc; the provided.al2023 runtime has 2.34" >&2
        exit 1
    fi
    needed=$(readelf -d "$bootstrap" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    extra=$(grep -Ev "$allowed" <<<"$needed" || true)
    [ -z "$extra" ] || { echo "$bootstrap needs libraries beyond glibc: $extra" >&2; exit 1; }
    # Issue #14's budget: what Lambda downloads and maps on a cold start.
    bytes=$(stat -c %s "$bootstrap")
    if [ "$bytes" -gt $((10 * 1024 * 1024)) ]; then
        echo "$bootstrap is $bytes bytes, over the 10 MiB budget (make bench breaks it down)" >&2
        exit 1
    fi
    size=$(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }')
    passed "$function: aarch64 ELF, GLIBC <= $glibc, needs $(tr '\n' ' ' <<<"$needed")- $size (budget 10 MiB)"
done
