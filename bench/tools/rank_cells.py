#!/usr/bin/env python3
"""Ranks the allocators of a harness run, cell by cell (paper_notes/peers-research.md's tables).

usage: rank_cells.py RESULTS/cells.csv [--hoardlab SERIES] [--exclude SERIES ...]

--hoardlab names the series the first table is about (default: hoardlab), for a run whose
hoardlab cells are a grid (e.g. hoardlab[config=huge-first]); --exclude leaves series out of
both tables (e.g. the grid's other points, so that each is ranked against the peers alone).

Prints two Markdown tables from the harness's cells.csv (median ops/s, its 95% CI and the median
peak RSS of each cell):
- per cell, hoardlab against the fastest other series and the lowest peak RSS of any other, the
  ratio best / hoardlab with an interval from the two CIs' like ends (lo/lo, hi/hi), and the
  geometric means of both ratios over the cells;
- per series, the geometric mean of its ratio to the fastest series of each cell (overall and
  by thread count), the cells it won, and the geometric mean of its peak RSS over the lowest.
Only cells with status ok count. The harness's own summary gives ratios to one baseline; this
gives ratios to the best of each cell, which is what the issue's targets are stated in.
"""
import argparse, csv, math, collections
ap = argparse.ArgumentParser(description="Ranks the allocators of a harness run, cell by cell.")
ap.add_argument("cells_csv")
ap.add_argument("--hoardlab", default="hoardlab", help="the series the first table is about")
ap.add_argument("--exclude", action="append", default=[], help="a series to leave out (repeatable)")
args = ap.parse_args()
rows = list(csv.DictReader(open(args.cells_csv)))
HL = args.hoardlab
cells = collections.defaultdict(dict)
order = []
for r in rows:
    if r['status'] != 'ok' or r['series'] in args.exclude: continue
    key = (r['benchmark'], int(r['threads']))
    if key not in cells: order.append(key)
    cells[key][r['series']] = r
def fmt(x):
    return f"{x/1e6:.2f}M" if x >= 1e6 else f"{x/1e3:.1f}k"
lt = []; lr = []; over125 = 0; rss_over = 0
print(f"| cell | {HL} ops/s [95% CI] | fastest other [95% CI] | best / {HL} [95% CI] | {HL} peak RSS | lowest other | {HL} / lowest |")
print("|---|---|---|---|---|---|---|")
for key in order:
    c = cells[key]
    hl = c.get(HL)
    if hl is None: continue
    others = [v for k, v in c.items() if k != HL]
    best = max(others, key=lambda v: float(v['ops_per_s']))
    low = min(others, key=lambda v: float(v['peak_rss_kib']))
    h, b = float(hl['ops_per_s']), float(best['ops_per_s'])
    ratio = b / h; lt.append(math.log(ratio)); over125 += ratio > 1.25
    rr = float(hl['peak_rss_kib']) / float(low['peak_rss_kib']); lr.append(math.log(rr)); rss_over += rr > 1.5
    print(f"| {key[0]}/t{key[1]} | {fmt(h)} [{fmt(float(hl['ops_ci_lo']))}, {fmt(float(hl['ops_ci_hi']))}] | {best['series']} {fmt(b)} [{fmt(float(best['ops_ci_lo']))}, {fmt(float(best['ops_ci_hi']))}] | {ratio:.2f} [{float(best['ops_ci_lo'])/float(hl['ops_ci_lo']):.2f}, {float(best['ops_ci_hi'])/float(hl['ops_ci_hi']):.2f}] | {float(hl['peak_rss_kib'])/1024:.1f} MiB | {low['series']} {float(low['peak_rss_kib'])/1024:.1f} MiB | {rr:.2f} |")
if not lt:
    raise SystemExit(f"no cell has the series {HL!r} (--hoardlab)")
print(f"| **geomean** | | | **{math.exp(sum(lt)/len(lt)):.2f}** | | | **{math.exp(sum(lr)/len(lr)):.2f}** |")
print(f"cells over 1.25 in time: {over125} of {len(lt)}; cells over 1.5 in RSS: {rss_over}")
# ranking: per allocator geomean of ratio to fastest, and RSS to lowest
series = sorted({s for c in cells.values() for s in c})
print()
thread_counts = sorted({t for _, t in order})
by_threads = " / ".join(f"T{t}" for t in thread_counts)
print(f"| allocator | time: geomean of ratio to the fastest | {by_threads} | cells won | peak RSS: geomean of ratio to the lowest |")
print("|---|---|---|---|---|")
res = []
for s in series:
    lg = []; by_t = collections.defaultdict(list); won = 0; lrs = []
    for key in order:
        c = cells[key]
        if s not in c: continue
        fastest = max(float(v['ops_per_s']) for v in c.values())
        lowest = min(float(v['peak_rss_kib']) for v in c.values())
        r = fastest / float(c[s]['ops_per_s']); lg.append(math.log(r)); by_t[key[1]].append(math.log(r))
        won += r == 1.0
        lrs.append(math.log(float(c[s]['peak_rss_kib']) / lowest))
    g = math.exp(sum(lg)/len(lg))
    res.append((g, s, " / ".join(f"{math.exp(sum(v)/len(v)):.2f}" for t, v in sorted(by_t.items())), won, math.exp(sum(lrs)/len(lrs))))
for g, s, t, won, rss in sorted(res):
    print(f"| {s} | {g:.2f} | {t} | {won} | {rss:.2f} |")
