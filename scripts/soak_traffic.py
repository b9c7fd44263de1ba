#!/usr/bin/env python3
"""Mixed traffic for scripts/soak.sh, against a sealgate on loopback only.

Each worker thread keeps one keep-alive connection and, until the deadline,
sends requests of these kinds, picked at random by weight, checking each
answer's status:

  valid_cookie      /auth/verify with a minted session cookie          -> 200
  chunked_cookie    /auth/verify with a session split into chunks      -> 200
  garbage_cookie    /auth/verify with junk: random text, random
                    well-formed JWE (reaches AES-GCM), a cut or
                    tampered valid token, chunks missing or too many   -> 401
  bearer            /auth/verify with a minted API token               -> 200
  garbage_bearer    /auth/verify with junk Bearer credentials          -> 401
  signin            POST /auth/signin/credentials (demo/demo), then
                    /auth/verify with the cookie it set (200), then
                    POST /auth/signout with it (303, cookie removed)   -> 303
  failed_signin     POST /auth/signin/credentials, one of FAILED_NAMES
                    unknown users (a bounded set, as real mistyped
                    names are: each takes one rate-limiter entry)      -> 303

For the first FILL_SECONDS (the start of the warm-up) every request is a
new, well-formed, forged session cookie or API token (fill_cookie,
fill_bearer -> 401): each reaches AES-GCM and takes a place in the
refused-token caches, so those bounded caches reach their byte caps before
RSS is judged, instead of filling slowly all through the run.

Prints one JSON line of counts per kind and status, and exits 1 if any
answer was unexpected or a connection failed (a 5xx counts as unexpected).

Usage: soak_traffic.py BASE_URL DURATION_SECONDS THREADS [FILL_SECONDS]
Environment: SOAK_COOKIE, SOAK_CHUNKED_COOKIE (Cookie header values),
SOAK_API_TOKEN; SOAK_KINDS (comma-separated kinds, default all) to send only
some kinds, to tell which one memory goes to.
"""

import base64
import collections
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

# Distinct usernames the failed sign-ins use. The limiter keeps an entry per
# name for credentials.failure_window (15 minutes, longer than the run), so
# an unbounded set would make RSS rise all through the soak by design, up to
# the limiter's own cap of 100,000 entries; that cap is a unit test's job.
FAILED_NAMES = 1000

WEIGHTS = {
    "valid_cookie": 30,
    "chunked_cookie": 10,
    "garbage_cookie": 30,
    "bearer": 10,
    "garbage_bearer": 15,
    "signin": 2,
    "failed_signin": 3,
}
EXPECTED = {
    "valid_cookie": {200},
    "chunked_cookie": {200},
    "garbage_cookie": {401},
    "bearer": {200},
    "garbage_bearer": {401},
    "signin": {303},
    "failed_signin": {303},
    "fill_cookie": {401},
    "fill_bearer": {401},
}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def garbage_cookie(rng, cookie):
    name, _, token = cookie.partition("=")
    choice = rng.randrange(7)
    if choice == 0:
        value = "".join(rng.choice("abcXYZ019-_.~!*") for _ in range(rng.randrange(1, 2000)))
        return f"{name}={value}"
    if choice == 1:
        # Well-formed, so it passes the strict split and fails only in AES-GCM;
        # always new, so the refused-token cache keeps taking entries.
        return f"{name}={forged(rng, token)}"
    if choice == 2:
        return f"{name}={token[: rng.randrange(1, len(token))]}"
    if choice == 3:
        at = rng.randrange(len(token))
        flipped = "A" if token[at] != "A" else "B"
        return f"{name}={token[:at]}{flipped}{token[at + 1:]}"
    if choice == 4:
        # Chunks that do not join into a token.
        return "; ".join(f"{name}_{i}={b64(rng.randbytes(300))}" for i in range(1, 4))
    if choice == 5:
        # More chunks than max_chunks (5).
        return "; ".join(f"{name}_{i}=x" for i in range(1, 8))
    return f"other=1; {name}=; theme=dark"


def forged(rng, token):
    """A new token with `token`'s header: well-formed, so only AES-GCM refuses it."""
    header = token.split(".")[0]
    ct = b64(rng.randbytes(rng.randrange(16, 1200)))
    return f"{header}..{b64(rng.randbytes(12))}.{ct}.{b64(rng.randbytes(16))}"


def garbage_bearer(rng, api_token):
    choice = rng.randrange(6)
    if choice == 0:
        return "Bearer " + ".".join(b64(rng.randbytes(rng.randrange(1, 60))) for _ in range(5))
    if choice == 5:
        return "Bearer " + forged(rng, api_token)
    if choice == 1:
        return "Bearer " + ".".join(b64(rng.randbytes(rng.randrange(1, 200))) for _ in range(3))
    if choice == 2:
        return "Bearer " + api_token[:-3] + "AAA"
    if choice == 3:
        return "Basic " + b64(rng.randbytes(20))
    return "Bearer " + b64(rng.randbytes(rng.randrange(1, 500)))


class Worker(threading.Thread):
    def __init__(self, host, port, deadline, fill_until, seed, config):
        super().__init__(daemon=True)
        self.host, self.port, self.deadline, self.config = host, port, deadline, config
        self.fill_until = fill_until
        self.rng = random.Random(seed)
        self.counts = collections.Counter()
        self.unexpected = collections.Counter()
        self.conn = None

    def request(self, method, path, headers=None, body=None):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                response.read()
                return response
            except (http.client.HTTPException, OSError):
                # A closed keep-alive connection: one retry on a new one.
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def verify(self, headers):
        return self.request("GET", "/auth/verify", headers).status

    def signin(self, username, password):
        body = urllib.parse.urlencode({"username": username, "password": password})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", "/auth/signin/credentials", headers, body)

    def one(self, kind):
        cfg = self.config
        if kind == "fill_cookie":
            name = cfg["cookie"].split("=")[0]
            return self.verify({"Cookie": f"{name}={forged(self.rng, cfg['cookie'].split('=', 1)[1])}"})
        if kind == "fill_bearer":
            return self.verify({"Authorization": "Bearer " + forged(self.rng, cfg["api_token"])})
        if kind == "valid_cookie":
            return self.verify({"Cookie": cfg["cookie"]})
        if kind == "chunked_cookie":
            return self.verify({"Cookie": cfg["chunked"]})
        if kind == "garbage_cookie":
            return self.verify({"Cookie": garbage_cookie(self.rng, cfg["cookie"])})
        if kind == "bearer":
            return self.verify({"Authorization": "Bearer " + cfg["api_token"]})
        if kind == "garbage_bearer":
            return self.verify({"Authorization": garbage_bearer(self.rng, cfg["api_token"])})
        if kind == "failed_signin":
            return self.signin(f"nobody-{self.rng.randrange(FAILED_NAMES)}", "wrong").status
        # signin: sign in, use the session, sign out.
        response = self.signin("demo", "demo")
        cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        session = [c for c in cookies if c.startswith(cfg["cookie"].split("=")[0] + "=") and c.split("=", 1)[1]]
        if response.status != 303 or not session:
            return response.status
        status = self.verify({"Cookie": session[0]})
        if status != 200:
            self.unexpected[("signin_then_verify", status)] += 1
        out = self.request("POST", "/auth/signout", {"Cookie": session[0]})
        cleared = any(k.lower() == "set-cookie" and "Max-Age=0" in v for k, v in out.getheaders())
        if out.status != 303 or not cleared:
            self.unexpected[("signout", out.status)] += 1
        return response.status

    def run(self):
        kinds, weights = zip(*WEIGHTS.items())
        while time.monotonic() < self.deadline:
            if time.monotonic() < self.fill_until:
                kind = self.rng.choice(["fill_cookie", "fill_bearer"])
            else:
                kind = self.rng.choices(kinds, weights)[0]
            try:
                status = self.one(kind)
            except (http.client.HTTPException, OSError) as error:
                status = f"error:{type(error).__name__}"
            self.counts[(kind, status)] += 1
            if status not in EXPECTED[kind]:
                self.unexpected[(kind, status)] += 1


def main():
    base, duration, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    fill = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    url = urllib.parse.urlsplit(base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to send load to {url.hostname}: loopback only")
    config = {
        "cookie": os.environ["SOAK_COOKIE"],
        "chunked": os.environ["SOAK_CHUNKED_COOKIE"],
        "api_token": os.environ["SOAK_API_TOKEN"],
    }
    kinds = os.environ.get("SOAK_KINDS")
    if kinds:
        for kind in set(WEIGHTS) - set(kinds.split(",")):
            del WEIGHTS[kind]
    start = time.monotonic()
    deadline, fill_until = start + duration, start + fill
    workers = [Worker(url.hostname, url.port, deadline, fill_until, seed, config) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 30)
    counts, unexpected = collections.Counter(), collections.Counter()
    for worker in workers:
        counts.update(worker.counts)
        unexpected.update(worker.unexpected)
    by_kind = collections.defaultdict(dict)
    for (kind, status), n in sorted(counts.items(), key=str):
        by_kind[kind][str(status)] = n
    print(json.dumps({"requests": sum(counts.values()), "by_kind": by_kind,
                      "unexpected": {f"{k}:{s}": n for (k, s), n in unexpected.items()}}))
    missing = [kind for kind in WEIGHTS if not any(k == kind for k, _ in counts)]
    if unexpected or missing:
        print(f"unexpected answers: {dict(unexpected)}; kinds never sent: {missing}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
