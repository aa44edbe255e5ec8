# Reel: the two commands of the README, plus their parts.
.PHONY: run test deps deps-test build build-release lint test-rust test-browser

## Install what is missing, build in release mode, start balancer + two nodes.
run: deps build-release
	scripts/run.sh

## Every test: formatting, lints, Rust tests, browser tests.
test: deps-test lint test-rust test-browser

deps:
	scripts/install-deps.sh

deps-test:
	scripts/install-deps.sh --browser

build:
	cargo build --workspace --bins

build-release:
	cargo build --release --workspace --bins

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-rust:
	cargo test --workspace

test-browser: build
	cd app-node/web && REEL_NODE_BIN=$(CURDIR)/target/debug/reel-node npm test
