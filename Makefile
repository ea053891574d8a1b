# The two commands of the README (`make dev`, `make test-full`), the quick
# inner loop, and the token helper.
.PHONY: dev test test-full unit check deploy-check deploy conformance bench bench-smoke bench-cold-start token openapi

## make dev: run the whole API locally on http://localhost:9000
dev:
	@scripts/dev.sh

## make test: check, build, unit, integration, schemathesis and end-to-end tests
test:
	@scripts/test.sh

## make test-full: make test, the offline deployment checks and make bench-smoke (what CI runs)
# ARM64_PREBUILD=1: make test starts deploy-check's arm64 build meanwhile (scripts/test.sh).
test-full:
	@ARM64_PREBUILD=1 $(MAKE) -s test deploy-check bench-smoke

## make unit: the unit tests only (no services, no Node; seconds)
# Not the docs function (its build runs npm) nor the test kit (its tests
# serve the docs page, and need services).
unit:
	@cargo test --workspace --exclude docs --exclude todo-tests --lib --bins --quiet

## make check: cargo fmt --check and clippy with warnings as errors
check:
	@scripts/check.sh

## make deploy-check: cfn-lint, sam validate --lint, sam build, bootstrap checks
deploy-check:
	@scripts/deploy-check.sh

## make deploy [ENV=prod]: sam build, sam deploy, migrate, print the URLs (needs AWS credentials)
deploy:
	@scripts/deploy.sh

## make conformance: only schemathesis, against the handlers behind a local server
conformance:
	@CONFORMANCE_ONLY=1 scripts/test.sh

## make bench: release builds against a floor function; writes BENCHMARKS.md and benchmarks.png
bench:
	@scripts/bench.sh

## make bench-smoke: make bench in miniature on the debug build (CI keeps it working)
bench-smoke:
	@BENCH_SMOKE=1 scripts/bench.sh

## make bench-cold-start: what reading secrets adds to a cold start (ratio)
bench-cold-start:
	@scripts/bench-cold-start.sh

## make openapi: write clients/openapi.json from the code, and the TypeScript client's types from it
openapi:
	@scripts/openapi.sh

## make token USER=alice: print a local HS256 token for that user id
token:
	@cargo xtask token "$(USER)"
