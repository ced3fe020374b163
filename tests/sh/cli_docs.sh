#!/usr/bin/env bash
# The man page, bash/zsh completion and 'help' are generated from one command table: every
# command and every flag its usage lists must appear in each of them.
set -uo pipefail
: "${AMLSEC:?}"
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
echo "cli_docs: $n passed, 0 failed"
