#!/usr/bin/env bash
# Builds the file layout of the Dockerfile's runtime stage into a folder, without Docker (none runs on these
# machines): the stage's instructions are read from the Dockerfile and replayed here, so a file the image forgets to
# copy is missing here too. test/integration/image.test.ts runs `rowcast` from the result.
#   bash scripts/image-layout.sh OUT      (needs dist/: npm run build; npm's cache or registry for `npm ci`)
# Replayed: WORKDIR, COPY (from the build stage: this checkout, whose dist/ is the build), `npm ci`, `ln -s`.
# Not replayed: the apt-get of tini (the init), USER, ENV, HEALTHCHECK, ENTRYPOINT and CMD (the test reads those).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: scripts/image-layout.sh OUT}
[[ -f dist/cli.js ]] || { echo "image-layout: dist/ is missing: npm run build" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The runtime stage, one instruction per line (continuations joined).
mapfile -t instructions < <(awk '/^FROM .* AS runtime/ { on = 1; next } on && !/^[[:space:]]*#/ && NF' Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
((${#instructions[@]})) || { echo "image-layout: no 'FROM … AS runtime' stage in Dockerfile" >&2; exit 1; }

workdir=/
for line in "${instructions[@]}"; do
  read -r op rest <<<"$line"
  case $op in
    WORKDIR) workdir=$rest; mkdir -p "$out$workdir" ;;
    COPY)
      read -ra words <<<"$rest"
      dest=${words[-1]}; [[ $dest == /* ]] || dest="$workdir/$dest"
      for src in "${words[@]:0:${#words[@]}-1}"; do
        case $src in
          --from=build) continue ;;
          --*) echo "image-layout: unsupported COPY flag $src" >&2; exit 1 ;;
          /app/*) src=${src#/app/} ;;   # the build stage's WORKDIR is /app: its files are this checkout's
        esac
        if [[ $dest == */ ]]; then mkdir -p "$out$dest"; cp -R "$src" "$out$dest"; else mkdir -p "$(dirname "$out$dest")"; cp -R "$src" "$out$dest"; fi
      done ;;
    RUN)
      if [[ $rest == *"npm ci"* ]]; then
        ci=${rest%%&&*}   # the install itself; not the cache clean-up that follows it
        [[ $ci == *--omit=dev* ]] || { echo "image-layout: the runtime stage's npm ci must omit dev dependencies: $ci" >&2; exit 1; }
        (cd "$out$workdir" && NODE_OPTIONS= $ci --prefer-offline >/dev/null)
      elif [[ $rest =~ ^ln\ -s\ (/[^ ]+)\ (/[^ ]+)$ ]]; then
        mkdir -p "$(dirname "$out${BASH_REMATCH[2]}")"
        ln -sfn "$out${BASH_REMATCH[1]}" "$out${BASH_REMATCH[2]}"
      elif [[ $rest == apt-get\ update* ]]; then
        :   # the init (tini) from Debian: not on this machine's path
      else
        echo "image-layout: RUN not replayed here, teach scripts/image-layout.sh: $rest" >&2; exit 1
      fi ;;
    USER | ENV | EXPOSE | HEALTHCHECK | ENTRYPOINT | CMD | ARG | LABEL) ;;
    *) echo "image-layout: unknown instruction in the runtime stage: $line" >&2; exit 1 ;;
  esac
done
echo "$out"
