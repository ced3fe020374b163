# Azurite for the shell tests and soaks (sourced, not a test; needs SRC).
# azurite_start DIR [FLAGS...]: installs Azurite once per source tree (tests/tools/npm_install.sh),
# starts its blob service on 127.0.0.1 with its data in DIR (created), its output in DIR.log, and
# waits until it says where it listens; sets AZ_PID and AZ_URL (http[s]://127.0.0.1:PORT/ACCOUNT).
# It listens on a port it picks itself (--blobPort 0): a port picked here and handed to it could be
# taken by another process in between. Returns 1 (the log on stderr) when it does not start.
azurite_start() {
  local dir=$1 bin addr
  shift
  bin=$("$SRC/tests/tools/npm_install.sh" azurite "$SRC/tests/azurite")/node_modules/.bin/azurite-blob ||
    return 1
  mkdir -p "$dir"
  (cd "$dir" && exec "$bin" --blobHost 127.0.0.1 --blobPort 0 --location . --silent \
    --disableTelemetry "$@") > "$dir.log" 2>&1 &
  AZ_PID=$!
  # up to 120 s: Node takes a while to load Azurite on a loaded machine
  for _ in $(seq 1200); do
    addr=$(sed -n 's/^Azurite Blob service successfully listens on \(https\{0,1\}:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$dir.log")
    [ -n "$addr" ] && break
    kill -0 "$AZ_PID" 2> /dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "azurite did not start:" >&2
    tail -n 20 "$dir.log" >&2
    return 1
  fi
  AZ_URL=$addr/devstoreaccount1
}
