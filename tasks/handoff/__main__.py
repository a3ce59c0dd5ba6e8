"""``python -m tasks.handoff --batch <id>``: a batch's exported features as PyTorch loaders with the champion's (or
``--version``'s) preprocessing and split; writes each split's loader info and prints where, and with ``--epoch``
trains a one-layer model for one epoch as a check. A missing extra, batch or version is one ``error:`` line."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse, hand off, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0].strip("`"))
    parser.add_argument("--batch", required=True, help="the exported batch (its id, as in data/features/<id>)")
    parser.add_argument("--model", default="high_performer", help="the model name (high_performer, final_score)")
    parser.add_argument("--version", type=int, default=None, help="a registered version (default: the champion)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--epoch", action="store_true", help="train a one-layer model for one epoch as a check")
    args = parser.parse_args(argv)
    from infra.errors import UserError

    try:
        from tasks.handoff.tasks import hand_off, one_epoch
        from tasks.handoff.torch_data import LoaderSettings, require_torch

        require_torch()
        handoff = hand_off(args.batch, args.model, args.version,
                           LoaderSettings(args.batch_size, args.seed, args.num_workers))
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for part, info in handoff.infos.items():
        print(f"{part:<6} {info['rows']:>7} rows  x {tuple(info['x_shape'])} float32  {info['batches']} batches of "
              f"{info['batch_size']}  {json.dumps(info.get('class_balance', {}))}")
    print(f"preprocessing of {args.model} v{next(iter(handoff.infos.values()))['model']['version']}; loader info: "
          f"{', '.join(handoff.files)}")
    if args.epoch and "train" in handoff.loaders:
        print(f"one epoch: {one_epoch(handoff, args.seed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
