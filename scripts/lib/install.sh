# Shared install steps for scripts/run.sh and scripts/test.sh (sourced, not run).
#
# Each script says what it needs; these functions install only what is
# missing. scripts/check-install.sh runs every branch of them against fake
# apt-get, sudo and cargo commands, so a branch that a developer's machine
# never takes still runs in every test run.

# Runs a command as root: directly when we are root, through sudo otherwise.
# Environment settings go through `env`, so they work in both cases (a bare
# `VAR=value cmd` after an empty $SUDO would be taken as a command name).
belfry_as_root() {
  local cmd=("$@")
  if [ "$(id -u)" -ne 0 ]; then
    cmd=(sudo "${cmd[@]}")
  fi
  "${cmd[@]}"
}

# Installs Debian packages (once apt's lists are fresh).
belfry_apt_install() {
  [ $# -gt 0 ] || return 0
  echo "==> installing system packages: $*"
  belfry_as_root apt-get update -qq
  belfry_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

belfry_need_cargo() {
  if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (rustup, toolchain >= 1.89) first" >&2
    return 1
  fi
}

# What ./scripts/run.sh needs: a C compiler (SQLCipher, OpenSSL) and cargo.
belfry_install_run_deps() {
  local need=()
  command -v cc >/dev/null || need+=(build-essential)
  belfry_apt_install "${need[@]}"
  belfry_need_cargo
}

# What ./scripts/test.sh needs: the above, pkg-config, cargo-nextest, and a
# real Secret Service (gnome-keyring in a private D-Bus session).
belfry_install_test_deps() {
  local need=()
  command -v cc >/dev/null || need+=(build-essential)
  command -v c++ >/dev/null || need+=(g++)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
  command -v dbus-run-session >/dev/null || need+=(dbus dbus-x11)
  belfry_apt_install "${need[@]}"
  belfry_need_cargo
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
}
