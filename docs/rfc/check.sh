#!/usr/bin/env bash
# Fails if the committed jukebox-protocol.txt / .html are not what build.sh makes from the source.
#
# The text and HTML depend on the xml2rfc version, so the check needs the version that built the
# committed copy (named in the HTML's "generator" meta tag); with another one it says so and fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=jukebox-protocol

committed=$(sed -n 's/.*<meta content="xml2rfc \([^"]*\)" name="generator">.*/\1/p' "$here/$name.html" | head -n 1)
installed=$(xml2rfc --version 2>/dev/null | sed -n 's/^xml2rfc \(.*\)$/\1/p' | head -n 1)
if [[ -z $committed || $committed != "$installed" ]]; then
    echo "check.sh: the committed $name.html was built with xml2rfc ${committed:-(unknown)}," \
        "but xml2rfc ${installed:-(none)} is installed; install that version (pip install" \
        "xml2rfc==${committed:-VERSION}) to compare" >&2
    exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash "$here/build.sh" "$out" >/dev/null

status=0
for ext in txt html; do
    if ! diff -u "$here/$name.$ext" "$out/$name.$ext" >"$out/$ext.diff"; then
        echo "check.sh: docs/rfc/$name.$ext is out of date; run docs/rfc/build.sh and commit it:" >&2
        head -n 40 "$out/$ext.diff" >&2
        status=1
    fi
done
[[ $status -eq 0 ]] && echo "docs/rfc: $name.txt and $name.html match the source"
exit $status
