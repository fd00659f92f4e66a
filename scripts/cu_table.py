"""One table row per `scripts/condition_use.py` JSON: held-out loss with true / other / zeroed audio (whole frame,
mouth box) and with the true / other / negative prompt.

    python scripts/cu_table.py NAME=cu.json [NAME=cu.json ...]
"""

from __future__ import annotations

import json
import sys


def row(name: str, d: dict) -> str:
    a, m, t = d["audio"], d["mouth"]["audio"], d["text"]
    f = lambda x: " / ".join(f"{x[k]:.5f}" for k in x)
    return (f"| {name} | {f(a)} | {f(m)} | {m['other'] - m['true']:+.5f} | {f(t)} |")


if __name__ == "__main__":
    print("| model | audio true / other / zero | mouth box | mouth gap (other − true) | text true / other / negative |")
    print("|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        print(row(name, json.load(open(path))))
