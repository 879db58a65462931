#!/usr/bin/env bash
# Runs every branch of scripts/lib/install.sh, as root and as another user,
# with each probed tool missing or present, against fake apt-get, sudo and
# cargo commands that record how they were called. It fails when a branch
# would run a command that cannot work (such as `DEBIAN_FRONTEND=... apt-get`
# behind an empty sudo) or installs the wrong thing.
# Usage: ./scripts/check-install.sh   (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
LIB="$PWD/scripts/lib/install.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

# A scratch bin directory: bash, env and fakes, nothing else.
# $1: uid the fake `id -u` reports; $2: which fake cargo ("none", "bare",
# "nextest"); rest: tools that count as installed.
make_bin() {
  local bin="$WORK/bin" uid=$1 cargo=$2
  shift 2
  rm -rf "$bin" && mkdir -p "$bin"
  ln -s "$(command -v bash)" "$bin/bash"
  ln -s "$(command -v env)" "$bin/env"
  printf '#!%s\n[ "$1" = -u ] && echo %s\n' "$(command -v bash)" "$uid" >"$bin/id"
  # apt-get records its arguments and the DEBIAN_FRONTEND it saw.
  printf '#!%s\necho "apt-get $* [DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset}]" >>"%s/calls"\n' \
    "$(command -v bash)" "$WORK" >"$bin/apt-get"
  # sudo records that it was used, then runs the rest as given.
  printf '#!%s\necho "sudo:" >>"%s/calls"\nexec "$@"\n' "$(command -v bash)" "$WORK" >"$bin/sudo"
  case $cargo in
    none) ;;
    bare) printf '#!%s\n[ "$1 $2" = "nextest --version" ] && exit 101\necho "cargo $*" >>"%s/calls"\n' \
            "$(command -v bash)" "$WORK" >"$bin/cargo" ;;
    nextest) printf '#!%s\n[ "$1 $2" = "nextest --version" ] && exit 0\necho "cargo $*" >>"%s/calls"\n' \
            "$(command -v bash)" "$WORK" >"$bin/cargo" ;;
  esac
  # dpkg-query knows the packages listed in $WORK/pkgs (set by `with_pkgs`).
  printf '#!%s\ngrep -qx "$3" "%s/pkgs" 2>/dev/null && echo "install ok installed"\nexit 0\n' \
    "$(command -v bash)" "$WORK" >"$bin/dpkg-query"
  ln -s "$(command -v grep)" "$bin/grep"
  for tool in "$@"; do printf '#!/bin/sh\n' >"$bin/$tool"; done
  chmod +x "$bin"/*
}

# $1: case name; $2: function to run; $3: expected exit status; then the
# expected calls, one per argument.
check() {
  local name=$1 fn=$2 want_status=$3
  shift 3
  rm -f "$WORK/calls" && touch "$WORK/calls"
  local status=0
  env -i PATH="$WORK/bin" HOME="$WORK" "$WORK/bin/bash" -c "set -euo pipefail; source '$LIB'; $fn" \
    >"$WORK/out" 2>&1 || status=$?
  local want
  want=$(printf '%s\n' "$@")
  if [ "$status" != "$want_status" ] || [ "$(cat "$WORK/calls")" != "$want" ]; then
    echo "FAIL $name: exit $status (want $want_status)"
    echo "  calls:"; sed 's/^/    /' "$WORK/calls"
    echo "  wanted:"; printf '    %s\n' "$@"
    echo "  output:"; sed 's/^/    /' "$WORK/out"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

ALL_TEST=(cc c++ pkg-config gnome-keyring-daemon dbus-run-session)
TEST_PKGS="build-essential g++ pkg-config gnome-keyring dbus dbus-x11"
UPDATE="apt-get update -qq [DEBIAN_FRONTEND=unset]"
INSTALL="apt-get install -y -qq"
FRONTEND="[DEBIAN_FRONTEND=noninteractive]"

make_bin 0 bare
check "test deps, nothing installed, root" belfry_install_test_deps 0 \
  "$UPDATE" "$INSTALL $TEST_PKGS $FRONTEND" "cargo install cargo-nextest --locked"
make_bin 1000 bare
check "test deps, nothing installed, not root (sudo)" belfry_install_test_deps 0 \
  "sudo:" "$UPDATE" "sudo:" "$INSTALL $TEST_PKGS $FRONTEND" "cargo install cargo-nextest --locked"
make_bin 0 nextest cc c++ pkg-config dbus-run-session
check "test deps, only the keyring missing" belfry_install_test_deps 0 \
  "$UPDATE" "$INSTALL gnome-keyring $FRONTEND"
make_bin 1000 nextest "${ALL_TEST[@]}"
check "test deps, everything installed" belfry_install_test_deps 0
make_bin 0 none "${ALL_TEST[@]}"
check "test deps, no cargo" belfry_install_test_deps 1

make_bin 0 none
check "run deps, no compiler, no cargo" belfry_install_run_deps 1 \
  "$UPDATE" "$INSTALL build-essential $FRONTEND"
make_bin 1000 bare
check "run deps, no compiler, not root" belfry_install_run_deps 0 \
  "sudo:" "$UPDATE" "sudo:" "$INSTALL build-essential $FRONTEND"
make_bin 1000 bare cc
check "run deps, everything installed" belfry_install_run_deps 0

# The packages dpkg reports as installed, for the next checks.
with_pkgs() { printf '%s\n' "$@" >"$WORK/pkgs"; }

DESK_PKGS="libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev"
with_pkgs
make_bin 0 bare
check "desktop build deps, nothing installed, root" belfry_install_desktop_build_deps 0 \
  "$UPDATE" "$INSTALL build-essential pkg-config $DESK_PKGS nodejs npm $FRONTEND"
with_pkgs libwebkit2gtk-4.1-dev libxdo-dev libssl-dev librsvg2-dev
make_bin 1000 bare cc pkg-config node npm
check "desktop build deps, only the tray library missing, not root" belfry_install_desktop_build_deps 0 \
  "sudo:" "$UPDATE" "sudo:" "$INSTALL libayatana-appindicator3-dev $FRONTEND"
with_pkgs $DESK_PKGS
make_bin 0 bare cc pkg-config node
check "desktop build deps, npm missing" belfry_install_desktop_build_deps 0 \
  "$UPDATE" "$INSTALL npm $FRONTEND"
make_bin 0 bare cc pkg-config node npm
check "desktop build deps, everything installed" belfry_install_desktop_build_deps 0
make_bin 0 none cc pkg-config node npm
check "desktop build deps, no cargo" belfry_install_desktop_build_deps 1

make_bin 0 bare
check "desktop test deps, nothing installed, root" belfry_install_desktop_test_deps 0 \
  "$UPDATE" "$INSTALL xvfb xauth webkit2gtk-driver xdotool gnome-keyring dbus dbus-x11 $FRONTEND" \
  "cargo install tauri-driver --version ^2 --locked"
make_bin 1000 bare Xvfb xauth WebKitWebDriver xdotool gnome-keyring-daemon dbus-run-session
check "desktop test deps, only tauri-driver missing, not root" belfry_install_desktop_test_deps 0 \
  "cargo install tauri-driver --version ^2 --locked"
make_bin 0 bare Xvfb xauth WebKitWebDriver xdotool gnome-keyring-daemon dbus-run-session tauri-driver
check "desktop test deps, everything installed" belfry_install_desktop_test_deps 0

if [ "$failures" -ne 0 ]; then
  echo "install script checks: $failures failed" >&2
  exit 1
fi
echo "install script checks: all passed"
