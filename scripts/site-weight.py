#!/usr/bin/env python3
"""The site's pages by weight and time to first byte, on the demo config.

    scripts/site-weight.py            # NEWSDESK_BIN=... to pick a binary (default:
                                      # target/release/newsdesk, else target/debug/newsdesk)

Starts newsdesk on a copy of config/demo.toml (its own port and store in a
temporary folder; the sample feeds are local files), then prints:

  - each page's size plain, gzipped and brotli'd (the issue's budget: under
    60 KB compressed), for the front page and both editions, a section, a
    region, a tag, a story page and a section's second page when there is one;
  - the time to first byte of the pre-rendered front page against a
    pre-rendered feed (/feeds/all.atom), and of an on-demand story page (after
    its first render, from the bounded cache), median of N requests each on
    one keep-alive connection, as ratios to the feed's.

The machine is shared and noisy: read the ratios, not the absolute times.
"""
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("N", "300"))
BUDGET = 60 * 1024


def binary():
    if os.environ.get("NEWSDESK_BIN"):
        return os.environ["NEWSDESK_BIN"]
    for p in ("target/release/newsdesk", "target/debug/newsdesk"):
        if os.path.exists(os.path.join(ROOT, p)):
            return os.path.join(ROOT, p)
    sys.exit("site-weight: build newsdesk first (cargo build)")


def get(conn, path, enc=None):
    h = {"Accept-Encoding": enc} if enc else {}
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def main():
    tmp = tempfile.mkdtemp(prefix="newsdesk-weight-")
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    demo = os.path.join(ROOT, "config")
    text = open(os.path.join(demo, "demo.toml"), encoding="utf-8").read()
    text = text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    text = re.sub(r'^path = .*$', f'path = "{tmp}/data"', text, count=1, flags=re.M)
    text = text.replace('url = "demo/', f'url = "{demo}/demo/')
    config = os.path.join(tmp, "demo.toml")
    open(config, "w", encoding="utf-8").write(text)
    proc = subprocess.Popen([binary(), "run", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "log"), "w"))
    try:
        conn = None
        items = []
        for _ in range(300):
            time.sleep(0.1)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                st, _, body = get(conn, "/feeds/all.json?limit=200")
                items = json.loads(body)["items"] if st == 200 else []
                if len(items) > 20:
                    time.sleep(1)
                    st, _, body = get(conn, "/feeds/all.json?limit=200")
                    items = json.loads(body)["items"]
                    break
            except (OSError, ValueError, http.client.HTTPException):
                conn = None
        if not items:
            sys.exit("site-weight: the demo daemon served no stories")
        # Wait for the first polls to settle: the front page unchanged for 3 s.
        last, since = None, time.time()
        while time.time() - since < 3:
            time.sleep(0.5)
            _, h, _ = get(conn, "/")
            tag = {k.lower(): v for k, v in h.items()}.get("etag")
            if tag != last:
                last, since = tag, time.time()
        best = max(items, key=lambda i: len(i["_newsdesk"]["sources"]))
        story = f"/stories/{best['_newsdesk']['story']}"
        section = best["_newsdesk"]["sections"][0] if best["_newsdesk"]["sections"] else "politics"
        region = (best["_newsdesk"]["regions"] or ["europe"])[0]
        tag = (best.get("tags") or ["world"])[0]
        pages = ["/", "/ar/", "/es/", f"/sections/{section}", f"/regions/{region}", f"/tags/{tag}", story,
                 f"/ar{story}"]
        _, _, first = get(conn, f"/sections/{section}")
        m = re.search(rb'href="([^"]+)" rel="next"', first)
        if m:
            pages.append(m.group(1).decode().replace("&amp;", "&"))
        print(f"{'page':52} {'plain':>8} {'gzip':>8} {'br':>8}  status")
        worst = 0
        for p in pages:
            sizes = []
            for enc in (None, "gzip", "br"):
                st, h, body = get(conn, p, enc)
                sizes.append(len(body))
            worst = max(worst, sizes[2] or sizes[1])
            print(f"{p[:52]:52} {sizes[0]:>8} {sizes[1]:>8} {sizes[2]:>8}  {st}")
        print(f"heaviest compressed page: {worst} bytes ({worst / BUDGET:.0%} of the 60 KB budget)")

        def ttfb(path):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            get(c, path, "br")  # warm: connection, and the cache for on-demand pages
            out = []
            for _ in range(N):
                c.putrequest("GET", path, skip_accept_encoding=True)
                c.putheader("Accept-Encoding", "br")
                t0 = time.perf_counter()
                c.endheaders()
                r = c.getresponse()  # returns once the status line and headers are in
                out.append(time.perf_counter() - t0)
                r.read()
            c.close()
            return statistics.median(out)

        def cold(paths):
            # The first request for each story page: rendered from the store.
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            out = []
            for p in paths:
                c.putrequest("GET", p, skip_accept_encoding=True)
                c.putheader("Accept-Encoding", "br")
                t0 = time.perf_counter()
                c.endheaders()
                r = c.getresponse()
                out.append(time.perf_counter() - t0)
                r.read()
            c.close()
            return statistics.median(out), len(out)

        rendered, n_cold = cold([f"/es/stories/{i['_newsdesk']['story']}" for i in items[:50]])
        feed = ttfb("/feeds/all.atom")
        front = ttfb("/")
        page = ttfb(story)
        print(f"time to first byte, median of {N} (keep-alive, br):")
        print(f"  /feeds/all.atom  {feed * 1e6:8.0f} µs  (pre-rendered feed)")
        print(f"  /                {front * 1e6:8.0f} µs  (pre-rendered page)  ratio page/feed {front / feed:.2f}")
        print(f"  {story[:16]:16} {page * 1e6:8.0f} µs  (story page, cached)  ratio story/feed {page / feed:.2f}")
        print(f"  /es/stories/*    {rendered * 1e6:8.0f} µs  (story page, first request: rendered, median of "
              f"{n_cold})  ratio {rendered / feed:.1f}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
