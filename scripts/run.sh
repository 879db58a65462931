#!/usr/bin/env bash
# Runs Belfry as far as it exists today, on a fresh Debian/Ubuntu machine:
# IT creates an organisation and a private relay (started on loopback),
# invites two people and registers the invitations with the relay, two
# devices enroll from the invitation files and exchange end-to-end-encrypted
# messages, IT signs a revocation and a wipe order for one of them, and the
# relay shuts down cleanly.
# Usage: ./scripts/run.sh            (scratch files go to a new temp directory)
#        BELFRY_DEMO_DIR=DIR ./scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup, toolchain >= 1.89) first" >&2; exit 1; }

echo "==> building belfry-admin, belfry-relay and the demo"
cargo build --quiet -p belfry-admin -p belfry-relay -p belfry-crypto --example demo
ADMIN="$PWD/target/debug/belfry-admin"
RELAY="$PWD/target/debug/belfry-relay"
DEMO_BIN="$PWD/target/debug/examples/demo"

DEMO=${BELFRY_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/belfry-demo.XXXXXX")}
mkdir -p "$DEMO"
ORG="$DEMO/org"
# Demo only: a real organisation's passphrase comes from a prompt.
export BELFRY_ORG_PASSPHRASE="demo passphrase, never for a real organisation"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "IT creates the organisation key (belfry-admin org init)"
"$ADMIN" --dir "$ORG" org init --name "Demo Ministry of Foreign Affairs"
ORG_KEY=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' "$ORG/org.json")

step "IT creates the relay: a private CA, a TLS certificate, relay.toml (belfry-relay init)"
"$RELAY" init --dir "$DEMO/relay" --name localhost --listen 127.0.0.1:0 --org-key "$ORG_KEY"

step "The relay starts (TLS 1.3 only, X25519MLKEM768 preferred; logs in $DEMO/relay.log)"
"$RELAY" serve --dir "$DEMO/relay" >"$DEMO/relay.out" 2>"$DEMO/relay.log" &
RELAY_PID=$!
trap 'kill $RELAY_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$DEMO/relay.out" 2>/dev/null && break
  sleep 0.1
done
RELAY_URL=$(sed -n 's|^belfry-relay listening on \(wss://[^/]*\)/v1/ws$|\1|p' "$DEMO/relay.out" | sed 's|127.0.0.1|localhost|')
[ -n "$RELAY_URL" ] || { echo "the relay did not start:"; cat "$DEMO/relay.log"; exit 1; }
echo "relay at $RELAY_URL"

step "IT invites Alice (file + QR code for her laptop)"
"$ADMIN" --dir "$ORG" invite --user alice.martin --name "Alice Martin" \
  --relay "$RELAY_URL" --relay-ca "$DEMO/relay/ca.pem" --out "$DEMO/alice.belfry-invite"

step "IT invites Bob (file only)"
"$ADMIN" --dir "$ORG" invite --user bob.okafor --name "Bob Okafor" --no-qr \
  --relay "$RELAY_URL" --relay-ca "$DEMO/relay/ca.pem" --out "$DEMO/bob.belfry-invite"

step "IT registers both invitations with the relay (the .belfry-registration files hold no secret)"
"$RELAY" register --dir "$DEMO/relay" "$DEMO/alice.belfry-registration" "$DEMO/bob.belfry-registration"

step "Anyone can check an invitation against the organisation key (belfry-admin verify)"
"$ADMIN" --dir "$ORG" verify "$DEMO/alice.belfry-invite"

step "Two devices enroll from the invitations and talk (belfry-crypto, in one process until the relay exists)"
"$DEMO_BIN" "$ORG_KEY" "$DEMO/alice.belfry-invite" "$DEMO/bob.belfry-invite" | tee "$DEMO/demo.log"
BOB_DEVICE=$(sed -n 's/^bob-device //p' "$DEMO/demo.log")

step "Bob's laptop is lost: IT revokes it and orders a wipe"
"$ADMIN" --dir "$ORG" revoke --device "$BOB_DEVICE" --reason "Laptop lost in transit" --out "$DEMO/revoke-bob.belfry-statement"
"$ADMIN" --dir "$ORG" wipe --device "$BOB_DEVICE" --out "$DEMO/wipe-bob.belfry-statement"
"$ADMIN" --dir "$ORG" verify "$DEMO/wipe-bob.belfry-statement"

step "The relay operator distributes both statements to every device"
"$RELAY" statement --dir "$DEMO/relay" "$DEMO/revoke-bob.belfry-statement" "$DEMO/wipe-bob.belfry-statement"

step "The relay stops cleanly on SIGTERM"
kill -TERM $RELAY_PID
wait $RELAY_PID && echo "relay exited cleanly"
trap - EXIT

step "Done. Everything above is in $DEMO"
