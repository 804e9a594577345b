#!/bin/sh
# Builds target/debian/scoped_VERSION_ARCH.deb: the release binary, the man page and shell
# completions generated from it (clap), the packaged configuration, the systemd unit.
# Installs cargo-deb from crates.io first if it is missing.
set -eu
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi

cargo build --release --bin scoped
generated=target/packaging
mkdir -p "$generated"
rm -rf "$generated/man"
target/release/scoped man "$generated/man"
gzip -9nf "$generated"/man/*.8
target/release/scoped completions bash > "$generated/scoped.bash"
target/release/scoped completions zsh > "$generated/_scoped"
target/release/scoped completions fish > "$generated/scoped.fish"

cargo deb --no-build --strip -p scoped "$@"
