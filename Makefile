# The two commands of the README. Both work on a fresh Debian machine with Go.
#   make run    builds the bot and runs it with the settings in .env (copy .env.example
#               to .env); a variable set in the shell wins over .env
#   make test   installs what the tests need when it is missing, one line each saying
#               what and why, then runs every test

SHELL := /bin/bash
# Where make run reads the settings and puts the binary.
ENV_FILE ?= .env
BIN ?= ./reportbot
# Tools make test fetches without installing them (see .ci/install-test-tools).
export REPORTBOT_TOOLS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/reportbot-tools
export PATH := $(REPORTBOT_TOOLS)/bin:$(PATH)

.PHONY: run test

# run reads .env as Docker does (NAME=value lines, the value taken literally, no
# quotes needed) and exports each variable the shell has not set itself: so
# `REDIS_URL=… make run` uses that Redis even though .env says REDIS_URL=. The shell
# then execs the bot in its own place: the bot is make's child, and make passes a
# SIGTERM or SIGINT on to it and waits for it to stop.
run:
	@go build -buildvcs=auto -o $(BIN) .
	@if [ -f "$(ENV_FILE)" ]; then \
		while IFS= read -r line || [ -n "$$line" ]; do \
			case "$$line" in "" | \#*) continue ;; esac; \
			name="$${line%%=*}"; \
			if [[ ! "$$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$$ || "$$line" != *=* ]]; then \
				echo "$(ENV_FILE): not NAME=value: $$line" >&2; exit 2; \
			fi; \
			if [ -z "$${!name+set}" ]; then export "$$line"; fi; \
		done < "$(ENV_FILE)"; \
	fi; \
	exec $(BIN)

# The second pass runs what touches Redis (the end-to-end tests of the root package,
# and package reporting's scripts, queues and transactions) again on a real
# three-master Redis Cluster, so that every key of every call is proven to share a
# slot (Redis Cluster refuses a call whose keys do not). The two passes run at once
# (the tests mostly wait on their fakes and Redis, so the two cores have room); the
# second's output is printed when the first is done. -parallel 4: every test runs in
# parallel with its own fakes, Redis and bot, and mostly waits, so four tests of a
# package run at once, beside go test's two packages. Four packages at once (-p 4)
# was faster warm (254–275 s) but overloaded the two cores: five of its eight runs
# had a test fail on time, the last (the others' causes fixed) with an answer past
# Discord's 3 seconds. On the cluster the
# root package runs without the race detector (the first pass runs it with, on the
# same code; package reporting, where the cluster's own code paths are, keeps it):
# the two passes then fit the two cores. Every package the tests need is compiled
# once before the passes start (go list -export compiles without linking, so a warm
# cache pays seconds, not the half-minute of linking every test binary an extra
# time): compiled by both passes at once, each package would be compiled twice (the
# build cache does not share work in progress), which on a cold cache costs minutes.
# The front door's fuzz target runs its seeds with the tests; fuzzing it longer is in
# the README.
#
# -trimpath (for every go command of the tests, the bot's builds in them too): what
# the build cache keeps then does not depend on where the clone is, so a fresh clone
# elsewhere (CI's) reuses what an earlier clone compiled instead of compiling the
# module's own packages again.
test: export GOFLAGS := $(strip $(GOFLAGS) -trimpath)
test:
	@.ci/install-test-tools
	@go vet ./...
	@out=$$(go list -race -test -export -deps ./... 2>&1 >/dev/null && go list -test -export -deps . 2>&1 >/dev/null) || { echo "$$out"; exit 1; }
	@cluster=$$(mktemp); trap 'rm -f "$$cluster"' EXIT; \
	{ REPORTBOT_TEST_REDIS=cluster go test -race -count=1 -timeout 20m -parallel 4 ./reporting/ && \
	  REPORTBOT_TEST_REDIS=cluster go test -count=1 -timeout 20m -parallel 4 . ; } >"$$cluster" 2>&1 & second=$$!; \
	go test -race -count=1 -timeout 20m -parallel 4 ./...; first=$$?; \
	wait $$second; status=$$?; \
	echo "again on a Redis Cluster: the root package and package reporting"; \
	cat "$$cluster"; \
	[ $$first -eq 0 ] && [ $$status -eq 0 ]
