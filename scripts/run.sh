#!/usr/bin/env bash
# Runs Belfry as far as it exists today, on a fresh Debian/Ubuntu machine:
# IT creates an organisation, invites two people, two devices enroll from the
# invitation files and exchange end-to-end-encrypted messages, and IT signs a
# revocation and a wipe order for one of them.
# Usage: ./scripts/run.sh            (scratch files go to a new temp directory)
#        BELFRY_DEMO_DIR=DIR ./scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup, toolchain >= 1.89) first" >&2; exit 1; }

echo "==> building belfry-admin and the demo"
cargo build --quiet -p belfry-admin -p belfry-crypto --example demo
ADMIN="$PWD/target/debug/belfry-admin"
DEMO_BIN="$PWD/target/debug/examples/demo"

DEMO=${BELFRY_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/belfry-demo.XXXXXX")}
mkdir -p "$DEMO"
ORG="$DEMO/org"
# Demo only: a real organisation's passphrase comes from a prompt.
export BELFRY_ORG_PASSPHRASE="demo passphrase, never for a real organisation"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "A stand-in relay CA (belfry-relay init will make the real one)"
openssl req -x509 -newkey ed25519 -nodes -days 30 -subj "/CN=Belfry demo relay CA" \
  -keyout "$DEMO/relay-ca.key" -out "$DEMO/relay-ca.pem" 2>/dev/null
echo "$DEMO/relay-ca.pem"

step "IT creates the organisation key (belfry-admin org init)"
"$ADMIN" --dir "$ORG" org init --name "Demo Ministry of Foreign Affairs"
ORG_KEY=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' "$ORG/org.json")

step "IT invites Alice (file + QR code for her laptop)"
"$ADMIN" --dir "$ORG" invite --user alice.martin --name "Alice Martin" \
  --relay wss://relay.demo.invalid:7443 --relay-ca "$DEMO/relay-ca.pem" --out "$DEMO/alice.belfry-invite"

step "IT invites Bob (file only)"
"$ADMIN" --dir "$ORG" invite --user bob.okafor --name "Bob Okafor" --no-qr \
  --relay wss://relay.demo.invalid:7443 --relay-ca "$DEMO/relay-ca.pem" --out "$DEMO/bob.belfry-invite"

step "Anyone can check an invitation against the organisation key (belfry-admin verify)"
"$ADMIN" --dir "$ORG" verify "$DEMO/alice.belfry-invite"

step "Two devices enroll from the invitations and talk (belfry-crypto, in one process until the relay exists)"
"$DEMO_BIN" "$ORG_KEY" "$DEMO/alice.belfry-invite" "$DEMO/bob.belfry-invite" | tee "$DEMO/demo.log"
BOB_DEVICE=$(sed -n 's/^bob-device //p' "$DEMO/demo.log")

step "Bob's laptop is lost: IT revokes it and orders a wipe"
"$ADMIN" --dir "$ORG" revoke --device "$BOB_DEVICE" --reason "Laptop lost in transit" --out "$DEMO/revoke-bob.belfry-statement"
"$ADMIN" --dir "$ORG" wipe --device "$BOB_DEVICE" --out "$DEMO/wipe-bob.belfry-statement"
"$ADMIN" --dir "$ORG" verify "$DEMO/wipe-bob.belfry-statement"

step "Done. Everything above is in $DEMO"
