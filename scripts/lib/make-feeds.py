"""Writes N small distinct RSS feeds to OUT/f/<i>.xml for the polling
benchmarks (scripts/poll-10k.sh, scripts/cluster-bench.sh): 5 items each,
numbered titles and links, dated in the hours before now.

Usage: python3 scripts/lib/make-feeds.py OUT N
"""
import os, sys, time
from email.utils import formatdate
out, n = sys.argv[1], int(sys.argv[2])
now = int(time.time())
os.makedirs(os.path.join(out, "f"), exist_ok=True)
words = "harbour council budget river storm bridge school rail market court festival vaccine mayor port drought".split()
for i in range(n):
    items = []
    for j in range(5):
        w = [words[(i * 7 + j * 3 + k) % len(words)] for k in range(4)]
        items.append(
            f"<item><guid>s{i}-{j}</guid><title>Report {i}.{j}: {' '.join(w)} update number {i * 5 + j}</title>"
            f"<link>https://news{i % 97}.example/{i}/{j}</link><pubDate>{formatdate(now - (j + 1) * 3600 - (i % 60) * 60, usegmt=True)}</pubDate>"
            f"<description>Item {j} of source {i} about the {w[0]} and the {w[1]}.</description></item>"
        )
    doc = (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Source {i}</title>'
           f"<link>https://news{i % 97}.example/</link><description>Feed {i}</description>{''.join(items)}</channel></rss>\n")
    with open(os.path.join(out, "f", f"{i}.xml"), "w") as fh:
        fh.write(doc)
