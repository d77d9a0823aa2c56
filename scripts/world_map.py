#!/usr/bin/env python3
"""Build assets/world/countries.tsv, the compact world map for the dashboard's choropleth.

Input
  * countries-110m.json from the npm package ``world-atlas`` (version 2.0.2 was used):
    Natural Earth 1:110m Admin-0 country outlines as quantized, delta-encoded TopoJSON,
    feature ids = ISO 3166-1 numeric codes as strings ("004"), a few features without id.
  * the numeric -> alpha-2 table: ``codes.json`` from the npm package
    ``i18n-iso-countries`` (version 7.14.0 was used), a JSON list of
    ``[alpha2, alpha3, numeric, "ISO 3166-2:XX"]`` rows.  A JSON object
    ``{"004": "AF", ...}`` or a two-column text file (``004<TAB or comma>AF``) works too.

Output
  ``# viewBox 0 0 1000 H`` on the first line, then one line per country, sorted by code:
  ``ALPHA2<TAB>name<TAB>SVG path d``.  Names are the TopoJSON's ``properties.name``.

What it does
  1. decodes the TopoJSON arcs (cumulative sum of the quantized deltas, then
     ``transform.scale``/``translate``) and builds every ring from its arc references
     (index ``~i`` = arc ``i`` reversed).  Each ring is closed on its own; rings are never
     joined to each other.  world-atlas keeps the data spherical: four arcs (Fiji, Russia's
     Chukotka and Wrangel Island, and Antarctica, which is dropped) hop between +180 and
     -180 inside one ring.  Such a ring is unwrapped and clipped at the 180th meridian into
     pieces that each close along the map's edge, so no stray line crosses the map;
  2. projects longitude/latitude with Equal Earth (Savric, Patterson & Jenny 2018) and
     scales it so that the whole globe is 1000 units wide; the height H is the globe's
     projected height, rounded up; y points down, y = 0 is the North Pole's line;
  3. optionally simplifies each *arc* (not each ring) with Douglas-Peucker at
     ``--tolerance`` viewBox units (default 0 = keep every Natural Earth vertex: the
     1:110m data already comes out near 75 KB), so neighbouring countries keep identical
     shared borders; rounds every
     point to ``--decimals`` decimals, drops repeated points and rings that collapse, and
     drops Antarctica (AQ);
  4. features without an id are handled by name (see HAND_CODES / MERGE_INTO below):
     Kosovo gets the user-assigned code XK; N. Cyprus is dissolved into Cyprus (CY) and
     Somaliland into Somalia (SO) (their common border is removed, as topojson.merge does);
  5. writes path data as ``M x y l dx dy ... z`` with relative commands (``h``/``v`` for
     axis-parallel steps, ``m`` relative for the following rings).  Every delta is taken
     between already rounded absolute points, so there is no drift and shared borders
     match exactly between countries.  Holes (e.g. Lesotho inside South Africa) are
     wound opposite to their outer ring, so both fill-rule nonzero and evenodd work.

Re-run (needs only python3 and npm's ordinary client; nothing is installed into the repo)
  tmp=$(mktemp -d) && cd "$tmp" \
    && npm pack world-atlas@2.0.2 i18n-iso-countries@7.14.0 \
    && mkdir wa iic && tar xzf world-atlas-2.0.2.tgz -C wa && tar xzf i18n-iso-countries-7.14.0.tgz -C iic \
    && cd - \
    && python3 scripts/world_map.py "$tmp/wa/package/countries-110m.json" \
         "$tmp/iic/package/codes.json" -o assets/world/countries.tsv

  (run from the repository root; the defaults --tolerance 0 --decimals 1 made the
  committed file; --tolerance 0.3 gives about 61 KB, --decimals 0 about 35 KB;
  add ``--svg map.svg`` to also write a preview SVG of every path.)
"""

import argparse
import json
import math
import os
import sys

WIDTH = 1000.0

# Features whose TopoJSON id is missing (Natural Earth's "-99"), keyed by properties.name.
HAND_CODES = {
    "Kosovo": "XK",  # user-assigned code used by the EU, CLDR, Google, etc.
}
MERGE_INTO = {
    "N. Cyprus": "CY",  # ISO 3166 counts it as part of Cyprus
    "Somaliland": "SO",  # ISO 3166 counts it as part of Somalia
}
DROP = {"AQ"}  # Antarctica: large, empty for our purposes

# Equal Earth constants (Savric, Patterson & Jenny 2018).
A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
M = math.sqrt(3.0) / 2.0


def equal_earth(lon, lat):
    """Equal Earth projection of degrees -> unitless (x east, y north)."""
    lam = math.radians(lon)
    theta = math.asin(M * math.sin(math.radians(lat)))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)))
    y = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2))
    return x, y


X_MAX = equal_earth(180.0, 0.0)[0]
Y_MAX = equal_earth(0.0, 90.0)[1]
SCALE = WIDTH / (2 * X_MAX)
HEIGHT = math.ceil(2 * Y_MAX * SCALE)


def to_view(lon, lat):
    x, y = equal_earth(lon, lat)
    return (x + X_MAX) * SCALE, (Y_MAX - y) * SCALE


def load_codes(path):
    """numeric string ("004") -> alpha-2, from codes.json, a JSON dict or a 2-column file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    table = {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            num, a2 = [p.strip() for p in line.replace(",", "\t").split("\t")[:2]]
            table[num.zfill(3)] = a2.upper()
    if isinstance(data, dict):
        table = {str(k).zfill(3): v.upper() for k, v in data.items()}
    elif isinstance(data, list):  # i18n-iso-countries codes.json
        for row in data:
            table[str(row[2]).zfill(3)] = row[0].upper()
    if not table:
        sys.exit("no codes read from %s" % path)
    return table


def decode_arcs(topo):
    """Quantized delta arcs -> (integer points, lon/lat points) per arc."""
    tr = topo.get("transform")
    out_q, out_ll = [], []
    for arc in topo["arcs"]:
        q, ll = [], []
        x = y = 0
        for p in arc:
            if tr:
                x += p[0]
                y += p[1]
                q.append((x, y))
                ll.append((x * tr["scale"][0] + tr["translate"][0],
                           y * tr["scale"][1] + tr["translate"][1]))
            else:
                q.append((p[0], p[1]))
                ll.append((p[0], p[1]))
        out_q.append(q)
        out_ll.append(ll)
    return out_q, out_ll


def geometry_rings(geom):
    """All rings (lists of arc refs) of a Polygon/MultiPolygon, outer and holes alike."""
    if geom["type"] == "Polygon":
        return [list(r) for r in geom["arcs"]]
    if geom["type"] == "MultiPolygon":
        return [list(r) for poly in geom["arcs"] for r in poly]
    return []


def arc_index(ref):
    return ref if ref >= 0 else ~ref


def dissolve(rings, arcs_q):
    """Merge rings of several features: drop arcs used in both directions, re-stitch."""
    refs = [r for ring in rings for r in ring]
    used = {}
    for r in refs:
        used.setdefault(arc_index(r), set()).add(r >= 0)
    keep = [r for r in refs if len(used[arc_index(r)]) == 1]

    def ends(r):
        pts = arcs_q[arc_index(r)]
        return (pts[0], pts[-1]) if r >= 0 else (pts[-1], pts[0])

    by_start = {}
    for r in keep:
        by_start.setdefault(ends(r)[0], []).append(r)
    done, out = set(), []
    for r in keep:
        if r in done:
            continue
        ring, start, cur = [], ends(r)[0], r
        while True:
            done.add(cur)
            ring.append(cur)
            end = ends(cur)[1]
            if end == start:
                break
            nxt = [c for c in by_start.get(end, []) if c not in done]
            if not nxt:
                sys.exit("dissolve: open ring")
            cur = nxt[0]
        out.append(ring)
    return out


def _seg_dist2(p, a, b):
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    px, py = p[0] - ax, p[1] - ay
    d2 = dx * dx + dy * dy
    if d2 == 0:
        return px * px + py * py
    t = max(0.0, min(1.0, (px * dx + py * dy) / d2))
    ex, ey = px - t * dx, py - t * dy
    return ex * ex + ey * ey


def douglas_peucker(pts, tol, lo=0, hi=None):
    """Indices of pts[lo..hi] kept by Douglas-Peucker (endpoints always kept)."""
    if hi is None:
        hi = len(pts) - 1
    if hi - lo < 2 or tol <= 0:
        return list(range(lo, hi + 1))
    if pts[lo] == pts[hi]:  # closed arc (a whole island): split at the farthest point
        far = max(range(lo, hi + 1), key=lambda i: _seg_dist2(pts[i], pts[lo], pts[lo]))
        if far in (lo, hi):
            return [lo, hi]
        return douglas_peucker(pts, tol, lo, far)[:-1] + douglas_peucker(pts, tol, far, hi)
    tol2 = tol * tol
    keep = {lo, hi}
    stack = [(lo, hi)]
    while stack:
        i, j = stack.pop()
        best, best_d = -1, tol2
        for k in range(i + 1, j):
            d = _seg_dist2(pts[k], pts[i], pts[j])
            if d > best_d:
                best, best_d = k, d
        if best >= 0:
            keep.add(best)
            stack.append((i, best))
            stack.append((best, j))
    return sorted(keep)


def simplify_arc(ll, tol):
    """Simplify one lon/lat arc in projected space; an arc that hops across the
    antimeridian is simplified piece by piece so the points on either side stay."""
    cuts = [0] + [k + 1 for k in range(len(ll) - 1)
                  if abs(ll[k + 1][0] - ll[k][0]) > 180] + [len(ll)]
    keep = []
    for a, b in zip(cuts, cuts[1:]):
        if b - a == 0:
            continue
        pts = [to_view(lon, lat) for lon, lat in ll[a:b]]
        keep.extend(a + i for i in douglas_peucker(pts, tol))
    return [ll[i] for i in keep]


def _clip(ring, keep_inside, cross):
    """Sutherland-Hodgman against one vertical line."""
    out = []
    for k in range(len(ring)):
        cur, prev = ring[k], ring[k - 1]
        if keep_inside(cur):
            if not keep_inside(prev):
                out.append(cross(prev, cur))
            out.append(cur)
        elif keep_inside(prev):
            out.append(cross(prev, cur))
    return out


def cut_antimeridian(ring):
    """A lon/lat ring that hops across +-180 -> pieces inside [-180, 180], each closed
    on its own along the meridian.  A ring that does not cross comes back unchanged."""
    if all(abs(b[0] - a[0]) <= 180 for a, b in zip(ring, ring[1:] + ring[:1])):
        return [ring]
    un = [ring[0]]
    for lon, lat in ring[1:]:
        plon = un[-1][0]
        lon += 360 * round((plon - lon) / 360)
        un.append((lon, lat))
    if abs(un[-1][0] - un[0][0]) > 180:
        sys.exit("ring winds around a pole; cannot cut it at the antimeridian")

    def at(lon_line):
        def cross(p, q):
            t = (lon_line - p[0]) / (q[0] - p[0])
            return (lon_line, p[1] + t * (q[1] - p[1]))
        return cross

    pieces = []
    lo = math.floor((min(p[0] for p in un) + 180) / 360)
    hi = math.floor((max(p[0] for p in un) + 180) / 360)
    for band in range(lo, hi + 1):
        shifted = [(lon - 360 * band, lat) for lon, lat in un]
        part = _clip(shifted, lambda p: p[0] <= 180, at(180))
        part = _clip(part, lambda p: p[0] >= -180, at(-180)) if part else []
        if len(part) >= 3:
            pieces.append(part)
    return pieces


def ring_points(ring, arcs):
    pts = []
    for r in ring:
        a = arcs[arc_index(r)]
        if r < 0:
            a = a[::-1]
        pts.extend(a if not pts else a[1:])
    return pts


def signed_area(pts):
    s = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
        s += x0 * y1 - x1 * y0
    return s / 2


def fmt(v, decimals):
    s = ("%.*f" % (decimals, v)) if decimals > 0 else str(int(round(v)))
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


def join_nums(nums):
    """Numbers separated by a space, or by nothing before a minus sign."""
    out = ""
    for n in nums:
        if out and not n.startswith("-"):
            out += " "
        out += n
    return out


def path_d(rings, decimals):
    scale = 10 ** decimals
    parts = []
    prev_start = None
    for pts in rings:
        ip = [(int(round(x * scale)), int(round(y * scale))) for x, y in pts]
        if ip[0] == ip[-1]:
            ip.pop()
        x0, y0 = ip[0]
        if prev_start is None:
            cmd = "M" + join_nums([fmt(x0 / scale, decimals), fmt(y0 / scale, decimals)])
        else:
            cmd = "m" + join_nums([fmt((x0 - prev_start[0]) / scale, decimals),
                                   fmt((y0 - prev_start[1]) / scale, decimals)])
        prev_start = (x0, y0)
        seq, cur_cmd, cur_nums = [cmd], None, []
        px, py = x0, y0
        for x, y in ip[1:]:
            dx, dy = x - px, y - py
            px, py = x, y
            if dx == 0 and dy == 0:
                continue
            if dy == 0:
                c, nums = "h", [fmt(dx / scale, decimals)]
            elif dx == 0:
                c, nums = "v", [fmt(dy / scale, decimals)]
            else:
                c, nums = "l", [fmt(dx / scale, decimals), fmt(dy / scale, decimals)]
            if c != cur_cmd:
                if cur_cmd:
                    seq.append(cur_cmd + join_nums(cur_nums))
                cur_cmd, cur_nums = c, []
            cur_nums.extend(nums)
        if cur_cmd:
            seq.append(cur_cmd + join_nums(cur_nums))
        parts.append("".join(seq) + "z")
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("topojson", help="countries-110m.json from world-atlas")
    ap.add_argument("codes", help="numeric -> alpha-2 table (i18n-iso-countries codes.json)")
    ap.add_argument("-o", "--output", default="assets/world/countries.tsv")
    ap.add_argument("--tolerance", type=float, default=0.0,
                    help="Douglas-Peucker tolerance in viewBox units (0 = none)")
    ap.add_argument("--decimals", type=int, default=1, help="decimals kept in coordinates")
    ap.add_argument("--svg", help="also write a preview SVG with every path")
    args = ap.parse_args()

    with open(args.topojson, encoding="utf-8") as f:
        topo = json.load(f)
    codes = load_codes(args.codes)
    arcs_q, arcs_ll = decode_arcs(topo)

    # Simplify each arc once (in projected space); shared borders stay identical.
    arcs_s = [simplify_arc(ll, args.tolerance) for ll in arcs_ll]

    countries = {}  # alpha2 -> {"name", "rings": [arc refs]}
    merges = []
    for g in topo["objects"]["countries"]["geometries"]:
        name = g.get("properties", {}).get("name", "")
        gid = g.get("id")
        rings = geometry_rings(g)
        if name in MERGE_INTO:
            merges.append((MERGE_INTO[name], rings, name))
            continue
        if gid is not None and str(gid).zfill(3) in codes:
            a2 = codes[str(gid).zfill(3)]
        elif name in HAND_CODES:
            a2 = HAND_CODES[name]
        else:
            print("skipped: id %r name %r (no alpha-2)" % (gid, name), file=sys.stderr)
            continue
        if a2 in DROP:
            print("dropped: %s %s" % (a2, name), file=sys.stderr)
            continue
        if a2 in countries:
            sys.exit("duplicate code %s (%s, %s)" % (a2, countries[a2]["name"], name))
        countries[a2] = {"name": name, "rings": rings}
    for a2, rings, name in merges:
        if a2 not in countries:
            sys.exit("merge target %s for %s missing" % (a2, name))
        countries[a2]["rings"] = dissolve(countries[a2]["rings"] + rings, arcs_q)
        print("merged: %s into %s %s" % (name, a2, countries[a2]["name"]), file=sys.stderr)

    q = 10 ** args.decimals
    lines = ["# viewBox 0 0 %d %d" % (int(WIDTH), HEIGHT)]
    for a2 in sorted(countries):
        c = countries[a2]
        rings = []
        for ring in c["rings"]:
            for piece in cut_antimeridian(ring_points(ring, arcs_s)):
                pts = [to_view(lon, lat) for lon, lat in piece]
                # round, drop repeats, and drop rings that collapse to nothing
                rp = []
                for x, y in pts:
                    p = (round(x * q) / q, round(y * q) / q)
                    if not rp or rp[-1] != p:
                        rp.append(p)
                if len(rp) > 1 and rp[0] == rp[-1]:
                    rp.pop()
                if len(rp) >= 3 and abs(signed_area(rp)) > 0:
                    rings.append(rp)
        if not rings:  # never lose a country: keep its unsimplified outline
            rings = [[to_view(lon, lat) for lon, lat in piece]
                     for r in c["rings"] for piece in cut_antimeridian(ring_points(r, arcs_ll))]
            print("kept unsimplified: %s" % a2, file=sys.stderr)
        d = path_d(rings, args.decimals)
        if "\t" in c["name"] or "\n" in c["name"]:
            sys.exit("bad name %r" % c["name"])
        lines.append("%s\t%s\t%s" % (a2, c["name"], d))

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: %d countries, viewBox 0 0 %d %d" %
          (args.output, len(lines) - 1, int(WIDTH), HEIGHT), file=sys.stderr)

    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" '
                    'width="%d" height="%d">\n<rect width="100%%" height="100%%" fill="#cfe3f3"/>\n'
                    % (int(WIDTH), HEIGHT, 2 * int(WIDTH), 2 * HEIGHT))
            for i, line in enumerate(lines[1:]):
                a2, name, d = line.split("\t")
                hue = (i * 47) % 360
                f.write('<path d="%s" fill="hsl(%d,45%%,70%%)" stroke="#333" '
                        'stroke-width="0.3"><title>%s %s</title></path>\n'
                        % (d, hue, a2, name.replace("&", "&amp;")))
            f.write("</svg>\n")


if __name__ == "__main__":
    main()
