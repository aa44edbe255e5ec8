# Reel: the two commands of the README, plus their parts.
.PHONY: run cluster test deps deps-test build build-release lint test-rust test-browser test-api bench bench-full bench-edge

# Where cargo puts binaries: honours a global CARGO_TARGET_DIR.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

## Install what is missing, build in release mode, start balancer + two nodes.
run: deps build-release
	scripts/run.sh

## The several-machines deployment on this machine: balancer + two nodes with
## separate data dirs over PostgreSQL + an S3-compatible server.
cluster: deps build-release
	scripts/cluster.sh

## Every test: formatting, lints, Rust tests, browser tests, API fuzzing.
test: deps-test lint test-rust test-browser test-api

deps:
	scripts/install-deps.sh

deps-test:
	scripts/install-deps.sh --browser
	scripts/test-services.sh

build:
	cargo build --workspace --bins

build-release:
	cargo build --release --workspace --bins

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-rust:
	cargo test --workspace --no-fail-fast

test-browser: build
	cd app-node/web && REEL_NODE_BIN=$(TARGET_DIR)/debug/reel-node npm test

## schemathesis against a running node and its /api/openapi.json.
test-api: build
	REEL_NODE_BIN=$(TARGET_DIR)/debug/reel-node scripts/api-fuzz.sh

## Every benchmark, quick version (under 10 minutes after the build): writes
## benches/results/<date>-<host>.md, .json and SVG plots.
bench: deps
	scripts/bench.sh

## Every benchmark, long version.
bench-full: deps
	scripts/bench.sh --full

## Edge-cache benchmarks (balancer cache vs nginx, node requests per viewer
## segment, cache on and off); writes benches/results/. QUICK=1 for short runs.
bench-edge:
	scripts/bench/edge.sh $(if $(QUICK),--quick)
