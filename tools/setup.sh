#!/usr/bin/env bash
# Installs the Debian packages statestore-perf needs, when they are missing.
#
#   tools/setup.sh build   compiler, CMake, libraries, valgrind (instruction
#                          counts), the gate's Python packages
#   tools/setup.sh test    all of the above, plus Chromium (report test),
#                          hypothesis (input fuzzer), mypy, flake8, clang-format and
#                          clang-tidy (make lint) and npm (workflow linter)
#
# Idempotent and silent when everything is present. Uses sudo when not root.
# Exits non-zero with a clear message when it cannot install.
set -euo pipefail

group="${1:-build}"

build_packages=(
  g++ cmake make pkg-config git
  libbenchmark-dev catch2 libabsl-dev liblmdb-dev librocksdb-dev libxxhash-dev valgrind binutils
  python3 python3-pandas python3-jinja2 python3-scipy python3-pytest python3-yaml
)
test_packages=(chromium fonts-dejavu-core python3-hypothesis python3-mypy flake8 clang-format clang-tidy)

case "$group" in
  build) wanted=("${build_packages[@]}") ;;
  test) wanted=("${build_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "setup: unknown group '$group' (expected: build or test)" >&2
    exit 2
    ;;
esac

# npm is needed for the workflow linter; a machine may have Node.js from
# elsewhere than Debian, so look for the command rather than the package.
if [[ "$group" == test ]] && ! command -v npm >/dev/null 2>&1; then
  wanted+=(npm)
fi

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing packages: ${missing[*]}; this is not a Debian-like system (no apt-get)." >&2
  echo "setup: install their equivalents by hand, then run make again." >&2
  exit 1
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "setup: missing packages: ${missing[*]}; not root and no sudo to install them." >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { "${sudo_cmd[@]}" apt-get update -q && \
       "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "setup: apt-get could not install: ${missing[*]} (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
