# The two commands of the README (`make dev`, `make test-full`), the quick
# inner loop, and the token helper. Each is a thin entry point: the work is
# in `cargo xtask` (xtask/src/), the installers in scripts/install.sh.
.PHONY: dev test test-full unit check deploy-check deploy conformance bench bench-smoke bench-cold-start token openapi

# The pinned toolchain first (rustup installs it; scripts/install.sh links
# a machine's own of that release where rustup may not download).
XTASK = scripts/install.sh toolchain && cargo xtask

## make dev: run the whole API locally on http://localhost:9000
dev:
	@$(XTASK) dev

## make test: check, build, unit, integration, schemathesis and end-to-end tests
test:
	@$(XTASK) test

## make test-full: make test, the offline deployment checks and make bench-smoke (what CI runs)
test-full:
	@$(XTASK) test-full

## make unit: the unit tests only (no services, no Node; seconds)
# Not the docs function (its build runs npm) nor the test kit (its tests
# serve the docs page, and need services).
unit:
	@cargo test --workspace --exclude docs --exclude todo-tests --lib --bins --quiet

## make check: cargo fmt --check and clippy with warnings as errors
check:
	@$(XTASK) check

## make deploy-check: cfn-lint, sam validate --lint, sam build, bootstrap checks
deploy-check:
	@$(XTASK) deploy-check

## make deploy [ENV=prod]: sam build, sam deploy, migrate, print the URLs (needs AWS credentials)
deploy:
	@$(XTASK) deploy

## make conformance: only schemathesis, against the handlers behind a local server
conformance:
	@$(XTASK) test --conformance-only

## make bench: release builds against a floor function; writes BENCHMARKS.md and benchmarks.png
bench:
	@$(XTASK) bench

## make bench-smoke: make bench in miniature on the debug build (CI keeps it working)
bench-smoke:
	@$(XTASK) bench --smoke

## make bench-cold-start: what reading secrets adds to a cold start (ratio)
bench-cold-start:
	@scripts/install.sh toolchain && cargo run --quiet --release -p xtask -- cold-start

## make openapi: write clients/openapi.json from the code, and the TypeScript client's types from it
openapi:
	@$(XTASK) openapi

## make token USER=alice: print a local HS256 token for that user id
token:
	@cargo xtask token "$(USER)"
