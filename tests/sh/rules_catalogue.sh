#!/usr/bin/env bash
# The rule catalogue against its tests and docs:
#  - every rule `amlsec rules` lists has tests/golden/rules/<ID>.amlsec, whose
#    validate output reports [ID], and <ID>.clean.amlsec, whose output does not;
#    rules checked by plan (checked_by "plan" in `rules -json`: they need the live
#    cloud) have both files too, and tests/sh/live_rules.sh plans them against
#    amlsec-armlocal and asserts the finding and its absence;
#  - docs/rules.md is exactly `amlsec rules -markdown`;
#  - `amlsec rules -json` lists the same IDs;
#  - docs/resources.md is exactly `amlsec schema -markdown`.
set -u
: "${AMLSEC:?}" "${SRC:?}"
dir=$SRC/tests/golden/rules
fail=0
ids=$("$AMLSEC" rules | awk '{print $1}')
[ -n "$ids" ] || { echo "amlsec rules listed nothing"; exit 1; }
run_case() { # file -> combined output
  (
    cd "$dir" || exit 1
    env_file=${1%.amlsec}.env
    [ -f "$env_file" ] && while IFS= read -r line; do [ -n "$line" ] && export "$line"; done < "$env_file"
    "$AMLSEC" validate -no-color "$1" 2>&1
  )
}
plan_ids=$("$AMLSEC" rules -json | awk -F'"' '$2 == "id" { id = $4 } $2 == "checked_by" && $4 == "plan" { print id }')
[ -n "$plan_ids" ] || { echo "no rule is checked by plan"; fail=1; }
for id in $ids; do
  for f in "$id.amlsec" "$id.clean.amlsec"; do
    [ -f "$dir/$f" ] || { echo "missing tests/golden/rules/$f"; fail=1; }
  done
  if grep -qx "$id" <<<"$plan_ids"; then
    for f in "$id.amlsec" "$id.clean.amlsec"; do
      grep -qF "use $f" "$SRC/tests/sh/live_rules.sh" || { echo "tests/sh/live_rules.sh does not plan $f"; fail=1; }
    done
    continue
  fi
  run_case "$id.amlsec" | grep -qF "[$id]" || { echo "$id.amlsec does not trigger $id"; fail=1; }
  if run_case "$id.clean.amlsec" | grep -qF "[$id]"; then
    echo "$id.clean.amlsec triggers $id"; fail=1
  fi
done
if ! "$AMLSEC" rules -markdown | diff -u "$SRC/docs/rules.md" -; then
  echo "docs/rules.md is stale: run 'amlsec rules -markdown > docs/rules.md'"; fail=1
fi
if ! "$AMLSEC" schema -markdown | diff -u "$SRC/docs/resources.md" -; then
  echo "docs/resources.md is stale: run 'amlsec schema -markdown > docs/resources.md'"; fail=1
fi
json_ids=$("$AMLSEC" rules -json | grep -o '"id": "[^"]*"' | cut -d'"' -f4)
[ "$json_ids" = "$ids" ] || { echo "rules -json and rules disagree"; fail=1; }
n=$(echo "$ids" | wc -l)
[ "$fail" -eq 0 ] && echo "rules_catalogue: $n rules, each with a triggering and a clean case"
exit "$fail"
