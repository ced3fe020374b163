#!/usr/bin/env bash
# amlsec fmt end to end: -check, -diff, -write=false, -recursive, stdin,
# files that do not parse, file modes and symlinks.
set -euo pipefail
: "${AMLSEC:?}" "${SRC:?}"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$t/a/sub" "$t/a/.hidden"
printf 'resource_group "g" {\nname="rg"\n  location = "x"\n}\n' > "$t/a/main.amlsec"
printf 'resource_group "g" {\n  name = "rg"\n}\n' > "$t/a/ok.amlsec"
printf 'x {\ny=1\n}\n' > "$t/a/sub/nested.amlsec"
printf 'x {\ny=1\n}\n' > "$t/a/.hidden/skip.amlsec"
printf 'not amlsec = =\n' > "$t/a/notes.txt"
chmod 640 "$t/a/main.amlsec"
want_main='resource_group "g" {
  name     = "rg"
  location = "x"
}'

# -check: lists the file that would change, exit 1, writes nothing
before=$(cat "$t/a/main.amlsec")
set +e; out=$("$AMLSEC" fmt -check "$t/a"); rc=$?; set -e
[ "$rc" = 1 ] || fail "-check exit $rc"
[ "$out" = "$t/a/main.amlsec" ] || fail "-check listed '$out'"
[ "$(cat "$t/a/main.amlsec")" = "$before" ] || fail "-check wrote"

# -diff -write=false: a unified diff, nothing written, exit 0
out=$("$AMLSEC" fmt -diff -write=false "$t/a")
grep -q "^--- old/$t/a/main.amlsec$" <<<"$out" || fail "no diff header: $out"
grep -q '^-name="rg"$' <<<"$out" || fail "no - line: $out"
grep -q '^+  name     = "rg"$' <<<"$out" || fail "no + line: $out"
[ "$(cat "$t/a/main.amlsec")" = "$before" ] || fail "-write=false wrote"

# default: writes in place, keeps the mode, not the subfolder without -recursive
"$AMLSEC" fmt "$t/a" > "$t/out"
[ "$(cat "$t/a/main.amlsec")" = "$want_main" ] || fail "not formatted: $(cat "$t/a/main.amlsec")"
[ "$(stat -c %a "$t/a/main.amlsec")" = 640 ] || fail "mode not kept"
grep -q 'y=1' "$t/a/sub/nested.amlsec" || fail "descended without -recursive"
"$AMLSEC" fmt -check "$t/a" >/dev/null || fail "second -check should pass"

# -recursive: the subfolder, never hidden folders
"$AMLSEC" fmt -recursive "$t/a" > "$t/out"
grep -qx "$t/a/sub/nested.amlsec" "$t/out" || fail "-recursive did not list the nested file"
grep -q '^  y = 1$' "$t/a/sub/nested.amlsec" || fail "nested file not formatted"
grep -q 'y=1' "$t/a/.hidden/skip.amlsec" || fail "hidden folder formatted"

# a symlink is written through, and stays a link
printf 'a=1\n' > "$t/target.amlsec"
ln -s "$t/target.amlsec" "$t/link.amlsec"
"$AMLSEC" fmt "$t/link.amlsec" >/dev/null
[ -L "$t/link.amlsec" ] || fail "symlink replaced"
[ "$(cat "$t/target.amlsec")" = 'a = 1' ] || fail "symlink target not formatted"

# stdin -> stdout
[ "$(printf 'a  =  [1,2]\n' | "$AMLSEC" fmt -)" = 'a = [1, 2]' ] || fail "stdin"
set +e; printf 'a = 1\n' | "$AMLSEC" fmt -check - >/dev/null; rc=$?; set -e
[ "$rc" = 0 ] || fail "stdin -check on formatted input: exit $rc"
set +e; printf 'a=1\n' | "$AMLSEC" fmt -check - >/dev/null; rc=$?; set -e
[ "$rc" = 1 ] || fail "stdin -check on unformatted input: exit $rc"

# a file that does not parse: diagnostics, untouched, exit 1; others still formatted
printf 'b {\n  c = = 1\n}\n' > "$t/bad.amlsec"
printf 'd=1\n' > "$t/good.amlsec"
set +e; "$AMLSEC" fmt "$t/bad.amlsec" "$t/good.amlsec" >"$t/out" 2>"$t/err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "parse error exit $rc"
grep -q "bad.amlsec:2:7: error: " "$t/err" || fail "no diagnostic: $(cat "$t/err")"
[ "$(cat "$t/bad.amlsec")" = "$(printf 'b {\n  c = = 1\n}')" ] || fail "bad file touched"
[ "$(cat "$t/good.amlsec")" = 'd = 1' ] || fail "good file not formatted"

# usage errors
set +e; "$AMLSEC" fmt -write=maybe "$t/a" 2>"$t/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "true or false" "$t/err" || fail "-write=maybe"
set +e; "$AMLSEC" fmt "$t/missing" 2>"$t/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "cannot read" "$t/err" || fail "missing path"

# the bundled example is formatted (README: fmt -check)
"$AMLSEC" fmt -check "$SRC/examples/secure-workspace" || fail "example not formatted"
echo "fmt_cli: ok"
