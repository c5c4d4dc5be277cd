#!/usr/bin/env bash
# Scans Switchboard for known vulnerabilities with govulncheck. Go's online
# vulnerability service is not reachable from CI, so the database is built
# from the golang.org/x/vulndb module pinned in tools/go.mod: its data/osv
# holds every report as OSV JSON, and its cmd/indexdb writes the layout that
# `govulncheck -db file://DIR` reads (index/db.json, index/modules.json,
# index/vulns.json, ID/GO-….json). The database is cached per vulndb version
# in $SWITCHBOARD_VULNDB_CACHE (default ~/.cache/switchboard/vulndb); bump
# the version with `go -C tools get golang.org/x/vulndb@latest`.
# Run locally the same way: bash .ci/govulncheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."

go -C tools mod download golang.org/x/vulndb
version=$(go -C tools list -m -f '{{.Version}}' golang.org/x/vulndb)
src=$(go -C tools list -m -f '{{.Dir}}' golang.org/x/vulndb)
cache_root="${SWITCHBOARD_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/vulndb}"
db="$cache_root/$version"
if [ ! -s "$db/index/db.json" ]; then
  mkdir -p "$cache_root"
  tmp=$(mktemp -d "$cache_root/build.XXXXXX")
  go -C tools tool indexdb -vulns "$src/data/osv" -out "$tmp/db"
  rm -rf "$db"
  mv "$tmp/db" "$db"
  rmdir "$tmp"
fi
echo "vulnerability database: golang.org/x/vulndb $version ($(ls "$db/ID" | grep -c '\.json$') reports)"
# govulncheck's JSON goes through tools/vulnreport, which fails on a called
# vulnerability in a required module and only warns about the standard
# library's (fixed by a newer Go than this machine's; CI cannot fetch one).
findings=$(mktemp)
trap 'rm -f "$findings"' EXIT
"$(go -C tools tool -n govulncheck)" -db "file://$db" -format json ./... > "$findings"
go -C tools test -count=1 ./vulnreport
go -C tools run ./vulnreport < "$findings"
