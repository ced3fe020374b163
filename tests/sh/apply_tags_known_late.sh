#!/usr/bin/env bash
# A tag value known only at apply that turns out a list or map is refused by amlsec before the PUT,
# naming the resource and the tag, as a known one is at plan time ("'tags.parts' is a list: tag
# values are strings"). It was sent, and only ARM refused it (HTTP 400 InvalidRequestContent).
set -uo pipefail
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-tags-later"
}

user_assigned_identity "uai" {
  resource_group = resource_group.ml
}

user_assigned_identity "second" {
  resource_group = resource_group.ml
  name           = "uai-second"
  tags           = { owner = "me", parts = split("-", user_assigned_identity.uai.principal_id) }
}

user_assigned_identity "third" {
  resource_group = resource_group.ml
  name           = "uai-third"
  tags           = { nested = jsondecode("{\"id\": \"${user_assigned_identity.uai.principal_id}\"}") }
}
AMLSEC

echo "1. the plan cannot tell: the tags are known only at apply"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color > plan.out 2>&1

echo "2. apply refuses both before sending them"
expect_exit 1 "$AMLSEC" apply -cloud local -no-color -auto-approve > apply.out 2>&1
grep -q "user_assigned_identity.second: .*'tags.parts' is a list: tag values are strings" apply.out ||
  fail "no error naming the resource and the tag"
grep -q "user_assigned_identity.third: .*'tags.nested' is a map: tag values are strings" apply.out ||
  fail "no error naming the resource and the map tag"
grep -q 'InvalidRequestContent\|HTTP 400' apply.out && fail "the PUT was sent"
grep -q 'user_assigned_identity.uai: Creation complete' apply.out || fail "the identity was not created"
echo "ok"
