# The two commands of the README. Both work on a fresh Debian machine with Go.
#   make run    runs the bot with the settings in .env (copy .env.example to .env)
#   make test   installs what the tests need when it is missing, then runs every test

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests run for real: redis-server (limits, queue, settings) and
# chromium (the Bungie.net sign-in pages, in a headless browser). Each package here
# installs a command of the same name.
TEST_PACKAGES := redis-server chromium

.PHONY: run test

run:
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; exec go run .

test:
	@missing=""; for p in $(TEST_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi
	go vet ./...
	go test -race -count=1 -timeout 20m ./...
