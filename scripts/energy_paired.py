"""Paired energy-score differences between the rows `scripts/sample_spread.py --out FILE` wrote (same clips).

    python scripts/energy_paired.py FILE [--ref-role teacher --ref-steps 48 --ref-cfg 3]

Prints, for every row, its energy score minus the reference row's, averaged over the clips both scored, with the
paired standard error (`livetalk.eval.paired`). Negative = closer to the data's conditional distribution.
"""

from __future__ import annotations

import argparse
import json

from livetalk.eval.paired import paired_differences


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--ref-role", default="teacher")
    ap.add_argument("--ref-steps", type=int, default=48)
    ap.add_argument("--ref-cfg", type=float, default=3.0)
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.file) if line.strip()]
    per_clip = lambda r: {i: {"es": v} for i, v in enumerate(r["per_clip_score"])}  # noqa: E731
    ref = [r for r in rows if r["role"] == args.ref_role and r["steps"] == args.ref_steps
           and (r["cfg"] is None or r["cfg"] == args.ref_cfg)]
    if not ref:
        raise SystemExit(f"no row with role {args.ref_role}, steps {args.ref_steps}, cfg {args.ref_cfg} in {args.file}")
    for r in rows:
        d = paired_differences(per_clip(r), per_clip(ref[-1]), metrics=("es",))["es"]
        print(json.dumps({"model": r["model"], "role": r["role"], "steps": r["steps"], "cfg": r["cfg"],
                          "energy_score": r["energy_score"], "minus_ref": round(d["diff"], 4),
                          "sem": round(d["sem"], 4), "clips": d["clips"]}))


if __name__ == "__main__":
    main()
