#!/usr/bin/env bash
# Runs Belfry on a fresh Debian/Ubuntu machine: builds the desktop app and
# opens it, enrolled into a local demo organisation with its own private
# relay on loopback, beside two demo colleagues (headless `belfry` profiles)
# who write in a RESTRICTED group room and answer what you write there.
# Without a display it says so and runs the terminal demo instead.
# Usage: ./scripts/run.sh            the desktop app
#        ./scripts/run.sh --cli      the terminal demo (scripts/demo-cli.sh)
#        BELFRY_DEMO_DIR=DIR ./scripts/run.sh   (scratch files in DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--cli" ]; then
  exec ./scripts/demo-cli.sh
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display here (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop app cannot open."
  echo "Running the terminal demo instead (the same as ./scripts/run.sh --cli)."
  exec ./scripts/demo-cli.sh
fi

# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh
# shellcheck source=scripts/lib/demo.sh
source scripts/lib/demo.sh
belfry_install_desktop_build_deps

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "Building the interface (npm ci, vite) and the app, relay, admin tool and CLI (debug)"
belfry_build_ui
cargo build --quiet -p belfry-desktop -p belfry-admin -p belfry-relay -p belfry-client
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug"

DEMO=${BELFRY_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/belfry-desktop-demo.XXXXXX")}
mkdir -p "$DEMO"
ORG="$DEMO/org"
# Demo only: real passphrases come from a prompt or the OS keychain.
export BELFRY_ORG_PASSPHRASE="demo passphrase, never for a real organisation"
export CLAIRE_PASS="claire demo passphrase" JAN_PASS="jan demo passphrase" SOFIA_PASS="sofia demo passphrase"
claire() { "$BIN/belfry" --profile "$DEMO/claire" --passphrase-env CLAIRE_PASS "$@"; }
jan() { "$BIN/belfry" --profile "$DEMO/jan" --passphrase-env JAN_PASS "$@"; }
sofia() { "$BIN/belfry" --profile "$DEMO/sofia" --passphrase-env SOFIA_PASS "$@"; }

step "IT creates the organisation and its relay"
"$BIN/belfry-admin" --dir "$ORG" org init --name "Demo Ministry of Foreign Affairs" >/dev/null
ORG_KEY=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' "$ORG/org.json")
"$BIN/belfry-relay" init --dir "$DEMO/relay" --name localhost --listen 127.0.0.1:0 --org-key "$ORG_KEY" >/dev/null
belfry_demo_start_relay "$BIN/belfry-relay" "$DEMO/relay" "$DEMO"
PIDS=("$RELAY_PID")
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; }
trap cleanup EXIT

step "IT invites Claire Dubois (you, on the desktop) and two colleagues; all three enroll"
for who in "claire.dubois:Claire Dubois:claire:Ministry laptop" "jan.devries:Jan de Vries:jan:Office laptop" \
  "sofia.rossi:Sofia Rossi:sofia:Travel laptop"; do
  IFS=: read -r id name short device <<<"$who"
  "$BIN/belfry-admin" --dir "$ORG" invite --user "$id" --name "$name" --no-qr \
    --relay "$RELAY_URL" --relay-ca "$DEMO/relay/ca.pem" --out "$DEMO/$short.belfry-invite" >/dev/null
  "$BIN/belfry-relay" register --dir "$DEMO/relay" "$DEMO/$short.belfry-registration" >/dev/null
  "$short" enroll "$DEMO/$short.belfry-invite" --org-key "$ORG_KEY" --device-name "$device" >/dev/null
  echo "enrolled $name ($device)"
done
for device_file in "$DEMO"/*.belfry-device; do
  "$BIN/belfry-admin" --dir "$ORG" confirm "$device_file" --out "$device_file.confirm" >/dev/null
  "$BIN/belfry-relay" statement --dir "$DEMO/relay" "$device_file.confirm" >/dev/null
done

step "Jan opens a RESTRICTED group with Claire and Sofia; they write"
jan create --group "Crisis cell" --member claire.dubois --member sofia.rossi >/dev/null
jan label "Crisis cell" RESTRICTED >/dev/null
jan send "Crisis cell" "The consular team is ready. We need the final passenger list two hours before boarding." >/dev/null
sofia send "Crisis cell" "Draft list attached in the next hour. The embassy confirms 42 nationals so far." >/dev/null
jan send "Crisis cell" "Claire, can you prepare a one-page briefing for the minister by 16:30?" >/dev/null
sofia create --direct claire.dubois >/dev/null
sofia send "sofia.rossi and claire.dubois" "Are you free for a call at 15:00?" >/dev/null

# Claire's laptop fetches what they wrote before the app opens.
claire rooms >/dev/null

step "Jan stays online and answers what you write in the Crisis cell"
mkfifo "$DEMO/jan.in"
exec 3<>"$DEMO/jan.in"
answers=("Noted, thank you." "Agreed. I will tell the embassy." "Good. Let us keep everything in this room."
  "Understood; I will come back to you within the hour.")
(
  n=0
  jan --json chat "Crisis cell" <&3 2>>"$DEMO/jan.log" | while IFS= read -r line; do
    case $line in
      *'"sender":"claire.dubois"'*)
        sleep 2
        echo "${answers[$((n % ${#answers[@]}))]}" >"$DEMO/jan.in"
        n=$((n + 1))
        ;;
    esac
  done
) &
PIDS+=($!)

step "Opening Belfry. Unlock with the passphrase: $CLAIRE_PASS"
echo "(Everything is in $DEMO; close the window to stop the demo.)"
BELFRY_ORG_KEY="$ORG_KEY" BELFRY_ORG_NAME="Demo Ministry of Foreign Affairs" "$BIN/belfry-desktop" --profile "$DEMO/claire"
