#!/usr/bin/env bash
# The reference docs are complete and stand on their own (issue 14 #13): docs/language.md has a
# row for every kind 'amlsec schema' lists; docs/validate-json.md lists exactly the diagnostic
# codes the source reports (every string passed as a code to diag_add and its wrappers, plus
# the 'config' of a configuration that cannot be read); README.md, docs/ and examples/ do not
# cite the team's notes (arm-api.md, security-rules.md, peers.md, the shared folder, the [000]
# seed numbers) but Microsoft's articles.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}"
fail=0
kinds=$("$AMLSEC" schema | awk '{print $1}')
[ -n "$kinds" ] || { echo "FAIL: amlsec schema lists no kind"; exit 1; }
n=0
for k in $kinds; do
  grep -q "^| \`$k\` |" "$SRC/docs/language.md" || { echo "FAIL: docs/language.md has no row for kind $k"; fail=1; }
  n=$((n + 1))
done

# the codes in the source: the code argument of diag_add (4th), error_at, fail and verr (3rd)
src_codes=$(python3 - "$SRC" <<'PY'
import glob, os, re, sys
src = sys.argv[1]
index = {"diag_add": 3, "error_at": 2, "fail": 2, "verr": 2}
codes = {"config"}  # cmd/cmd_validate.c: a configuration that cannot be read
defines = {}
files = [f for d in ("parser", "engine", "providers/arm", "cmd", "grammar", "state")
         for pat in ("*.c", "*.y", "*.re") for f in glob.glob(os.path.join(src, d, pat))]
for f in files:
    s = open(f, encoding="utf-8").read()
    for m in re.finditer(r'#define\s+(\w+)\s+"([a-z][a-z0-9_-]*)"', s):
        defines[m.group(1)] = m.group(2)
    for m in re.finditer(r"\b(diag_add|error_at|fail|verr)\s*\(", s):
        i, depth, args, cur = m.end(), 1, [], ""
        while i < len(s) and depth:
            ch = s[i]
            if ch == '"':
                j = i + 1
                while s[j] != '"':
                    j += 2 if s[j] == "\\" else 1
                cur += s[i:j + 1]
                i = j + 1
                continue
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if (ch == "," and depth == 1) or depth == 0:
                args.append(cur.strip())
                cur = ""
            else:
                cur += ch
            i += 1
        k = index[m.group(1)]
        if len(args) > k:
            a = args[k]
            if re.fullmatch(r'"[a-z][a-z0-9_-]*"', a):
                codes.add(a.strip('"'))
            elif a in defines:
                codes.add(defines[a])
codes.discard("plan")  # plan's own diagnostics, not validate's
print("\n".join(sorted(codes)))
PY
) || { echo "FAIL: cannot read the codes from the source"; exit 1; }
[ "$(wc -l <<< "$src_codes")" -ge 30 ] || { echo "FAIL: too few codes found in the source"; fail=1; }
doc_codes=$(sed -n '/^## Codes/,$p' "$SRC/docs/validate-json.md" | sed -n 's/^| `\([a-z][a-z0-9_-]*\)` |.*/\1/p' | sort)
missing=$(comm -23 <(echo "$src_codes") <(echo "$doc_codes"))
stale=$(comm -13 <(echo "$src_codes") <(echo "$doc_codes"))
[ -z "$missing" ] || { echo "FAIL: docs/validate-json.md lacks the codes:" $missing; fail=1; }
[ -z "$stale" ] || { echo "FAIL: docs/validate-json.md lists codes the source does not report:" $stale; fail=1; }

cd "$SRC" || exit 1
if grep -rnE 'arm-api\.md|security-rules\.md|peers\.md|\.\./shared|shared/(reference|data|seeds)|\[00[0-4]' \
     README.md docs examples; then
  echo "FAIL: the docs above cite the team's notes instead of Microsoft's articles"; fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "docs_complete: $n kinds, $(wc -l <<< "$src_codes") codes, no citation of the team's notes"
