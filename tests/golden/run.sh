#!/usr/bin/env bash
# Golden tests (STYLE rule 23). Usage: run.sh AMLSEC DIR
#
# Each case in DIR is NAME.amlsec (or a directory NAME/ holding several
# files) next to NAME.out. The command run is, from inside DIR,
#     amlsec validate -no-color NAME.amlsec
# unless NAME.args exists: its first line replaces the arguments ({} is
# replaced by the case's input; NAME.env lines are exported first).
# NAME.out holds the command, stdout, stderr and the exit code:
#     $ amlsec ARGS
#     --- stdout
#     ...
#     --- stderr
#     ...
#     exit=N
# UPDATE=1 rewrites the .out files from the actual output.
set -u
amlsec=$1
dir=$2
cd "$dir" || exit 1
fail=0 pass=0
for input in *.amlsec */; do
  [ -e "$input" ] || continue
  name=${input%.amlsec}
  name=${name%/}
  [ -f "$name.out" ] || [ "${UPDATE:-}" = 1 ] || { echo "missing $dir/$name.out"; fail=$((fail+1)); continue; }
  args="validate -no-color {}"
  [ -f "$name.args" ] && args=$(head -n 1 "$name.args")
  args=${args//\{\}/${input%/}}
  actual=$(
    (
      [ -f "$name.env" ] && while IFS= read -r line; do [ -n "$line" ] && export "$line"; done < "$name.env"
      out=$(mktemp) err=$(mktemp)
      eval "\"$amlsec\" $args" >"$out" 2>"$err" </dev/null
      code=$?
      printf '$ amlsec %s\n--- stdout\n' "$args"
      cat "$out"
      printf -- '--- stderr\n'
      cat "$err"
      printf 'exit=%d\n' "$code"
      rm -f "$out" "$err"
    )
  )
  if [ "${UPDATE:-}" = 1 ]; then
    printf '%s\n' "$actual" > "$name.out"
    pass=$((pass+1))
  elif diff -u "$name.out" <(printf '%s\n' "$actual") > /tmp/golden-diff.$$; then
    pass=$((pass+1))
  else
    echo "FAIL: $dir/$name"
    cat /tmp/golden-diff.$$
    fail=$((fail+1))
  fi
done
rm -f /tmp/golden-diff.$$
echo "$(basename "$dir"): $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
