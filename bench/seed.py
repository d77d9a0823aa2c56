#!/usr/bin/env python3
"""Seed a MarketScout-compatible HTTP API for the load benchmark (standard library only).

Every server (MarketScout on SQLite, on PostgreSQL, and the FastAPI reference) is seeded the
same way, through its public HTTP API, with the same deterministic content, so the numbers that
bench/load.sh measures afterwards compare like with like.

Subcommands:
  seed   URL --out FILE   sign up one user, create products, ads, watchlist entries and trend
                          scores; write {"token", "product_ids", ...} as JSON to FILE
  token  URL              print a fresh bearer token for the benchmark user
  check  URL PATH...      GET each path (with the token from --token, if given) and fail unless
                          every answer is 2xx with a JSON body
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

USERNAME = "bench_user"
EMAIL = "bench_user@example.com"
PASSWORD = "Bench-Passw0rd-2024!"
SEED = 20240917

PLATFORMS = ["TikTok", "Facebook", "Instagram", "YouTube", "Twitter"]
COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "JP", "KR", "IN",
             "ID", "BR", "MX", "NG", "ZA", "AU", "CA"]

ADJECTIVES = ["Portable", "Smart", "Wireless", "Eco", "Magnetic", "Foldable", "LED", "Ergonomic",
              "Mini", "Ultra", "Heated", "Self-Cleaning", "Rechargeable", "Waterproof", "Bamboo",
              "Glow", "Compact", "Premium", "Silent", "Cordless"]
NOUNS = ["Blender", "Face Mask", "Pet Brush", "Phone Stand", "Water Bottle", "Posture Corrector",
         "Desk Lamp", "Car Vacuum", "Yoga Mat", "Neck Fan", "Lunch Box", "Hair Straightener",
         "Massage Gun", "Plant Pot", "Earbuds", "Sunset Lamp", "Jump Rope", "Knife Sharpener",
         "Cable Organizer", "Ice Roller", "Backpack", "Smart Ring", "Projector", "Shower Head"]
FEATURES = ["keeps going for 12 hours", "fits in any bag", "charges over USB-C",
            "is made from recycled materials", "sets up in seconds", "is quiet enough for the office",
            "comes in six colours", "is dishwasher safe", "folds flat for travel",
            "has a two-year warranty", "works with every phone", "weighs less than an apple"]
AUDIENCES = ["busy parents", "students", "gamers", "pet owners", "home cooks", "runners",
             "remote workers", "travellers", "gardeners", "new homeowners"]
HOOKS = ["Everyone is talking about this", "I did not expect this to work", "Watch this before you buy",
         "The upgrade my desk needed", "POV: you finally found it", "This changed my morning routine",
         "Stop scrolling", "Honest review after 30 days", "Three reasons to get one",
         "Why is nobody talking about this"]
VIRAL_BITS = ["viral", "trending", "limited stock", "flash sale", "sale ends now", "must-have",
              "almost sold out", "deal of the day", "ALERT"]
CTAS = ["Link in bio", "Shop now", "Tap to order", "Free shipping today", "Order before midnight",
        "Use code SCOUT10", "Available in the app"]
EMOJI = ["\U0001F525", "\U0001F680", "\u2728", "\U0001F60D", "\U0001F4E6", "\U0001F6A8"]


# --- content ----------------------------------------------------------------------------------
def make_products(rng, n):
    out = []
    for i in range(n):
        noun = rng.choice(NOUNS)
        name = f"{rng.choice(ADJECTIVES)} {noun} {rng.choice(['', 'Pro ', 'Max ', 'Lite ', 'X '])}{1000 + i}"
        sentences = [f"This {noun.lower()} {f}."
                     for f in rng.sample(FEATURES, rng.randint(1, 4))]
        sentences.append(f"Loved by {rng.choice(AUDIENCES)}.")
        out.append({"name": name[:200], "description": " ".join(sentences)[:1000]})
    return out


def make_ad_text(rng, product_name):
    kind = rng.random()
    parts = [rng.choice(HOOKS) + rng.choice([":", " -", "."])]
    if kind < 0.35:  # hype copy: exclamation marks, viral keywords, sometimes emoji / shouting
        parts.append(f"the {product_name} is {rng.choice(VIRAL_BITS)}" + "!" * rng.randint(1, 4))
        if rng.random() < 0.5:
            parts.append(rng.choice(VIRAL_BITS) + "!")
        if rng.random() < 0.4:
            parts.append(rng.choice(EMOJI) * rng.randint(1, 3))
        text = " ".join(parts)
        if rng.random() < 0.15:
            text = text.upper()
    else:  # plain copy of varied length
        parts.append(f"Meet the {product_name}.")
        parts.extend(f"It {f}." for f in rng.sample(FEATURES, rng.randint(1, 5)))
        if rng.random() < 0.3:
            parts.append(f"Perfect for {rng.choice(AUDIENCES)}.")
        text = " ".join(parts)
    text = f"{text} {rng.choice(CTAS)}"
    return text[:2000]


# --- HTTP -------------------------------------------------------------------------------------
class HttpError(Exception):
    pass


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, base_url, timeout=60.0):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http" or not u.hostname:
            raise SystemExit(f"only http://host:port URLs are supported, got {base_url!r}")
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def request(self, method, path, body=None, headers=None, form=False):
        hdrs = {"Accept": "application/json"}
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        else:
            data = None
        hdrs.update(headers or {})
        for attempt in range(3):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                # The server closed an idle keep-alive connection: reconnect and retry.
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise HttpError(f"{method} {path}: {exc!r}") from exc
                time.sleep(0.05 * (attempt + 1))
        if not 200 <= resp.status < 300:
            raise HttpError(f"{method} {path} -> HTTP {resp.status}: {raw[:300].decode(errors='replace')}")
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise HttpError(f"{method} {path} -> HTTP {resp.status} with a non-JSON body: {raw[:200]!r}") from exc


def run_parallel(items, fn, workers):
    """fn(item) for every item on `workers` threads; results in input order; first error aborts."""
    results = [None] * len(items)
    next_index = [0]
    lock = threading.Lock()
    failed = []

    def worker():
        while not failed:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(items):
                return
            try:
                results[i] = fn(items[i])
            except Exception as exc:  # noqa: BLE001 - reported below
                failed.append(exc)
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return results


def get_token(client):
    tok = client.request("POST", "/token", {"username": USERNAME, "password": PASSWORD}, form=True)
    if not isinstance(tok, dict) or not tok.get("access_token"):
        raise HttpError(f"POST /token answered without access_token: {tok!r}")
    return tok["access_token"]


def step(label, n, fn):
    t0 = time.monotonic()
    out = fn()
    dt = time.monotonic() - t0
    print(f"  {label:<22} {n:>6} requests in {dt:6.1f} s ({n / dt if dt else 0:8.0f} req/s)", flush=True)
    return out


def cmd_seed(args):
    rng = random.Random(SEED)
    client = Client(args.url)
    workers = args.concurrency
    t_start = time.monotonic()

    products = make_products(rng, args.products)
    # Skewed ad distribution (a few products get many ads), deterministic.
    ad_specs = []
    for _ in range(args.ads):
        idx = min(int(len(products) * rng.random() ** 2.5), len(products) - 1)
        ad_specs.append((idx, rng.choice(PLATFORMS), make_ad_text(rng, products[idx]["name"]), rng.choice(COUNTRIES)))
    watch_idx = rng.sample(range(len(products)), min(args.watch, len(products)))
    with_ads = sorted({idx for idx, *_ in ad_specs})
    score_pool = with_ads if len(with_ads) >= args.scores else list(range(len(products)))
    score_idx = rng.sample(score_pool, min(args.scores, len(score_pool)))

    step("POST /signup", 1, lambda: client.request(
        "POST", "/signup", {"username": USERNAME, "email": EMAIL, "password": PASSWORD}))
    token = step("POST /token", 1, lambda: get_token(client))
    auth = {"Authorization": f"Bearer {token}"}

    def create_product(p):
        body = client.request("POST", "/products", p)
        if not isinstance(body, dict) or "id" not in body:
            raise HttpError(f"POST /products answered without id: {body!r}")
        return body["id"]

    ids = step("POST /products", len(products), lambda: run_parallel(products, create_product, workers))

    def create_ad(spec):
        idx, platform, text, country = spec
        client.request("POST", "/ads", {"product_id": ids[idx], "platform": platform,
                                        "ad_content": text, "country": country})

    step("POST /ads", len(ad_specs), lambda: run_parallel(ad_specs, create_ad, workers))
    step("POST /watchlists", len(watch_idx), lambda: run_parallel(
        watch_idx, lambda i: client.request("POST", "/watchlists", {"product_id": ids[i]}, headers=auth), workers))
    step("POST /calculate-score", len(score_idx), lambda: run_parallel(
        score_idx, lambda i: client.request("POST", f"/calculate-score/{ids[i]}"), workers))

    seconds = time.monotonic() - t_start
    total = 2 + len(products) + len(ad_specs) + len(watch_idx) + len(score_idx)
    print(f"  seeding took {seconds:.1f} s ({total} requests, {total / seconds:.0f} req/s, {workers} connections)",
          flush=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"token": token, "product_ids": ids, "seconds": round(seconds, 2), "requests": total,
                   "products": len(products), "ads": len(ad_specs), "watchlist": len(watch_idx),
                   "scores": len(score_idx)}, fh)


def cmd_token(args):
    print(get_token(Client(args.url)))


def cmd_check(args):
    client = Client(args.url)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    for path in args.paths:
        body = client.request("GET", path, headers=headers)
        if isinstance(body, dict) and len(body) == 1 and isinstance(next(iter(body.values())), (list, dict)):
            inner_key, inner = next(iter(body.items()))
            shape = f"{inner_key}: {len(inner)} entries"
        elif isinstance(body, (list, dict)):
            shape = f"{type(body).__name__} of {len(body)}"
        else:
            shape = type(body).__name__
        if not body:
            print(f"  warning: GET {path} answered an empty body: {body!r}", file=sys.stderr)
        for key in (args.nonempty or []):
            if isinstance(body, dict) and key in body and not body[key]:
                raise HttpError(f"GET {path}: {key!r} is empty: {json.dumps(body)[:200]}")
        print(f"  ok  GET {path} ({shape})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("url")
    s.add_argument("--out", required=True)
    s.add_argument("--products", type=int, default=10_000)
    s.add_argument("--ads", type=int, default=30_000)
    s.add_argument("--watch", type=int, default=50)
    s.add_argument("--scores", type=int, default=1_000)
    s.add_argument("--concurrency", type=int, default=16)
    t = sub.add_parser("token")
    t.add_argument("url")
    c = sub.add_parser("check")
    c.add_argument("url")
    c.add_argument("paths", nargs="+")
    c.add_argument("--token")
    c.add_argument("--nonempty", action="append", help="JSON key that must be non-empty when present")
    args = ap.parse_args()
    try:
        {"seed": cmd_seed, "token": cmd_token, "check": cmd_check}[args.cmd](args)
    except HttpError as exc:
        print(f"seed.py {args.cmd}: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
