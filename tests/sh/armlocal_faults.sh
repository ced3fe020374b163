#!/usr/bin/env bash
# armlocal fault injection (every kind, by Nth request and by rate, from
# --faults and the control API), drift, the request log, reset, and ARM
# throttling (token buckets per subscription and principal).
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
SA=$RG/providers/Microsoft.Storage/storageAccounts
armlocal_start --lro-ms 200 --faults 'kind=503,method=GET,path=*/resourceGroups/rg1,nth=2'
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"
req GET "$RG?$V=2024-03-01"; expect_code 200 "first GET passes"
req GET "$RG?$V=2024-03-01"; expect_code 503 "--faults: 2nd GET fails"; expect_body ServiceUnavailable "503 body"
[ -n "$(header Retry-After)" ] || fail "503 Retry-After"
req GET "$RG?$V=2024-03-01"; expect_code 200 "fault fires once by default"

fault() { req POST /_armlocal/faults "$1"; expect_code 201 "add fault $1"; }
fault '{"kind":"429","method":"PUT","path":"*/storageAccounts/*","nth":1}'
req PUT "$SA/sa1?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}'
expect_code 429 "429 fault"; [ "$(header Retry-After)" = 1 ] || fail "429 Retry-After"
fault '{"kind":"500","path":"*/sa2*"}'
req PUT "$SA/sa2?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}'
expect_code 500 "500 fault"; expect_body InternalServerError "500 body"
fault '{"kind":"reset","path":"*/sa3*"}'
if curl -sS -o /dev/null "$B$SA/sa3?$V=2025-06-01" 2>"$TMP/err"; then fail "reset fault answered"; fi
grep -qi "empty reply\|reset\|closed" "$TMP/err" || fail "reset: $(cat "$TMP/err")"
# reset-after: the request is carried out, then the connection closes without an answer (the
# ambiguous failure: the client cannot know the write happened)
fault '{"kind":"reset-after","method":"PUT","path":"*/sa3b*"}'
if curl -sS -o /dev/null -X PUT -H 'Content-Type: application/json' \
  -d '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}' \
  "$B$SA/sa3b?$V=2025-06-01" 2>"$TMP/err"; then fail "reset-after fault answered"; fi
grep -qi "empty reply\|reset\|closed" "$TMP/err" || fail "reset-after: $(cat "$TMP/err")"
sleep 0.3
req GET "$SA/sa3b?$V=2025-06-01"; expect_code 200 "reset-after: the PUT was carried out"
# reset-after and a fault that answers instead (403) matching the same request: the 403 answers,
# the request is not carried out, and reset-after does not fire (it fires on the next one). Both
# fired: the 403 was never seen (the connection closed) and reset-after's one firing was spent.
fault '{"kind":"reset-after","method":"PUT","path":"*/sa3c*"}'
fault '{"kind":"403","method":"PUT","path":"*/sa3c*"}'
req PUT "$SA/sa3c?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}' || :
expect_code 403 "reset-after and 403: the 403 answers"; expect_body AuthorizationFailed "403 body"
req GET "$SA/sa3c?$V=2025-06-01"; expect_code 404 "reset-after and 403: not carried out"
if curl -sS -o /dev/null -X PUT -H 'Content-Type: application/json' \
  -d '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}' \
  "$B$SA/sa3c?$V=2025-06-01" 2>"$TMP/err"; then fail "reset-after did not fire on the next PUT"; fi
sleep 0.3
req GET "$SA/sa3c?$V=2025-06-01"; expect_code 200 "reset-after on the next PUT: carried out"
fault '{"kind":"slow","path":"*/sa4*","ms":700}'
t0=$(date +%s%N); req GET "$SA/sa4?$V=2025-06-01"; t1=$(date +%s%N)
expect_code 404 "slow still answers"; [ $(( (t1 - t0) / 1000000 )) -ge 650 ] || fail "slow fault too fast"
fault '{"kind":"lro-failed","method":"PUT","path":"*/sa5*"}'
req PUT "$SA/sa5?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}'
expect_code 202 "lro-failed accepted"; loc=$(header Location); sleep 0.3
code=$(curl -sS -o "$TMP/b" -w '%{http_code}' "$loc"); [ "$code" = 400 ] || fail "failed LRO location: $code"
req GET "$SA/sa5?$V=2025-06-01"; expect_body '"provisioningState":"Failed"' "resource Failed"
fault '{"kind":"lro-failed","method":"PUT","path":"*/registries/*"}'
req PUT "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01" '{"location":"eastus","sku":{"name":"Basic"}}'
asy=$(header Azure-AsyncOperation); sleep 0.3
curl -sS "$asy" | grep -q '"status":"Failed".*"error"' || fail "failed LRO status document"
fault '{"kind":"lro-canceled","method":"DELETE","path":"*/registries/*"}'
sleep 0.3
req DELETE "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_code 202 "delete accepted"
loc=$(header Location); sleep 0.3
code=$(curl -sS -o "$TMP/b" -w '%{http_code}' "$loc"); [ "$code" = 400 ] && grep -q OperationCanceled "$TMP/b" || fail "canceled LRO: $code"
req GET "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_code 200 "canceled delete keeps the resource"
req GET /_armlocal/faults; expect_body '"fired":1' "fault counters"
# rate-based faults: rate 1 always fires, rate 0 never
fault '{"kind":"500","path":"*/ratehit*","rate":1,"times":3}'
for i in 1 2 3; do req GET "$SA/ratehit?$V=2025-06-01"; expect_code 500 "rate fault $i"; done
req GET "$SA/ratehit?$V=2025-06-01"; expect_code 404 "rate fault exhausted after times"
req POST /_armlocal/faults '{"kind":"explode"}'; expect_code 400 "bad fault kind"
req DELETE /_armlocal/faults; expect_code 204 "clear faults"
if "$ARMLOCAL" --faults 'kind=503,nth=x' 2>/dev/null; then fail "bad --faults accepted"; fi

# --latency-ms delays every request
armlocal_stop
armlocal_start --latency-ms 300
t0=$(date +%s%N); req GET "$RG?$V=2024-03-01"; t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -ge 290 ] || fail "--latency-ms not applied"
armlocal_stop
armlocal_start --lro-ms 200
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg again"

# drift: change a resource out of band
req PUT "$SA/sa9?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{"allowBlobPublicAccess":false}}'
sleep 0.3
req PATCH "/_armlocal/resources$SA/sa9" '{"properties":{"allowBlobPublicAccess":true}}'; expect_code 200 "drift"
req GET "$SA/sa9?$V=2025-06-01"; expect_body '"allowBlobPublicAccess":true' "drift visible through ARM"

# request log: counts by verb and by path
req DELETE /_armlocal/requests; expect_code 204 "clear log"
req GET "$SA/sa9?$V=2025-06-01"; req GET "$SA/sa9?$V=2025-06-01"; req GET "$RG?$V=2024-03-01"
req GET /_armlocal/requests
expect_body '"total":3' "log total"; expect_body '"GET":3' "log by verb"
grep -q "\"GET ${SA,,}/sa9\":2" <<<"$BODY" || fail "log by path: $BODY"

# reset
req POST /_armlocal/reset; expect_code 204 "reset"
req GET "$RG?$V=2024-03-01"; expect_code 404 "reset empties the store"
armlocal_stop

# throttling: ARM's buckets (writes 200, refill 10/s) per subscription and principal
armlocal_start --throttle arm --lro-ms 0
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'
[ "$(header x-ms-ratelimit-remaining-subscription-writes)" = 199 ] || fail "writes bucket starts at 200"
# The bucket refills 10 tokens a second while the writes are sent, so a slow
# machine needs more than 200 of them: batches of 50 until the first 429.
: >"$TMP/codes"
for batch in $(seq 0 19); do
  urls=(); for i in $(seq 1 50); do urls+=("$B$S/resourceGroups/t$batch-$i?$V=2024-03-01"); done
  curl -sS -X PUT -H 'Content-Type: application/json' -d '{"location":"eastus"}' \
    -w '\nCODE=%{http_code}\n' "${urls[@]}" >>"$TMP/codes"
  grep -q 'CODE=429' "$TMP/codes" && break
done
codes=$(grep -o 'CODE=[0-9]*' "$TMP/codes" | cut -d= -f2)
first=$(grep -n 429 <<<"$codes" | head -1 | cut -d: -f1)
[ -n "$first" ] || fail "no 429 after $(wc -l <<<"$codes") writes"
[ "$first" -ge 195 ] || fail "throttled too early ($first)"
grep -q '"code":"TooManyRequests"' "$TMP/codes" || fail "429 body"
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'
if [ "$CODE" = 429 ]; then [ -n "$(header Retry-After)" ] || fail "429 without Retry-After"; fi
# reads have their own bucket; another subscription has its own
req GET "$RG?$V=2024-03-01"; expect_code 200 "reads not throttled by writes"
req PUT "/subscriptions/other/resourceGroups/x?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "other subscription"
sleep 1.2
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 200 "bucket refills"
echo "armlocal faults: ok"
