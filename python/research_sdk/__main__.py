"""python -m research_sdk sync [dir] [--api-url URL] [--api-key KEY]"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from ._sync import sync


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m research_sdk", description="Assay Python SDK tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sync", help="upload metrics and updates left in the offline spool")
    s.add_argument("dir", nargs="?", help="spool root or one run directory (default: ASSAY_SPOOL_DIR or ~/.assay/spool)")
    s.add_argument("--api-url", help="server URL (default: ASSAY_API_URL, else the run's own URL)")
    s.add_argument("--api-key", help="API key (default: ASSAY_API_KEY)")
    s.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    results = sync(args.dir, args.api_url, args.api_key)
    if not results and not args.quiet:
        print("nothing to sync")
    bad = 0
    for r in results:
        if not r["result"].startswith(("done", "skipped")):
            bad += 1
        if not args.quiet or bad:
            print(f"{r['dir']}: {r['result']} ({r['batches']} batches, {r['points']} points, "
                  f"{r['duplicates']} already there)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
