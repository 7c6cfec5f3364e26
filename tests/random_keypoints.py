"""Seeded random keypoint dicts for the model tests (not a test module)."""

import torch


def random_keypoints(batch, num_kp, seed=0, jacobian=True, spread=0.8):
    """{'value': (B, K, 2) uniform in [-spread, spread], 'jacobian': (B, K, 2, 2) = I + 0.3·N(0, 1)}."""
    generator = torch.Generator().manual_seed(seed)
    kp = {"value": (torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1) * spread}   # (B, K, 2)
    if jacobian:
        kp["jacobian"] = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)
    return kp
