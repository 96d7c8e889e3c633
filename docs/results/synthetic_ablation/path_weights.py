"""Fusion weights of tracking checkpoints on whole frames (issue 13's MPSD finding, docs/results.md).

For the runs the gradient probe cannot take (the bundled student, the teacher): the frames 0 and N/2 of every
sequence of DATASET, whole, through each checkpoint's feature extractor. Per fused level:

- each path's mean weight (student: MPSD, Eq. 6; teacher: FRS's selection, averaged over channels), the mean of
  each frame's largest weight (1.0: one path for every frame) and the share of frames whose largest weight is
  not on the path most frames choose;
- teacher: FRS's weights per channel: the mean of each (frame, channel)'s largest weight, the share of those
  above 0.99 (saturated) and the share of channels that choose the same path on every frame;
- student: Eq. 6's logits before the softmax: the mean gap between the largest and the smallest path logit, the
  mean over paths of each logit's standard deviation over the frames, and the descriptor's mean norm.

    PYTHONPATH=. python docs/results/synthetic_ablation/path_weights.py DATA/synth_val CKPT [CKPT ...]
"""
import sys

import numpy as np
import torch

from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.fusion import FRS, MPSD


def frames(root: str) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (N, 3, H, W) and thermal (N, 1, H, W) in [0, 1]: frames 0 and N/2 of every sequence."""
    rgb, thermal = [], []
    for sequence in open_dataset(root):
        for index in (0, len(sequence) // 2):
            pair = sequence[index]
            rgb.append(torch.from_numpy(pair.rgb).permute(2, 0, 1).float() / 255.0)
            thermal.append(torch.from_numpy(np.asarray(pair.thermal, dtype=np.float32) / 255.0)[None])
    return torch.stack(rgb), torch.stack(thermal)


def main() -> None:
    rgb, thermal = frames(sys.argv[1])
    for path in sys.argv[2:]:
        net, _ = load_checkpoint(path)
        per_channel = []  # FRS weights (N, 3, C), in the order of the fused levels
        logits = []  # MPSD's Eq. 6 logits (N, 3), in the order of the fused levels
        hooks = [module.register_forward_hook(lambda _m, _i, output: per_channel.append(output[1]))
                 for module in net.modules() if isinstance(module, FRS)]
        descriptors = []  # MPSD's Eq. 6 descriptors (N, 3C): the global max pools of the three fusions

        def record_eq6(_module, inputs, output) -> None:
            descriptors.append(inputs[0])
            logits.append(output)

        hooks += [module.path_fc.register_forward_hook(record_eq6) for module in net.modules()
                  if isinstance(module, MPSD)]
        with torch.no_grad():
            features = net.eval().extract_features(rgb, thermal)
        for hook in hooks:
            hook.remove()
        for index, (level, weights) in enumerate(features.path_weights.items()):
            means = "  ".join(f"{name} {float(w):.3f}" for name, w in zip(features.path_names, weights.mean(dim=0)))
            chosen = weights.argmax(dim=1)
            off_mode = float((chosen != chosen.mode().values).float().mean())
            line = (f"{path}  {level}  {means}  largest {float(weights.max(dim=1).values.mean()):.3f}, "
                    f"another path chosen on {100 * off_mode:.0f} % of the frames  ({weights.shape[0]} frames)")
            if per_channel:
                largest, chosen = per_channel[index].max(dim=1)
                fixed = (chosen == chosen[:1]).all(dim=0)
                line += (f"  per channel: largest {float(largest.mean()):.3f}, above 0.99 "
                         f"{100 * float((largest > 0.99).float().mean()):.1f} %, same path on every frame "
                         f"{100 * float(fixed.float().mean()):.1f} %  ({largest.shape[1]} channels)")
            if logits:
                gap = logits[index].max(dim=1).values - logits[index].min(dim=1).values
                line += (f"  logits: gap {float(gap.mean()):.1f}, frame-to-frame sd "
                         f"{float(logits[index].std(dim=0).mean()):.1f}; descriptor norm "
                         f"{float(descriptors[index].norm(dim=1).mean()):.0f}")
            print(line)


if __name__ == "__main__":
    main()
