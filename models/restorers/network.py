"""The offline restorer's network: a conditional FFDNet that Restora trains and ships.

FFDNet (Zhang et al., 2018) showed that one small CNN fed a per-pixel noise-level map restores
each region at its own level. ``ConditionalFFDNet`` extends the map to the three degradations
RAP lets users set (noise σ, JPEG quality, blur width), so the EditPlan's per-pixel fidelity and
action maps become condition maps for a single forward pass: no crops, no seams.

Layout (FFDNet-colour sized, 0.86 M parameters):

    image (3, H, W) ──pixel-unshuffle ×2──▶ (12, H/2, W/2) ─┐
    conditions (3, H, W) ──2×2 average──▶ (3, H/2, W/2) ────┴▶ concat (15)
      → conv3×3 96 → ReLU → 5 residual blocks [conv3×3 → ReLU → conv3×3, + skip] → ReLU
      → conv3×3 12
      → pixel-shuffle ×2 → residual added to the image

Working at half resolution quadruples the receptive field per FLOP (50 px at full resolution,
enough for a 15×15 blur kernel); predicting the residual makes "no degradation" an easy identity.

Condition channels (each ≥ 0, 0 = "nothing to remove"):

- ``noise``: σ / 50 (σ on the 0–255 scale);
- ``jpeg``: (100 − quality) / 90, 0 without compression (quality 10 → 1.0, 95 → 0.06);
- ``blur``: Gaussian blur σ / 3 (px).

The network was trained on 0–1 per channel; the restorer may ask for up to 2× that (fidelity 0),
which FFDNet's maps extrapolate gracefully (more smoothing).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

logger = logging.getLogger(__name__)

#: The weights shipped in the package (trained by ``scripts/train_restorer.py``).
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "restora-ffdnet.safetensors"


@dataclass(frozen=True)
class NetworkConfig:
    channels: int = 96
    layers: int = 12
    conditions: int = 3  # noise, jpeg, blur

    @classmethod
    def from_json(cls, text: str) -> NetworkConfig:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class ResidualBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3, added to the input (EDSR-style, no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ConditionalFFDNet(nn.Module):
    """``forward(image, conditions)``: both (N, C, H, W) float, H and W even; returns (N, 3, H, W)."""

    def __init__(self, config: NetworkConfig | None = None):
        super().__init__()
        self.config = config = config or NetworkConfig()
        if config.layers < 4 or config.layers % 2:
            raise ValueError(
                f"layers must be an even number ≥ 4 (head, residual pairs, tail), got {config.layers}"
            )
        ch = config.channels
        self.head = nn.Conv2d(12 + config.conditions, ch, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(ch) for _ in range((config.layers - 2) // 2)])
        self.tail = nn.Conv2d(ch, 12, 3, padding=1)
        # Residual branches start small so the stack starts near the identity and trains fast
        # without normalisation layers (a plain 12-conv stack collapsed to "output = input").
        for block in self.blocks:
            nn.init.kaiming_normal_(block.conv1.weight, nonlinearity="relu")
            block.conv2.weight.data.mul_(0.1)
        nn.init.normal_(self.tail.weight, std=1e-3)
        nn.init.zeros_(self.tail.bias)

    def forward(self, image: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        if image.shape[-2] % 2 or image.shape[-1] % 2:
            raise ValueError(f"height and width must be even, got {tuple(image.shape[-2:])}")
        x = torch.cat([F.pixel_unshuffle(image, 2), F.avg_pool2d(conditions, 2)], dim=1)
        x = self.tail(F.relu(self.blocks(F.relu(self.head(x)))))
        return image + F.pixel_shuffle(x, 2)


def save_network(model: ConditionalFFDNet, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``model`` as safetensors with its config (and ``metadata``) in the header."""
    from safetensors.torch import save_file

    meta = {"config": model.config.to_json(), "architecture": "ConditionalFFDNet", **(metadata or {})}
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)


def load_network(path: Path | str = DEFAULT_WEIGHTS) -> tuple[ConditionalFFDNet, dict[str, str]]:
    """Load a network saved by ``save_network``; strict, safetensors only. Returns (model, metadata)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"restorer weights not found at {path}; reinstall Restora (they ship in the package) "
            f"or train them with 'python scripts/train_restorer.py'"
        )
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    if metadata.get("architecture") != "ConditionalFFDNet" or "config" not in metadata:
        raise ValueError(f"{path} is not a Restora ConditionalFFDNet checkpoint (header: {metadata})")
    model = ConditionalFFDNet(NetworkConfig.from_json(metadata["config"]))
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{path} does not match this version's ConditionalFFDNet ({err}); re-export it with "
            f"'python scripts/train_restorer.py --export' from a run of the current architecture"
        ) from None
    model.eval()
    return model, metadata
