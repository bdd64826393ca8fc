#!/usr/bin/env bash
# Fails if the committed jukebox-protocol.txt / .html are not what build.sh makes from the source.
#
# The text and HTML depend on the versions of both tools, so the check needs the ones that built the
# committed copy: the xml2rfc named in the HTML's "generator" meta tag (with the Python packages it
# needs pinned in requirements.txt), and the mmark named below, which writes the XML that xml2rfc
# renders. With another version of either it says so and fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=jukebox-protocol
# mmark as packaged by Debian 12 (2.2.25+dfsg1-2); `mmark -version` prints the upstream version.
mmark_version=2.2.25

installed=$(mmark -version 2>/dev/null | head -n 1) || true
if [[ $installed != "$mmark_version" ]]; then
    echo "check.sh: the committed $name.txt and .html were built with mmark $mmark_version," \
        "but mmark ${installed:-(none)} is installed; install that version to compare" >&2
    exit 1
fi

committed=$(sed -n 's/.*<meta content="xml2rfc \([^"]*\)" name="generator">.*/\1/p' "$here/$name.html" | head -n 1)
installed=$(xml2rfc --version 2>/dev/null | sed -n 's/^xml2rfc \(.*\)$/\1/p' | head -n 1)
if [[ -z $committed || $committed != "$installed" ]]; then
    echo "check.sh: the committed $name.html was built with xml2rfc ${committed:-(unknown)}," \
        "but xml2rfc ${installed:-(none)} is installed; install that version and its" \
        "dependencies (pip install -r docs/rfc/requirements.txt) to compare" >&2
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
