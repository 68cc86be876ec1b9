#!/usr/bin/env bash
# Vendor the web UI's browser libraries (uPlot for charts, Leaflet for maps) into api/static/vendor/<lib>/.
# The pinned versions and the files taken from each package live in ONE place: api/static/vendor/versions.json.
# Each package tarball comes from the npm registry (`npm pack`, checked against the registry's integrity hash);
# its dist files and LICENSE are copied; VERSION and SHA256SUMS record what was taken (tests/ui checks them). Node.js is needed only to
# run this script, never to run or test Millstream: the vendored files are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=api/static/vendor
manifest=$vendor/versions.json
command -v npm >/dev/null || { echo "vendor-ui: npm is needed to fetch the packages (scripts/bootstrap-system.sh)" >&2; exit 3; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$manifest" >"$work/list" <<'PY'
import json, sys
for name, spec in json.load(open(sys.argv[1])).items():
    print(name, spec["version"], " ".join(spec["files"]))
PY
while read -r name version files; do
  echo "[vendor-ui] $name@$version" >&2
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  tarball=$(ls "$work"/"$name"-"$version".tgz)
  rm -rf "${work:?}/package" && tar -xzf "$tarball" -C "$work"
  packed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$work/package/package.json")
  [ "$packed" = "$version" ] || { echo "vendor-ui: $name: got $packed, pinned $version" >&2; exit 1; }
  rm -rf "${vendor:?}/$name" && mkdir -p "$vendor/$name"
  for file in $files; do
    target="$vendor/$name/${file#dist/}"
    mkdir -p "$(dirname "$target")"
    cp "$work/package/$file" "$target"
  done
  echo "$version" >"$vendor/$name/VERSION"
  (cd "$vendor/$name" && find . -type f ! -name SHA256SUMS ! -name VERSION -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  rm -f "$tarball"
done <"$work/list"
echo "[vendor-ui] done: $(cut -d' ' -f1,2 "$work/list" | tr '\n' ' ')" >&2
