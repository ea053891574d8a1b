# The two commands of the README, and the token helper.
.PHONY: dev test token

## make dev: run the whole API locally on http://localhost:9000
dev:
	@scripts/dev.sh

## make test: fmt, clippy, unit, integration and end-to-end tests (what CI runs)
test:
	@scripts/test.sh

## make token USER=alice: print a local HS256 token for that user id
token:
	@scripts/token.sh "$(USER)"
