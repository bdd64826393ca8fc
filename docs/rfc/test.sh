#!/usr/bin/env bash
# Tests build.sh and check.sh themselves: the RFC check passes on any day, and every warning other
# than the one about the document's age still fails the build.
#
# Runs the tools under a fake clock (faketime, Debian package) a year after the document's date,
# and builds scratch copies of the source with one fault each. Run by .ci/run after check.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=jukebox-protocol
command -v faketime >/dev/null || { echo "test.sh: faketime is not installed" >&2; exit 1; }

date=$(sed -n 's/^date *= *\([0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\).*/\1/p' "$here/$name.md" | head -n 1)
later=$(date -u -d "$date + 1 year" +%F)
# The cases prove something only if the fake clock reaches the Python that runs xml2rfc (faketime
# preloads a library, which some sandboxes strip): without it, case 1 would run on the real date.
faked=$(faketime "$later" python3 -c 'import datetime; print(datetime.date.today())')
if [[ $faked != "$later" ]]; then
    echo "test.sh: faketime does not reach python3 here (its date is $faked, not $later)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "test.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}

# Builds a scratch copy whose source has been changed by the sed script $2 (and whose build.sh by
# the sed script $3, if given) at the fake date; passes if the build fails and its report contains $4.
expect_failure() {
    local label=$1 source_edit=$2 build_edit=$3 expected=$4
    local dir="$work/$label"
    mkdir -p "$dir"
    cp "$here/build.sh" "$here/$name.md" "$dir/"
    sed -i "$source_edit" "$dir/$name.md"
    cmp -s "$here/$name.md" "$dir/$name.md" && [[ -z $build_edit ]] &&
        { fail "$label: the fault was not introduced"; return; }
    [[ -n $build_edit ]] && sed -i "$build_edit" "$dir/build.sh"
    if faketime "$later" bash "$dir/build.sh" "$dir/out" >"$dir/log" 2>&1; then
        fail "$label: the build passed"
    elif ! grep -qF -- "$expected" "$dir/log"; then
        fail "$label: the build failed without reporting '$expected':"
        cat "$dir/log" >&2
    else
        echo "ok: $label fails the build"
    fi
}

# 1. A year after the document's date, the committed copies still match a rebuild.
if faketime "$later" bash "$here/check.sh" >"$work/check.log" 2>&1; then
    echo "ok: check.sh passes on $later"
else
    fail "check.sh fails on $later:"
    cat "$work/check.log" >&2
fi

# 2. The fake clock reaches xml2rfc: without the silenced date warning, the same build fails. This
#    shows that case 1 proves something.
expect_failure "date-warning-unsilenced" "" 's/ --silence "\$date_warning"//' \
    "The document date ($date) is more than 3 days away"

# 3. A cross-reference to a section that does not exist (an xml2rfc error).
expect_failure "broken-reference" '0,/(see (#framing))/s//(see (#no-such-section))/' "" \
    'unknown ID "no-such-section"'

# 4. A figure line wider than the page (an xml2rfc warning, not an error: still a failure).
expect_failure "too-wide-figure" \
    "0,/^# Introduction\$/s//# Introduction\\n\\n~~~\\n$(printf 'x%.0s' {1..90})\\n~~~\\n/" "" \
    "Warning: Too long line found"

if [[ $failures -gt 0 ]]; then
    echo "test.sh: $failures case(s) failed" >&2
    exit 1
fi
echo "docs/rfc: build.sh and check.sh pass on any day and fail on every other warning"
