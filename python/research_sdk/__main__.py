"""python -m research_sdk sync [dir] [--api-url URL] [--api-key KEY]

Exit status: 0 everything replayed; 1 some run could not be replayed (its spool is kept);
3 nothing failed, but the directory holds the TypeScript SDK's spools (listed on stderr with the
command that replays them) — docs/sdk-delivery.md rule 5."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from ._sync import foreign_message, sync_report


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m research_sdk", description="Assay Python SDK tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sync", help="upload metrics and updates left in the offline spool")
    s.add_argument("dir", nargs="?", help="spool root or one run directory (default: $ASSAY_SPOOL_DIR/python "
                                          "and legacy runs in $ASSAY_SPOOL_DIR; ASSAY_SPOOL_DIR defaults to ~/.assay/spool)")
    s.add_argument("--api-url", help="server URL (default: ASSAY_API_URL, else the run's own URL)")
    s.add_argument("--api-key", help="API key (default: ASSAY_API_KEY)")
    s.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    rep = sync_report(args.dir, args.api_url, args.api_key)
    runs, foreign = rep["runs"], rep["foreign"]
    if not runs and not foreign and not args.quiet:
        print("nothing to sync")
    bad = 0
    for r in runs:
        failed = not r["result"].startswith(("done", "skipped"))
        bad += failed
        if not args.quiet or failed:
            dropped = f", {r['dropped']} refused by the server" if r.get("dropped") else ""
            print(f"{r['dir']}: {r['result']} ({r['batches']} batches, {r['points']} points, "
                  f"{r['duplicates']} already there{dropped})")
    for f in foreign:
        print(f"foreign: {foreign_message(f)}", file=sys.stderr)
    if runs or foreign:
        print(f"summary: {len(runs)} run(s), {bad} failed, {sum(r['points'] for r in runs)} points sent, "
              f"foreign: {sum(f['segments'] for f in foreign)} TypeScript SDK segment(s)"
              + "".join(f" in {f['dir']}" for f in foreign), file=sys.stderr if foreign else sys.stdout)
    if bad:
        return 1
    return 3 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())
