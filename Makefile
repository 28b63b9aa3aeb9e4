# Otedama: build, install, test and package the node.
#
#   make build                      release build of otedama-node
#   sudo make install               binary, man pages, shell completions, example config
#   make install PREFIX=/opt/otedama DESTDIR=$PWD/pkg
#   make test                       the whole test suite (scripts/test.sh)
#   make devnet                     a local devnet (litecoind on regtest, a node, two miners)
#   make dist                       dist/otedama-VERSION-ARCH-linux.tar.gz, stripped
#   make lint                       rustfmt, clippy and the deployment files' linters
#
# Cargo honours CARGO_TARGET_DIR; so does this file.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
DOCDIR ?= $(DATADIR)/doc/otedama

CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
RELEASE_BIN := $(TARGET_DIR)/release/otedama-node
RELEASE_GEN := $(TARGET_DIR)/release/otedama-gen
DIST_BIN := $(TARGET_DIR)/dist/otedama-node
DIST_GEN := $(TARGET_DIR)/dist/otedama-gen
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ARCH := $(shell uname -m)
DIST_NAME := otedama-$(VERSION)-$(ARCH)-linux
DEVNET_ARGS ?=

.PHONY: all build install uninstall test devnet dist lint clean-dist help

all: build

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

build:
	$(CARGO) build --locked --release -p otedama-node

# `make install` uses the binary `make build` made and builds it only if it is missing, so that
# `make build && sudo make install` needs no Rust toolchain as root.
$(RELEASE_BIN) $(RELEASE_GEN):
	$(CARGO) build --locked --release -p otedama-node

# Man pages and completions are rendered from the node's own clap definitions by
# `otedama-gen`, a packaging helper built beside it, so they always match its --help.
define generate
	rm -rf $(2)
	mkdir -p $(2)/man $(2)/completions
	$(1) man --out-dir $(2)/man
	$(1) completions bash > $(2)/completions/otedama-node.bash
	$(1) completions zsh > $(2)/completions/_otedama-node
	$(1) completions fish > $(2)/completions/otedama-node.fish
endef

# The generated files go to a temporary directory, so that `sudo make install` leaves nothing
# owned by root in the build tree.
install: $(RELEASE_BIN) $(RELEASE_GEN)
	@set -e; gen=$$(mktemp -d); trap 'rm -rf "$$gen"' EXIT; \
	$(RELEASE_GEN) man --out-dir "$$gen/man"; \
	$(RELEASE_GEN) completions bash > "$$gen/otedama-node.bash"; \
	$(RELEASE_GEN) completions zsh > "$$gen/_otedama-node"; \
	$(RELEASE_GEN) completions fish > "$$gen/otedama-node.fish"; \
	set -x; \
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(BINDIR)/otedama-node; \
	install -d $(DESTDIR)$(MANDIR)/man1; \
	install -m 0644 "$$gen"/man/*.1 $(DESTDIR)$(MANDIR)/man1/; \
	install -D -m 0644 "$$gen/otedama-node.bash" $(DESTDIR)$(DATADIR)/bash-completion/completions/otedama-node; \
	install -D -m 0644 "$$gen/_otedama-node" $(DESTDIR)$(DATADIR)/zsh/site-functions/_otedama-node; \
	install -D -m 0644 "$$gen/otedama-node.fish" $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/otedama-node.fish; \
	install -D -m 0644 config.example.yaml $(DESTDIR)$(DOCDIR)/config.example.yaml

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/otedama-node $(DESTDIR)$(MANDIR)/man1/otedama-node.1 $(DESTDIR)$(MANDIR)/man1/otedama-node-*.1
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/otedama-node $(DESTDIR)$(DATADIR)/zsh/site-functions/_otedama-node
	rm -f $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/otedama-node.fish
	rm -rf $(DESTDIR)$(DOCDIR)

test:
	scripts/test.sh

devnet:
	$(CARGO) run --locked --release -p otedama-node -- devnet $(DEVNET_ARGS)

# The `dist` cargo profile: the stripped, link-time optimised release build.
dist:
	$(CARGO) build --locked --profile dist -p otedama-node
	rm -rf dist/$(DIST_NAME) dist/$(DIST_NAME).tar.gz
	$(call generate,$(DIST_GEN),dist/$(DIST_NAME))
	install -D -m 0755 $(DIST_BIN) dist/$(DIST_NAME)/otedama-node
	install -m 0644 config.example.yaml LICENSE README.md dist/$(DIST_NAME)/
	tar -C dist --owner=0 --group=0 --sort=name -czf dist/$(DIST_NAME).tar.gz $(DIST_NAME)
	@echo "dist/$(DIST_NAME).tar.gz: $$(du -h dist/$(DIST_NAME).tar.gz | cut -f1) (binary $$(du -h $(DIST_BIN) | cut -f1))"
	@cd dist && sha256sum $(DIST_NAME).tar.gz | tee $(DIST_NAME).tar.gz.sha256

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	scripts/lint-deploy.sh

clean-dist:
	rm -rf dist
