# The two commands of the set-up contract: `make demo` and `make test`.
# Both install what they need themselves: the pinned npm toolchain (anvil, solc) into
# ./node_modules, and Rust crates through cargo.

SHELL := /bin/bash
# Builds live outside the clone so they survive between sessions; override as you like.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/photon-target
# The dev chain binary from the pinned npm package (the npm shim costs 50–200 ms per start).
export PATH := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin:$(PATH)

NEXTEST := $(shell command -v cargo-nextest 2>/dev/null)

.PHONY: demo test test-ui ui-screenshots chromium litecoind netns python schemathesis static-check dist bindings toolchain contracts check-contracts fmt lint bench-gas bench-transfers bench-mobile

## demo: the whitepaper's Alice/Bob/Charlie example on a local dev chain, every number checked.
demo: toolchain
	cargo build -q -p photon-node -p photon-testkit --bins
	RUST_LOG=$${RUST_LOG:-warn,alloy_rpc_client=off} $(CARGO_TARGET_DIR)/debug/photon-demo

## test: the whole suite (formatting, lints, API docs, unit, property and contract tests on anvil).
test: toolchain netns python chromium litecoind schemathesis static-check
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace --doc
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
ifneq ($(NEXTEST),)
	cargo nextest run --workspace --profile ci
else
	cargo test --workspace
endif

## test-ui: the web dashboard's test alone: Playwright drives Chromium through the pages of
## three nodes on anvil (crates/photon-node/tests/ui.rs and tests/ui/).
test-ui: toolchain chromium
	cargo test -p photon-node --test ui

## ui-screenshots: the same test, saving its screenshots of every page into docs/ui/.
ui-screenshots: toolchain chromium
	PHOTON_UI_SCREENSHOTS=$(CURDIR)/docs/ui cargo test -p photon-node --test ui

## chromium: Debian's Chromium, which the dashboard test drives (Playwright downloads no
## browser here).
chromium:
	@command -v chromium >/dev/null \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium is missing: the dashboard test will fail"

## litecoind: Debian's Litecoin Core, which the swap contract's test runs in regtest (offline,
## on 127.0.0.1).
litecoind:
	@command -v litecoind >/dev/null \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq litecoind >/dev/null; } \
		|| echo "litecoind is missing: the swap contract's test will fail"

## netns: iproute2 and nftables, for the tests that build networks from network namespaces
## (a two-host LAN; a simulated internet with NAT routers). They need root;
## PHOTON_SKIP_NETNS=1 skips them elsewhere.
netns:
	@{ command -v ip >/dev/null && command -v nft >/dev/null; } \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq iproute2 nftables >/dev/null; } \
		|| echo "iproute2 or nftables is missing: the network namespace tests will fail (PHOTON_SKIP_NETNS=1 skips them)"

## python: CPython 3, which runs the embedded-node test through the generated bindings.
python:
	@command -v python3 >/dev/null \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq python3 >/dev/null; } \
		|| echo "python3 is missing: the Python bindings test will fail"

## schemathesis: the pinned API fuzzer (scripts/requirements-api-fuzz.txt) in ./.venv, which
## a test runs against a node's OpenAPI document (python3-venv comes from Debian if missing).
schemathesis: .venv/.photon-installed

.venv/.photon-installed: scripts/requirements-api-fuzz.txt
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; } \
		|| echo "python3-venv is missing: the API fuzzing test will fail"
	rm -rf .venv && python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-api-fuzz.txt
	touch $@

# glibc linked into the binary: it runs on any x86_64 Linux (build scripts and proc macros,
# built for the host, are not affected because the target is named)
STATIC := CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"

## static-check: a statically linked `photon` (as `make dist` links it, built fast), which a
## test checks with `ldd`.
static-check:
	$(STATIC) cargo build -q --profile static-check --target x86_64-unknown-linux-gnu -p photon-node --bin photon

## dist: the `photon` that ships: static glibc, fat LTO, stripped
## ($(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/dist/photon).
dist:
	$(STATIC) cargo build --profile dist --target x86_64-unknown-linux-gnu -p photon-node --bin photon
	ldd $(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/dist/photon 2>&1 | grep -Eq "not a dynamic executable|statically linked"
	@ls -l $(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/dist/photon

## bindings: regenerate photon-mobile's committed Kotlin, Swift and Python bindings from the
## built library (a test fails while they are out of date).
bindings:
	cargo build -p photon-mobile -p photon-bindgen
	for lang in kotlin swift python; do \
		rm -rf crates/photon-mobile/bindings/$$lang; \
		$(CARGO_TARGET_DIR)/debug/uniffi-bindgen generate --library \
			$(CARGO_TARGET_DIR)/debug/libphoton_mobile.so --language $$lang \
			--out-dir crates/photon-mobile/bindings/$$lang || exit 1; \
	done

## toolchain: install the pinned anvil, solc and Playwright from package-lock.json into
## ./node_modules (Playwright's browsers are not downloaded: the tests use Debian's chromium).
toolchain: node_modules/.photon-installed

node_modules/.photon-installed: package.json package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil --version | head -1
	touch $@

## contracts: recompile contracts/src into the committed contracts/artifacts.
contracts: toolchain
	node scripts/compile-contracts.mjs

## check-contracts: fail if the committed artifacts differ from a fresh compile.
check-contracts: toolchain
	node scripts/compile-contracts.mjs --check

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## bench-transfers: payments per second and latency between three photon processes.
bench-transfers: toolchain
	cargo build --release -p photon-node -p photon-bench
	$(CARGO_TARGET_DIR)/release/photon-bench transfers

## bench-mobile: the embedded node as a phone runs it (memory, library size, start, storage, resume).
bench-mobile: toolchain
	cargo build --release -p photon-node -p photon-bench -p photon-mobile
	cargo build --profile mobile -p photon-mobile --lib
	$(CARGO_TARGET_DIR)/release/photon-bench mobile

## bench-gas: gas per contract operation (table).
bench-gas: toolchain
	cargo run -p photon-bench -- gas
