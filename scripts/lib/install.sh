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

# True when Debian package $1 is installed (dpkg's own record).
belfry_have_pkg() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
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

# What ./scripts/test.sh needs: the above, pkg-config, cargo-nextest, a
# real Secret Service (gnome-keyring in a private D-Bus session), and what
# building and driving the desktop app needs (the functions below).
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

# Builds the interface into ui/dist, which the desktop crate embeds when it
# compiles (so any cargo build of the workspace needs it first).
belfry_build_ui() {
  echo "==> the interface: npm ci, type check, vite build (ui/dist)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}

# What building the desktop app needs: WebKitGTK and the other libraries
# Tauri links against (see ../shared/MACHINE.md), and Node.js with npm for
# the interface in ui/. Node.js 20 or later is used where present; Debian's
# own nodejs (18) is enough for the pinned Vite 6 and Vitest 3.
BELFRY_DESKTOP_PKGS=(libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev)
belfry_install_desktop_build_deps() {
  local need=() p
  command -v cc >/dev/null || need+=(build-essential)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  for p in "${BELFRY_DESKTOP_PKGS[@]}"; do
    belfry_have_pkg "$p" || need+=("$p")
  done
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
  belfry_apt_install "${need[@]}"
  belfry_need_cargo
}

# What the desktop's end-to-end tests need on top: a virtual X server, the
# WebKitGTK WebDriver, tauri-driver between them, xdotool to answer the
# native file dialogs, and a Secret Service for the keychain-mode laptop.
belfry_install_desktop_test_deps() {
  local need=()
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v xauth >/dev/null || need+=(xauth)
  command -v WebKitWebDriver >/dev/null || need+=(webkit2gtk-driver)
  command -v xdotool >/dev/null || need+=(xdotool)
  command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
  command -v dbus-run-session >/dev/null || need+=(dbus dbus-x11)
  belfry_apt_install "${need[@]}"
  belfry_need_cargo
  if ! command -v tauri-driver >/dev/null; then
    echo "==> installing tauri-driver"
    cargo install tauri-driver --version '^2' --locked
  fi
}
