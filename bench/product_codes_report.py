"""The table bench/product_codes.py ends with: each figure of ours beside the peers' and the
ratio ours ÷ theirs (above 1: ours does more per second, or stores more bytes), then how long
each part took and whether every claim was counted exactly once."""

from __future__ import annotations

import os
import statistics

from bench.wrk_replay import rate

MIB = 1024 * 1024


def report(results: dict, timings: dict[str, float]) -> None:
    n = results["codes"]
    fill, sizes, made, stream, export = (results[k] for k in ("fill", "peer_sizes", "generate", "stream", "export"))
    rows = []
    ours_rate = made["rows"] / made["seconds"]
    theirs_rate = fill["codes"] / fill["database_seconds"]
    rows.append((f"make {n:,} codes, codes/s", f"{ours_rate:,.0f} ({made['seconds']:.0f} s; no insert, nothing "
                 "stored)", f"{theirs_rate:,.0f} stored/s ({fill['database_seconds']:.0f} s in PostgreSQL, "
                 f"{fill['seconds']:.0f} s in all)", ours_rate / theirs_rate))
    chunks = results["csv_chunks"]
    rows.append(("codes.csv rows in process, codes/s", f"{chunks['rows'] / chunks['seconds']:,.0f} (exports.csv_chunks)",
                 f"{theirs_rate:,.0f} stored/s (as above)", chunks["rows"] / chunks["seconds"] / theirs_rate))
    rows.append(("storage, bytes", f"1 row: {results['batch_row']:,} B", f"{n:,} rows: {sizes['total'] / MIB:,.0f} MiB "
                 f"(table {sizes['heap'] / MIB:,.0f} + indexes {sizes['indexes'] / MIB:,.0f})",
                 results["batch_row"] / sizes["total"]))
    stream_rate, export_rate = stream["rows"] / stream["seconds"], export["rows"] / export["seconds"]
    rows.append(("codes.csv over HTTP, codes/s", f"{stream_rate:,.0f} (computed; worker RSS {_rss(stream)})",
                 f"{export_rate:,.0f} (read from the table; worker RSS {_rss(export)})", stream_rate / export_rate))
    for kind, label in (("genuine", "verify a genuine code"), ("changed", "verify a code, 1 char changed")):
        v = results["verify"][kind]
        rows.append((f"{label}, /s", f"{v['ours']:,.0f} (decode, no I/O)", f"{v['theirs']:,.0f} (a lookup each)",
                     v["ours"] / v["theirs"]))
    claims = results["claims"]
    for run in range(2):
        mine, theirs = claims["ours"][run], claims["theirs"][run]
        rows.append((f"claims/s, {results['clients']} clients, run {run + 1}", f"{rate(mine):,.0f} (p99 "
                     f"{mine['p99_us'] / 1000:.0f} ms)", f"{rate(theirs):,.0f} (p99 {theirs['p99_us'] / 1000:.0f} ms)",
                     rate(mine) / rate(theirs)))
    mean_ours = statistics.mean(rate(f) for f in claims["ours"])
    mean_theirs = statistics.mean(rate(f) for f in claims["theirs"])
    rows.append(("claims/s, mean of the runs", f"{mean_ours:,.0f}", f"{mean_theirs:,.0f}", mean_ours / mean_theirs))

    width = [max(len(r[i]) for r in rows) for i in range(3)]
    head = ("", "ours (computed codes)", "theirs (a row per code)")
    width = [max(w, len(h)) for w, h in zip(width, head)]
    print()
    print(f"{head[0]:<{width[0]}} | {head[1]:<{width[1]}} | {head[2]:<{width[2]}} | ours ÷ theirs")
    print("-" * (sum(width) + 22))
    for label, mine, theirs, ratio in rows:
        shown = f"{ratio:.2f}" if ratio >= 0.01 else f"1 : {1 / ratio:,.0f}"
        print(f"{label:<{width[0]}} | {mine:<{width[1]}} | {theirs:<{width[2]}} | {shown:>12}")

    print()
    _notes(results)
    print()
    print("time per part: " + "; ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
          + f"; in all {sum(timings.values()) / 60:.1f} min")
    print(f"{results['load_after']} after the run. gunicorn, PostgreSQL, Redis, wrk and this process share these "
          "cores (with anything else running: see the load average).")


def _rss(read: dict) -> str:
    start, peak, end, _, spread = read["rss"]
    return f"{start / 1024:.0f}→{peak / 1024:.0f}→{end / 1024:.0f} MiB, then within {spread / 1024:.1f}"


def _notes(results: dict) -> None:
    fill, stream, counts = results["fill"], results["stream"], results["claim_counts"]
    claims = results["claims"]
    if fill["reused"]:
        print(f"the peers' table was reused: its fill ran {fill['filled_at']:%Y-%m-%d %H:%M}")
    for side, read in (("ours", stream), ("theirs", results["export"])):
        print(f"codes.csv, {side}: {read['rows']:,} rows, {read['bytes'] / 1e6:,.0f} MB, {read['content_type']}"
              f"{', chunked' if read['chunked'] else ''}; first and last rows decode to serials 1 and "
              f"{results['codes']:,}: {'yes' if read['checked'] else 'NO'}; worker RSS start→peak→end {_rss(read)}")
    passed = results["verify"]["changed"]["passed"]
    found = results["verify"]["changed"]["found"]
    print(f"codes with one character changed: {passed} passed our decode, {found} were found in the peers' table; "
          f"genuine: {results['verify']['genuine']['passed']:,} decoded, {results['verify']['genuine']['found']:,} found")
    refused = sum(f["failed"] for f in claims["ours"]) + sum(f["failed"] for f in claims["theirs"])
    sent = results["claims_sent"]
    print(f"claims sent to each side: {sent:,} (warm-up included; ours one more, in process, whose statements were "
          f"counted); ours: {counts['claims']:,} rows in product_claims "
          f"({counts['serials']:,} distinct codes, {counts['credited']:,} credited to a guide, {counts['points']:,} "
          f"points in the ledger, {counts['refused']:,} refused scans); theirs: {results['peer_claimed']:,} rows "
          f"claimed; {refused} timed answers not 303 (ours) / 200 (theirs)")
    exact = counts["claims"] == counts["serials"] == sent + 1 == results["peer_claimed"] + 1 and counts["refused"] == 0 \
        and refused == 0
    print(f"every claim counted once on both sides: {'yes' if exact else 'NO'}")
    print(f"statements per claim: ours {results['statements']} (the code's batch, the customer, the claim, the "
          "member and ledger, the binding renewed, the timeline), theirs 2 (SELECT … FOR UPDATE, UPDATE)")
    per_claim = {side: sum(f["cpu"][0] for f in claims[side]) / sum(f["answered"] for f in claims[side]) * 1000
                 for side in ("ours", "theirs")}
    print(f"gunicorn CPU per claim (timed runs): ours {per_claim['ours']:.1f} ms, theirs {per_claim['theirs']:.1f} ms")
    print(f"cpu% in the claim lines: CPU time per second of wall time (100 = one core of {os.cpu_count()}) of "
          "gunicorn, every PostgreSQL and Redis process (other clients' included), wrk, and the rest of the machine")
