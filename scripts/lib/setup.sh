# shellcheck shell=bash
# Set-up shared by scripts/test and scripts/demo: install what pccheck needs
# (only what is missing, only where apt-get exists) and build it with meson.
# Source this file; it defines functions and changes nothing by itself.

# Build and test dependencies on Debian 12 / Ubuntu 24.04. The last six are for
# the Python tests, the libFuzzer targets, the unit file's checks
# (systemd-analyze) and the format check; the build does not need them.
PCCHECK_PACKAGES=(
  meson ninja-build g++ pkg-config
  libboost-dev libspdlog-dev libcli11-dev catch2 python3
  python3-torch python3-numpy clang libclang-rt-14-dev systemd clang-format-14
)

# True when package $1 is installed, or what it provides is there another way
# (meson, ninja and torch from pip on the GPU machine, a compiler in /opt).
pccheck_installed() {
  case "$1" in
    meson) command -v meson >/dev/null 2>&1 && return 0 ;;
    ninja-build) command -v ninja >/dev/null 2>&1 && return 0 ;;
    g++) command -v g++ >/dev/null 2>&1 && return 0 ;;
    clang) command -v clang++ >/dev/null 2>&1 && return 0 ;;
    python3) command -v python3 >/dev/null 2>&1 && return 0 ;;
    python3-torch) python3 -c 'import torch' >/dev/null 2>&1 && return 0 ;;
    python3-numpy) python3 -c 'import numpy' >/dev/null 2>&1 && return 0 ;;
    systemd) command -v systemd-analyze >/dev/null 2>&1 && return 0 ;;
    clang-format-14) command -v clang-format-14 >/dev/null 2>&1 && return 0 ;;
  esac
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

# Installs the missing packages. Never fails: where there is no apt-get or no
# package registry (the GPU machine), it warns and goes on with what is there,
# and the build says what is missing.
pccheck_install_packages() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "setup: no apt-get here; using the tools already installed"
    return 0
  fi
  local missing=() p
  for p in "${PCCHECK_PACKAGES[@]}"; do
    pccheck_installed "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo=(sudo); fi
  echo "setup: installing ${missing[*]}"
  local apt_opts=(-o Acquire::Retries=0 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)
  if ! { timeout 300 "${sudo[@]}" apt-get "${apt_opts[@]}" update -qq &&
         timeout 1800 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" \
           install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "setup: warning: could not install ${missing[*]}; going on with what is installed" >&2
  fi
  return 0
}

# Configures (or reconfigures) and builds the build directory $1 (default
# build). With CI=true warnings are errors.
pccheck_build() {
  local dir=${1:-build}
  local werror=false
  if [ "${CI:-}" = true ]; then werror=true; fi
  local opts=(-Dwerror=$werror)
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null ||
      meson setup --wipe "$dir" "${opts[@]}" || return 1
  else
    meson setup "$dir" "${opts[@]}" || return 1
  fi
  ninja -C "$dir"
}
