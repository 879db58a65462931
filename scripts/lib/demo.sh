# Shared by the two demos (scripts/run.sh, scripts/demo-cli.sh); sourced.

# Starts `belfry-relay serve` for the relay directory $2 (binary $1), logs in
# $3/relay.out and $3/relay.log; sets RELAY_PID and RELAY_URL (wss://localhost:PORT)
# once it listens, or prints its log and fails.
belfry_demo_start_relay() {
  local relay=$1 dir=$2 logs=$3
  "$relay" serve --dir "$dir" >"$logs/relay.out" 2>"$logs/relay.log" &
  RELAY_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$logs/relay.out" 2>/dev/null && break
    sleep 0.1
  done
  RELAY_URL=$(sed -n 's|^belfry-relay listening on \(wss://[^/]*\)/v1/ws$|\1|p' "$logs/relay.out" | sed 's|127.0.0.1|localhost|')
  [ -n "$RELAY_URL" ] || { echo "the relay did not start:"; cat "$logs/relay.log"; return 1; }
  echo "relay at $RELAY_URL"
}
