#!/usr/bin/env bash
# ARM pages its lists (nextLink): armlocal's list of resource groups, of a group's resources and
# of a subscription's resources hold at most 1,000 items a page and a nextLink to the rest, a
# $skiptoken armlocal did not make is refused; and amlsec follows the nextLink when it confirms
# which of many resources missing from Resource Graph exist (one list of their group, two pages
# here: a resource on the second page is found, counted in armlocal's request log).
set -uo pipefail
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-0000000000f1
V=api-version
armlocal_start --lro-ms 0
cd "$TMP"

# seeds: one curl for many PUTs to the control API (the resource and its groups)
seed() { # ids...
  {
    echo 'request = "PUT"'
    echo 'header = "Content-Type: application/json"'
    echo 'data = "{\"location\":\"westeurope\",\"kind\":\"web\",\"properties\":{\"Application_Type\":\"web\"}}"'
    for id in "$@"; do
      echo "url = \"$B/_armlocal/resources$id\""
      echo 'output = "/dev/null"'
    done
  } > seed.cfg
  curl -sSf -K seed.cfg || fail "seeding ${#@} resources"
}
# pages LISTPATH: follows nextLink; prints each page's count, then every name on its own line
pages() {
  local next="$B$1" n=0
  : > names.txt
  while [ -n "$next" ]; do
    curl -sSf "$next" > page.json || fail "GET $next"
    jq -r '.value[].name' page.json >> names.txt
    echo "page $n: $(jq '.value | length' page.json)"
    next=$(jq -r '.nextLink // empty' page.json)
    n=$((n + 1))
    [ "$n" -le 10 ] || fail "more than 10 pages"
  done
}

echo "1. resource groups: 2,001 in 3 pages"
mapfile -t ids < <(for i in $(seq -w 1 2001); do echo "$S/resourceGroups/rg-$i"; done)
seed "${ids[@]}"
[ "$(pages "$S/resourcegroups?$V=2021-04-01" | tr '\n' ' ')" = "page 0: 1000 page 1: 1000 page 2: 1 " ] \
  || fail "resource group pages: $(pages "$S/resourcegroups?$V=2021-04-01" | tr '\n' ' ')"
[ "$(sort -u names.txt | wc -l)" = 2001 ] || fail "every group once: $(sort -u names.txt | wc -l)"
req GET "$S/resourcegroups?$V=2021-04-01"
grep -q '"nextLink":"http://127.0.0.1:[0-9]*/subscriptions/[^"]*/resourcegroups?api-version=2021-04-01&%24skiptoken=' <<<"$BODY" \
  || fail "nextLink: $(jq -c .nextLink <<<"$BODY")"
req GET "$S/resourcegroups?$V=2021-04-01&%24skiptoken=nonsense"; expect_code 400 "a skip token armlocal did not make"
# a group deleted between two pages is left out, nothing is repeated or skipped
first=$(curl -sSf "$B$S/resourcegroups?$V=2021-04-01")
next=$(jq -r .nextLink <<<"$first")
req DELETE "/_armlocal/resources$S/resourceGroups/rg-0005"; [ "${CODE:0:1}" = 2 ] || fail "delete rg-0005: $CODE"
req DELETE "/_armlocal/resources$S/resourceGroups/rg-1500"; [ "${CODE:0:1}" = 2 ] || fail "delete rg-1500: $CODE"
second=$(curl -sSf "$next")
[ "$(jq '.value | length' <<<"$second")" = 1000 ] || fail "the second page is full again"
[ "$(jq -r '.value[0].name' <<<"$second")" = rg-1001 ] || fail "the second page starts after the first"
jq -e '[.value[].name] | index("rg-1500") == null' <<<"$second" > /dev/null || fail "a deleted group is left out"

echo "2. a group's resources and the subscription's: 1,030 in 2 pages"
AI=Microsoft.Insights/components
mapfile -t ids < <(for i in $(seq -w 1 1030); do echo "$S/resourceGroups/rg-big/providers/$AI/filler-$i"; done)
seed "${ids[@]}"
[ "$(pages "$S/resourceGroups/rg-big/resources?$V=2021-04-01" | tr '\n' ' ')" = "page 0: 1000 page 1: 30 " ] \
  || fail "group resource pages"
[ "$(sort -u names.txt | wc -l)" = 1030 ] || fail "every resource once"
[ "$(pages "$S/resources?$V=2021-04-01" | tr '\n' ' ')" = "page 0: 1000 page 1: 30 " ] \
  || fail "subscription resource pages"

echo "3. amlsec follows the nextLink: a resource on the second page of its group exists"
# Resource Graph lags: it does not see what is created from now on
req PUT "/_armlocal/graph/snapshot" "{}"; expect_code 204 "graph snapshot"
seed "$S/resourceGroups/rg-big/providers/$AI/appi-late"
mkdir cfg && cd cfg || fail "cd"
{
  cat <<EOT
settings {
  subscription = "${S#/subscriptions/}"
  location     = "westeurope"
}

existing resource_group "big" {
  name = "rg-big"
}

app_insights "late" {
  resource_group = existing.resource_group.big
  name           = "appi-late"
}
EOT
  for i in $(seq -w 1 24); do
    printf '\napp_insights "new%s" {\n  resource_group = existing.resource_group.big\n  name           = "appi-new-%s"\n}\n' "$i" "$i"
  done
} > main.amlsec
req DELETE "/_armlocal/requests"
code=0
"$AMLSEC" plan -cloud "$B" -no-color > plan.out 2>&1 || code=$?
[ "$code" = 1 ] || { cat plan.out; fail "plan exited $code, wanted 1 (app_insights.late exists)"; }
grep -q "app_insights.late already exists in Azure but not in the state" plan.out \
  || { cat plan.out; fail "the resource on the second page was not found"; }
req GET "/_armlocal/requests"
lists=$(jq '[.byPath | to_entries[] | select(.key | test("^GET .*/resourcegroups/rg-big/resources$"))
  | .value] | add' <<<"$BODY")
[ "$lists" = 2 ] || fail "the group's list read in 2 pages, got $lists: $(jq -c .byPath <<<"$BODY")"
echo "ok"
