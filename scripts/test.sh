#!/usr/bin/env bash
# Runs Belfry's whole test suite on a fresh Debian/Ubuntu machine, installing
# what it needs first. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v c++ >/dev/null || need_apt+=(g++)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (rustup, toolchain >= 1.89) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# Snapshots are compared, never rewritten, in a test run.
export INSTA_UPDATE=no
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "==> unit, integration, property and snapshot tests"
cargo nextest run --workspace --no-fail-fast

# ---- belfry-store: the real OS keychain (Secret Service) -------------------
# gnome-keyring under a private D-Bus session, with a scratch HOME, so the
# tests never touch the developer's own keychain.
if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null; then
  echo "==> installing the Secret Service for the keychain tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnome-keyring dbus dbus-x11
fi
echo "==> keychain tests against a real Secret Service (gnome-keyring)"
KEYRING_HOME=$(mktemp -d)
mkdir -m700 "$KEYRING_HOME/run"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
env HOME="$KEYRING_HOME" XDG_DATA_HOME="$KEYRING_HOME/data" XDG_RUNTIME_DIR="$KEYRING_HOME/run" \
  dbus-run-session -- sh -c 'echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    cargo nextest run -p belfry-store --run-ignored only -E "test(secret_service)"'
rm -rf "$KEYRING_HOME"

echo "==> fuzz targets build (run them with cargo-fuzz, see fuzz/README.md)"
CARGO_TARGET_DIR="$PWD/target/fuzz" cargo build --manifest-path fuzz/Cargo.toml --bins --quiet

echo "==> benchmarks build (run them with: cargo bench -p belfry-crypto)"
cargo build --benches --workspace --quiet
