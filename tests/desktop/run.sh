#!/usr/bin/env bash
# The desktop end-to-end test: builds the interface and the debug app, then
# drives two real Belfry windows (each on its own Xvfb display, D-Bus session
# and Secret Service) through tauri-driver against a real relay.
# Usage: tests/desktop/run.sh        (screenshots go to target/e2e-screenshots)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh
belfry_install_desktop_build_deps
belfry_install_desktop_test_deps

# scripts/test.sh has built the interface already.
[ "${BELFRY_UI_BUILT:-}" = 1 ] || belfry_build_ui
echo "==> belfry-desktop, belfry-relay, belfry-admin (debug)"
cargo build --quiet -p belfry-desktop -p belfry-relay -p belfry-admin
rm -rf target/e2e-screenshots
echo "==> two windows, one relay"
node --test --test-reporter=spec tests/desktop/e2e.test.mjs
