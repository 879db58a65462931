#!/usr/bin/env bash
# Runs Belfry's whole test suite on a fresh Debian/Ubuntu machine, installing
# what it needs first. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh
belfry_install_test_deps
belfry_install_desktop_build_deps
belfry_install_desktop_test_deps

echo "==> install steps: every branch, against fake apt-get, sudo and cargo"
./scripts/check-install.sh

# Snapshots are compared, never rewritten, in a test run.
export INSTA_UPDATE=no
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

belfry_build_ui
export BELFRY_UI_BUILT=1
echo "==> the interface's component tests (Vitest, jsdom; IPC mocked)"
(cd ui && npm test --silent)

echo "==> unit, integration, property and snapshot tests"
cargo nextest run --workspace --no-fail-fast

# ---- belfry-store: the real OS keychain (Secret Service) -------------------
# gnome-keyring under a private D-Bus session, with a scratch HOME, so the
# tests never touch the developer's own keychain.
echo "==> keychain tests against a real Secret Service (gnome-keyring)"
KEYRING_HOME=$(mktemp -d)
mkdir -m700 "$KEYRING_HOME/run"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
env HOME="$KEYRING_HOME" XDG_DATA_HOME="$KEYRING_HOME/data" XDG_RUNTIME_DIR="$KEYRING_HOME/run" \
  dbus-run-session -- sh -c 'echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    cargo nextest run -p belfry-store --run-ignored only -E "test(secret_service)"'
rm -rf "$KEYRING_HOME"

echo "==> the desktop app end to end: two real windows under Xvfb, one relay"
./tests/desktop/run.sh

echo "==> fuzz targets build (run them with cargo-fuzz, see fuzz/README.md)"
CARGO_TARGET_DIR="$PWD/target/fuzz" cargo build --manifest-path fuzz/Cargo.toml --bins --quiet

# Type-checked only: a release build of every benchmark cost CI minutes and
# finds nothing a check does not.
echo "==> benchmarks compile (run them with: cargo bench -p belfry-crypto)"
cargo check --benches --workspace --quiet
