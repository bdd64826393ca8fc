#!/usr/bin/env bash
# Rebuilds the protocol RFC: jukebox-protocol.md -> (mmark) RFC 7991 XML -> (xml2rfc) .txt and .html.
#
# Usage: build.sh [OUTDIR]   (default: this folder, next to the source)
#
# Works offline: every reference is inline XML in the source, and xml2rfc runs with --no-network.
# The output is deterministic for a given xml2rfc version, whatever the day: the date is taken from
# the source's title block (so "today" never leaks in), and the HTML comment in which xml2rfc lists the Python and
# library versions of the machine it ran on is removed. Exits non-zero if either tool prints
# anything other than its "Created file" notices: every warning is treated as an error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=jukebox-protocol
src="$here/$name.md"
out=${1:-$here}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in mmark xml2rfc; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is not installed" >&2; exit 1; }
done

# The document date, e.g. "date = 2026-11-26T00:00:00Z" -> 2026-11-26; xml2rfc runs "as if" on it.
date=$(sed -n 's/^date *= *\([0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\).*/\1/p' "$src" | head -n 1)
[[ -n $date ]] || { echo "build.sh: no 'date = YYYY-MM-DD...' line in $src" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mmark resolves nothing over the network; anything it prints on stderr is a problem in the source.
if ! mmark "$src" >"$work/$name.xml" 2>"$work/mmark.log" || [[ -s $work/mmark.log ]]; then
    echo "build.sh: mmark failed or warned:" >&2
    cat "$work/mmark.log" >&2
    exit 1
fi

# xml2rfc 3.34.1 compares the document date with the real clock even under --date, and warns once
# they are more than three days apart, so a build that is clean on the day the date is set fails
# from the fourth day on. That one warning, for this document's own date, is silenced (--silence
# takes an anchored regular expression); every other warning still fails the build. A fixed clock
# (faketime) would do the same but add a preloaded library to every build for the sake of one line.
date_warning="The document date \\($date\\) is more than 3 days away from today's date\$"

# xml2rfc reports "Created file ..." on stderr next to its warnings; anything else fails the build.
status=0
(cd "$work" && xml2rfc --v3 --text --html --no-network --date "$date" --silence "$date_warning" \
    --path "$work" "$name.xml") >"$work/xml2rfc.log" 2>&1 || status=$?
if [[ $status -ne 0 ]] || grep -qv '^ *Created file ' "$work/xml2rfc.log"; then
    echo "build.sh: xml2rfc failed or warned:" >&2
    grep -v '^ *Created file ' "$work/xml2rfc.log" >&2 || true
    exit 1
fi

# Drop the machine-dependent version listing; the "generator" meta tag keeps the xml2rfc version.
sed '/^<!-- Generator version information:$/,/^-->$/d' "$work/$name.html" >"$work/$name.stripped.html"

cp "$work/$name.txt" "$out/$name.txt"
cp "$work/$name.stripped.html" "$out/$name.html"
echo "built $out/$name.txt and $out/$name.html"
