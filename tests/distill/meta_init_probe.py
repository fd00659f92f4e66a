"""Run under torchrun (2 gloo ranks): build a sharded DiT with `parallel.meta_init` from CHECKPOINT, count the
checkpoint reads per rank, gather the weights back and compare them with the file. Writes OUT/rank{R}.json.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distill/meta_init_probe.py CKPT OUT
"""

import json
import sys
from pathlib import Path

import torch

from livetalk.distill import parallel, stages
from livetalk.distill.config import load_train_config
from livetalk.models import checkpoint

ckpt, out = sys.argv[1], Path(sys.argv[2])
reads = []
_read = checkpoint.read_state_dict


def counting_read(path, *a, **kw):
    reads.append(str(path))
    return _read(path, *a, **kw)


checkpoint.read_state_dict = counting_read
torch.set_num_threads(1)
rank, world = parallel.init_from_env("cpu")
cfg = load_train_config(None, ["preset=micro", "parallel.strategy=fsdp", "parallel.meta_init=true"], stage="teacher")
model = stages._shared_model(cfg, ckpt, trainable=True)
sharded = parallel.is_sharded(model)
local = sum(p.to_local().numel() for p in model.parameters())
total = sum(p.numel() for p in model.parameters())
state = parallel.model_state(model)  # collective: full tensors on rank 0
same = None
if rank == 0:
    ref, _ = _read(ckpt)
    same = state.keys() == ref.keys() and all(torch.equal(state[k], ref[k]) for k in ref)
out.mkdir(parents=True, exist_ok=True)
(out / f"rank{rank}.json").write_text(json.dumps({"reads": len(reads), "sharded": sharded, "local": local,
                                                  "total": total, "same": same, "world": world}))
parallel.shutdown()
parallel.exit_process(0)
