#!/usr/bin/env bash
# The man page, bash/zsh completion and 'help' are generated from one command table: every
# command and every flag its usage lists must appear in each of them. Then every command line the
# documentation shows (code blocks and `amlsec ...` spans of README.md and docs/*.md) is run, in a
# scratch directory holding the bundled example, against the embedded local cloud
# (AMLSEC_CLOUD=local): none may be rejected as an unknown command, subcommand or flag, a flag
# without its value, or an unexpected argument (issue 14 #13: local-cloud.md showed a global
# 'amlsec -cloud local' that does not exist). A synopsis is run once per alternative:
# 'amlsec rules [-json|-markdown]' runs 'amlsec rules -json' and 'amlsec rules -markdown'.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}"
fail() { echo "FAIL: $*"; exit 1; }
cmds=$("$AMLSEC" help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/{if (on) exit}')
[ -n "$cmds" ] || fail "no commands in help"
bash_script=$("$AMLSEC" completion bash) || fail "completion bash"
bash -n <(printf '%s\n' "$bash_script") || fail "bash completion does not parse"
zsh_script=$("$AMLSEC" completion zsh) || fail "completion zsh"
man=$("$AMLSEC" help -man) || fail "help -man"
n=0
for c in $cmds; do
  grep -q "^    $c) " <<< "$bash_script" || fail "bash completion lacks $c"
  grep -q "'$c:" <<< "$zsh_script" || fail "zsh completion lacks $c"
  grep -q "^\.SS $c\$" <<< "$man" || fail "man page lacks $c"
  line=$(grep "^    $c) " <<< "$bash_script")
  for flag in $("$AMLSEC" "$c" -h | grep -oE '^  +-[a-z][a-z-]*' | tr -d ' '); do
    grep -q -- " $flag[ \"]" <<< "$line" || fail "bash completion of $c lacks $flag"
  done
  n=$((n + 1))
done
"$AMLSEC" completion fish > /dev/null 2>&1 && fail "unknown shell accepted"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/examples/secure-workspace" "$work/tmp"
cp "$SRC/examples/secure-workspace/main.amlsec" "$work/"
cp "$SRC/examples/secure-workspace/main.amlsec" "$work/examples/secure-workspace/"
# the command lines, one per line, with a "file:line: " prefix
python3 - "$SRC" > "$work/commands" <<'PY' || fail "cannot extract the documented commands"
import glob, itertools, os, re, sys
src = sys.argv[1]
files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
start = re.compile(r"(?:^|[\s(:`])(amlsec(?:-armlocal)?)(?=\s|$)")
def variants(cmd):
    # [a|b] groups and a|b words: one command per alternative, the others at their first
    groups = []
    def group(m):
        inner = m.group(1).strip()
        if inner in ("flags", "options"):
            return ""
        if re.search(r"\s\|\s", inner):  # [DIR | PLANFILE]
            groups.append([a.strip() for a in re.split(r"\s+\|\s+", inner)])
        elif " " not in inner:  # [-json|-markdown]
            groups.append(inner.split("|"))
        else:  # [-fail-on deny|audit|never]: the words below
            groups.append([inner])
        return "\0%d\0" % (len(groups) - 1)
    while re.search(r"\[([^\[\]]*)\]", cmd):  # innermost first: [-recursive [-shard K/N]]
        cmd = re.sub(r"\[([^\[\]]*)\]", group, cmd)
    def word(m):
        groups.append(m.group(0).split("|"))
        return "\0%d\0" % (len(groups) - 1)
    cmd = re.sub(r"(?<!\S)[-\w]+(?:\|[-\w]+)+(?!\S)", word, cmd)
    cmd = re.sub(r"\$\{\{[^}]*\}\}", "1", cmd)  # a CI expression: ${{ matrix.shard }}
    out = []
    for g in range(max(1, len(groups))):
        for alt in range(len(groups[g]) if groups else 1):
            c = cmd
            while "\0" in c:  # nested groups: [-recursive [-shard K/N]]
                c = re.sub(r"\0(\d+)\0",
                           lambda m: groups[int(m.group(1))][alt if int(m.group(1)) == g else 0], c)
            c = " ".join(c.split())
            # alternatives left inside a chosen group ([-fail-on deny|audit|never])
            out.extend(variants(c) if re.search(r"(?<!\S)[-\w]+(?:\|[-\w]+)+(?!\S)", c) else [c])
    return sorted(set(out), key=out.index)
def commands(text, block):
    text = re.sub(r"\s#\s.*$", "", text)  # a trailing comment
    for part in re.split(r",\s+(?=amlsec)", text):
        m = start.search(part)
        if not m:
            continue
        cmd = part[m.start(1):]
        # the amlsec part of a pipeline ('|' inside [...] is a synopsis' alternative)
        cmd = re.split(r"\s\|\s(?![^\[]*\])|\s2?>|\)|;|&&", cmd)[0]
        if block:
            cmd = re.split(r"(?<=\S) {2,}", cmd)[0]  # a description column
        # a placeholder whose shape the flag checks, and a CI expression
        cmd = re.sub(r"\$\{\{[^}]*\}\}", "1", cmd.replace("K/N", "1/2"))
        yield from variants(cmd.strip())
for f in files:
    rel = os.path.relpath(f, src)
    inblock = False
    for no, line in enumerate(open(f, encoding="utf-8"), 1):
        if line.startswith("```"):
            inblock = not inblock
            continue
        # in prose, `amlsec CMD` and `amlsec state SUBCOMMAND` name a command; a span with
        # arguments is a command line
        texts = [line] if inblock else re.findall(r"`(amlsec(?:-armlocal)? [^`\s]+ [^`]*)`", line)
        for t in texts:
            for c in commands(t.rstrip("\n"), inblock):
                w = c.split()
                if not inblock and len(w) == 3 and w[1] == "state":
                    continue
                if w[0] in ("amlsec", "amlsec-armlocal") and len(w) > 1:
                    print("%s:%d: %s" % (rel, no, c))
PY
[ -n "${DUMP:-}" ] && cat "$work/commands"
[ "$(grep -c . "$work/commands")" -ge 40 ] || fail "too few documented commands found"
rejected="unknown command|unknown subcommand|unknown flag|unknown shell|unknown option|unrecognized option|needs a value|takes no value|unexpected argument|Run 'amlsec [a-z-]+ -h' for usage"
ran=0 bad=0
cd "$work" || fail "cd"
while IFS= read -r entry; do
  where=${entry%%: amlsec*}
  cmd=${entry#"$where: "}
  read -r -a words <<< "${cmd//\/tmp\//$work/tmp/}"
  if [ "${words[0]}" = amlsec-armlocal ]; then
    [ -n "${ARMLOCAL:-}" ] || continue
    words[0]=$ARMLOCAL
  else
    words[0]=$AMLSEC
  fi
  if [ "${words[0]}" = "$ARMLOCAL" ] || [ "${words[1]:-}" = local-cloud ]; then
    # a server runs until stopped: it has accepted its command line once it prints its URL
    # (its first line), and is stopped there rather than at the timeout
    AMLSEC_CLOUD=local timeout -k 2 5 "${words[@]}" < /dev/null > out 2> err &
    spid=$!
    while kill -0 "$spid" 2> /dev/null && ! grep -q '^http' out; do sleep 0.05; done
    kill "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
  else
    AMLSEC_CLOUD=local timeout -k 2 5 "${words[@]}" < /dev/null > out 2> err
  fi
  ran=$((ran + 1))
  if grep -qE "$rejected" err; then
    echo "FAIL: $where: '$cmd' is rejected: $(grep -m1 -E "$rejected" err)"
    bad=$((bad + 1))
  fi
done < "$work/commands"
[ "$bad" = 0 ] || fail "$bad documented command lines are rejected"

# the repository's scripts a code block runs as a command (scripts/fuzz.sh -t 60,
# ./scripts/test.sh, tests/soak/concurrency.sh ...) exist and are executable: run as shown, not
# through bash
scripts=0
while IFS=: read -r where no path; do
  scripts=$((scripts + 1))
  [ -f "$SRC/$path" ] || fail "$where:$no: '$path' does not exist"
  [ -x "$SRC/$path" ] || fail "$where:$no: '$path' is not executable (git update-index --chmod=+x)"
done < <(python3 - "$SRC" <<'PY'
import glob, os, re, sys
src = sys.argv[1]
for f in [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md"))):
    inblock = False
    for no, line in enumerate(open(f, encoding="utf-8"), 1):
        if line.startswith("```"):
            inblock = not inblock
            continue
        m = re.match(r"\s*(?:\./)?((?:scripts|tests/soak|tests/sh)/[\w.-]+\.(?:sh|py))(?:\s|$)", line)
        if inblock and m:
            print("%s:%d:%s" % (os.path.relpath(f, src), no, m.group(1)))
PY
)
[ "$scripts" -ge 5 ] || fail "too few documented scripts found ($scripts)"
echo "cli_docs: $n commands in help, completion and man; $ran documented command lines run, 0 rejected; $scripts documented script lines executable"
