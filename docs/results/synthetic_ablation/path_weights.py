"""Fusion weights of tracking checkpoints on whole frames (issue 13's MPSD finding, docs/results.md).

For the runs the gradient probe cannot take (the bundled student, the teacher): the frames 0 and N/2 of every
sequence of DATASET, whole, through each checkpoint's feature extractor; per fused level, each path's mean
weight (student: MPSD, Eq. 6; teacher: FRS's selection, averaged over channels) and the mean of each frame's
largest weight (1.0: one path for every frame).

    PYTHONPATH=. python docs/results/synthetic_ablation/path_weights.py DATA/synth_val CKPT [CKPT ...]
"""
import sys

import numpy as np
import torch

from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint


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
        with torch.no_grad():
            features = net.eval().extract_features(rgb, thermal)
        for level, weights in features.path_weights.items():
            means = "  ".join(f"{name} {float(w):.3f}" for name, w in zip(features.path_names, weights.mean(dim=0)))
            print(f"{path}  {level}  {means}  largest {float(weights.max(dim=1).values.mean()):.3f}"
                  f"  ({weights.shape[0]} frames)")


if __name__ == "__main__":
    main()
