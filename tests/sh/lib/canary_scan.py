# Looks for canaries in files (a helper of tests/sh/canary*.sh, not a test):
#   python3 canary_scan.py K CANARY... FILE...
# K canaries, then the files; each canary, its base64, base64url and URL encoding must appear in
# none of them. Prints each occurrence with its context; exits 1 when there is any.
import base64, sys, urllib.parse

k = int(sys.argv[1]); canaries = sys.argv[2:2 + k]; files = sys.argv[2 + k:]
needles = {}
for c in canaries:
    b = c.encode()
    for form, v in (("plain", b), ("base64", base64.b64encode(b)),
                    ("base64url", base64.urlsafe_b64encode(b).rstrip(b"=")),
                    ("url", urllib.parse.quote(c, safe="").encode())):
        needles.setdefault(v, (c, form))
leaks = 0
for f in files:
    data = open(f, "rb").read()
    for v, (c, form) in needles.items():
        if v in data:
            leaks += 1
            at = data.index(v)
            print(f"LEAK: {c!r} ({form}) in {f}: ...{data[max(0, at - 60):at + len(v) + 20]!r}...")
print(f"{len(files)} files, {len(needles)} needles, {leaks} occurrences")
sys.exit(1 if leaks else 0)
