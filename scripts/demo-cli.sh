#!/usr/bin/env bash
# The terminal demo (./scripts/run.sh --cli, or ./scripts/run.sh on a
# machine without a display): IT creates an organisation and a private relay (started on loopback),
# invites three people and registers the invitations with the relay; three
# laptops enroll with the `belfry` client and talk in an end-to-end-encrypted
# group room through the relay; IT revokes and wipes one laptop, which erases
# itself when it next connects; the relay shuts down cleanly.
# Usage: ./scripts/run.sh --cli      (scratch files go to a new temp directory)
#        BELFRY_DEMO_DIR=DIR ./scripts/run.sh --cli
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh
# shellcheck source=scripts/lib/demo.sh
source scripts/lib/demo.sh
belfry_install_run_deps

echo "==> building belfry-admin, belfry-relay and belfry (the client)"
cargo build --quiet -p belfry-admin -p belfry-relay -p belfry-client
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug"
ADMIN="$BIN/belfry-admin"
RELAY="$BIN/belfry-relay"
BELFRY="$BIN/belfry"

DEMO=${BELFRY_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/belfry-demo.XXXXXX")}
mkdir -p "$DEMO"
ORG="$DEMO/org"
# Demo only: real passphrases come from a prompt or the OS keychain.
export BELFRY_ORG_PASSPHRASE="demo passphrase, never for a real organisation"
export ALICE_PASS="alice demo passphrase" BOB_PASS="bob demo passphrase" CAROL_PASS="carol demo passphrase"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# The client keeps its store key in the OS keychain by default; the demo uses
# passphrase mode so it also runs on a machine without a desktop session.
alice() { "$BELFRY" --profile "$DEMO/alice" --passphrase-env ALICE_PASS "$@"; }
bob() { "$BELFRY" --profile "$DEMO/bob" --passphrase-env BOB_PASS "$@"; }
carol() { "$BELFRY" --profile "$DEMO/carol" --passphrase-env CAROL_PASS "$@"; }

step "IT creates the organisation key (belfry-admin org init)"
"$ADMIN" --dir "$ORG" org init --name "Demo Ministry of Foreign Affairs"
ORG_KEY=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' "$ORG/org.json")

step "IT creates the relay: a private CA, a TLS certificate, relay.toml (belfry-relay init)"
"$RELAY" init --dir "$DEMO/relay" --name localhost --listen 127.0.0.1:0 --org-key "$ORG_KEY"

step "The relay starts (TLS 1.3 only, post-quantum X25519MLKEM768 required; logs in $DEMO/relay.log)"
belfry_demo_start_relay "$RELAY" "$DEMO/relay" "$DEMO"
trap 'kill $RELAY_PID 2>/dev/null || true' EXIT

step "IT invites Alice (file + QR code for her laptop), Bob and Carol"
"$ADMIN" --dir "$ORG" invite --user alice.martin --name "Alice Martin" \
  --relay "$RELAY_URL" --relay-ca "$DEMO/relay/ca.pem" --out "$DEMO/alice.belfry-invite"
for who in "bob.okafor:Bob Okafor:bob" "carol.ng:Carol Ng:carol"; do
  IFS=: read -r id name short <<<"$who"
  "$ADMIN" --dir "$ORG" invite --user "$id" --name "$name" --no-qr \
    --relay "$RELAY_URL" --relay-ca "$DEMO/relay/ca.pem" --out "$DEMO/$short.belfry-invite" >/dev/null
  echo "Invitation for $name: $DEMO/$short.belfry-invite"
done

step "Anyone can check an invitation against the organisation key (belfry-admin verify)"
"$ADMIN" --dir "$ORG" verify "$DEMO/alice.belfry-invite"

step "IT registers the invitations with the relay (the .belfry-registration files hold no secret)"
"$RELAY" register --dir "$DEMO/relay" "$DEMO"/*.belfry-registration

step "Three laptops enroll from their invitations (belfry enroll)"
alice enroll "$DEMO/alice.belfry-invite" --org-key "$ORG_KEY" --device-name "Travel laptop"
bob enroll "$DEMO/bob.belfry-invite" --org-key "$ORG_KEY" --device-name "Office laptop" | tee "$DEMO/bob-enroll.log"
carol enroll "$DEMO/carol.belfry-invite" --org-key "$ORG_KEY" --device-name "Laptop"
BOB_DEVICE=$(sed -n 's/^Enrolled \([^ ]*\) with.*/\1/p' "$DEMO/bob-enroll.log")

step "IT confirms each enrolled device from its .belfry-device file (after comparing fingerprints); the relay distributes the confirmations"
for device_file in "$DEMO"/*.belfry-device; do
  "$ADMIN" --dir "$ORG" confirm "$device_file" --out "$device_file.confirm" | grep -v '^$' | head -n 3
  "$RELAY" statement --dir "$DEMO/relay" "$device_file.confirm"
done

step "Alice opens a group room with Bob and Carol and writes (end-to-end encrypted through the relay)"
alice create --group "Crisis cell" --member bob.okafor --member carol.ng
alice send "Crisis cell" "The draft communiqué is ready."
alice send "Crisis cell" "Meeting moved to 15:00."

step "Bob reads and answers; Carol reads everything"
bob read "Crisis cell"
bob send "Crisis cell" "Read it. Two changes in paragraph 3."
carol read "Crisis cell"

step "Search runs inside each laptop's encrypted store"
carol search "communiqué"

step "Alice shares a file: encrypted on her laptop under a fresh key; the relay only ever holds ciphertext"
printf 'Annex B: evacuation routes and assembly points (demo file)\n' > "$DEMO/annex-b.txt"
FILE_ID=$(alice --json send-file "Crisis cell" "$DEMO/annex-b.txt" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
[ -n "$FILE_ID" ] || { echo "the file was not sent" >&2; exit 1; }
echo "sent annex-b.txt as message $FILE_ID"
carol read "Crisis cell"
mkdir -p "$DEMO/carol-downloads"
carol get-file "$FILE_ID" "$DEMO/carol-downloads"
cmp "$DEMO/annex-b.txt" "$DEMO/carol-downloads/annex-b.txt" && echo "Carol's copy is identical (its hash was checked before decrypting)"

step "Alice and Bob verify each other's laptops in person: the same seven emoji on both screens"
bob verify --incoming --yes > "$DEMO/bob-verify.log" 2>&1 &
BOB_VERIFY=$!
sleep 1
alice verify bob.okafor --yes
wait $BOB_VERIFY && sed 's/^/  (Bob'"'"'s screen) /' "$DEMO/bob-verify.log"

step "Alice sees the devices of Bob's account (now verified in person)"
alice devices bob.okafor

step "Alice's laptop: who it is, and what protects its data"
alice status

step "Bob's laptop is lost: IT revokes it and orders a wipe; the relay distributes both"
"$ADMIN" --dir "$ORG" revoke --device "$BOB_DEVICE" --reason "Laptop lost in transit" --out "$DEMO/revoke-bob.belfry-statement"
"$ADMIN" --dir "$ORG" wipe --device "$BOB_DEVICE" --out "$DEMO/wipe-bob.belfry-statement" >/dev/null
"$RELAY" statement --dir "$DEMO/relay" "$DEMO/revoke-bob.belfry-statement" "$DEMO/wipe-bob.belfry-statement"

step "Alice learns of it and writes again: Bob's lost laptop gets no key for it"
alice send "Crisis cell" "Bob's laptop is gone; keep to this room."
carol read "Crisis cell" --limit 1

step "When the lost laptop next connects, it erases itself"
bob rooms && { echo "the wiped laptop still works: this is a bug" >&2; exit 1; } || true
echo "files left in Bob's profile: $(find "$DEMO/bob" -type f | wc -l)"

step "The relay stops cleanly on SIGTERM"
kill -TERM $RELAY_PID
wait $RELAY_PID && echo "relay exited cleanly"
trap - EXIT

step "Done. Everything above is in $DEMO"
