"""The offline restorer's network: a conditional FFDNet that Restora trains and ships.

FFDNet (Zhang et al., 2018) showed that one small CNN fed a per-pixel noise-level map restores
each region at its own level. ``ConditionalFFDNet`` extends the map to the three degradations
RAP lets users set (noise σ, JPEG quality, blur width), so the EditPlan's per-pixel fidelity and
action maps become condition maps for a single forward pass: no crops, no seams.

Layout (``NetworkConfig``; the shipped file's header holds its own):

    image (3, H, W) ──pixel-unshuffle ×2──▶ (12, H/2, W/2) ─┐
    conditions (3, H, W) ──2×2 average──▶ (3, H/2, W/2) ────┼▶ concat (15, or 23 with grid)
    [grid: 8 JPEG block-position maps × the JPEG condition] ─┘
      → conv3×3 C → ReLU → (layers − 2) / 2 residual blocks [conv3×3 → ReLU → conv3×3, + skip]
      → ReLU → conv3×3 12 → pixel-shuffle ×2 → residual added to the image

With the defaults (C = 96, 12 layers: FFDNet-colour sized, 0.86 M parameters) the receptive field
is 50 px at full resolution, enough for a 15×15 blur kernel; each further residual block adds
8 px. Working at half resolution quadruples the receptive field per FLOP; predicting the residual
makes "no degradation" an easy identity.

Condition channels (each ≥ 0, 0 = "nothing to remove"):

- ``noise``: σ / 50 (σ on the 0–255 scale);
- ``jpeg``: (100 − quality) / 90, 0 without compression (quality 10 → 1.0, 95 → 0.06);
- ``blur``: Gaussian blur σ / 3 (px).

The network was trained on 0–1 per channel; the restorer may ask for up to 2× that (fidelity 0),
which FFDNet's maps extrapolate gracefully (more smoothing).

JPEG grid channels (``NetworkConfig.grid``): working on 2×2 cells makes the network blind to where
the 8×8 JPEG blocks (16×16 for 4:2:0 chroma) start, so it has to guess block edges from the
content. With ``grid`` on, eight more input channels carry cos/sin of the cell's position on the
8- and 16-pixel periods, measured from the block grid's origin, each multiplied by the JPEG
condition: zero wherever there is nothing to de-JPEG, so noise and blur restoration stay exactly
translation-equivariant, and a network grown from a grid-less one starts as that network
(its new input weights start at zero; ``grow_from``). Callers pass ``origin``: the (row, column)
of the tensor's top-left pixel relative to the first block's top-left pixel ((0, 0) for a whole
decoded JPEG; a tile's offset for a tile).
"""

from __future__ import annotations

import functools
import json
import logging
import os
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
    grid: bool = False  # JPEG block-grid position channels (see the module docstring)

    @classmethod
    def from_json(cls, text: str) -> NetworkConfig:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


#: cos/sin of the row and column position on the 8- and 16-pixel JPEG periods.
GRID_CHANNELS = 8
_GRID_PERIODS = (8.0, 16.0)
#: Index of the JPEG condition channel (noise, jpeg, blur).
_JPEG = 1


def grid_features(origin: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 8, height, width) block-grid position features of the half-resolution cells.

    ``origin``: (N, 2) pixel (row, column) of each sample's top-left pixel relative to the JPEG grid.
    Cell (i, j) covers pixels 2i, 2i + 1; its position is its centre, ``origin + 2i + 0.5``.
    """
    origin = origin.to(torch.float32)
    ys = origin[:, 0, None, None] + 2 * torch.arange(height, device=origin.device)[:, None] + 0.5  # (N, h, 1)
    xs = origin[:, 1, None, None] + 2 * torch.arange(width, device=origin.device) + 0.5  # (N, 1, w)
    feats = []
    for period in _GRID_PERIODS:
        for pos in (ys, xs):
            angle = 2 * torch.pi * pos / period
            feats += [torch.cos(angle).expand(-1, height, width), torch.sin(angle).expand(-1, height, width)]
    return torch.stack(feats, dim=1)


class ResidualBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3, added to the input (EDSR-style, no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ConditionalFFDNet(nn.Module):
    """``forward(image, conditions, origin)``: (N, C, H, W) floats, H and W even → (N, 3, H, W).

    ``origin`` (grid networks only): the JPEG grid position of the top-left pixel, a (row, column)
    pair for the whole batch or an (N, 2) tensor; see the module docstring.
    """

    def __init__(self, config: NetworkConfig | None = None):
        super().__init__()
        self.config = config = config or NetworkConfig()
        if config.layers < 4 or config.layers % 2:
            raise ValueError(
                f"layers must be an even number ≥ 4 (head, residual pairs, tail), got {config.layers}"
            )
        ch = config.channels
        extra = GRID_CHANNELS if config.grid else 0
        self.head = nn.Conv2d(12 + config.conditions + extra, ch, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(ch) for _ in range((config.layers - 2) // 2)])
        self.tail = nn.Conv2d(ch, 12, 3, padding=1)
        # Residual branches start small so the stack starts near the identity and trains fast
        # without normalisation layers (a plain 12-conv stack collapsed to "output = input").
        for block in self.blocks:
            nn.init.kaiming_normal_(block.conv1.weight, nonlinearity="relu")
            block.conv2.weight.data.mul_(0.1)
        nn.init.normal_(self.tail.weight, std=1e-3)
        nn.init.zeros_(self.tail.bias)

    def forward(
        self, image: torch.Tensor, conditions: torch.Tensor, origin: tuple[int, int] | torch.Tensor = (0, 0)
    ) -> torch.Tensor:
        if image.shape[-2] % 2 or image.shape[-1] % 2:
            raise ValueError(f"height and width must be even, got {tuple(image.shape[-2:])}")
        cond = F.avg_pool2d(conditions, 2)
        parts = [F.pixel_unshuffle(image, 2), cond]
        if self.config.grid:
            origin = torch.as_tensor(origin, device=image.device).reshape(-1, 2).expand(image.shape[0], 2)
            grid = grid_features(origin, cond.shape[-2], cond.shape[-1]).to(cond.dtype)
            parts.append(grid * cond[:, _JPEG : _JPEG + 1])
        x = torch.cat(parts, dim=1)
        x = self.tail(F.relu(self.blocks(F.relu(self.head(x)))))
        return image + F.pixel_shuffle(x, 2)


@dataclass(frozen=True)
class EstimatorConfig:
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)
    features: bool = True  # the log-energy inputs (``noise_energy_features``)
    outputs: int = 3  # noise, blur, blur log-uncertainty (training); the shipped file keeps the noise

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


#: BT.601 luma weights, for the estimator's luma energy features.
_LUMA = (0.299, 0.587, 0.114)


def _highpass_energy(x: torch.Tensor) -> torch.Tensor:
    """Squared difference from the 3×3 local mean, averaged over channels: (N, 1, h, w)."""
    mean = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return (x - mean).square().mean(dim=1, keepdim=True)


def noise_energy_features(image: torch.Tensor) -> torch.Tensor:
    """(N, 5, H/2, W/2) log local energies of the image's high-pass at 1, 2 and 4 px scales (RGB)
    and at 1 and 2 px (luma), on the 0–255 scale, averaged over 3×3 half-resolution cells.

    Noise σ shows up as these energies; its spatial correlation as their ratios across scales.
    Handing the logs to the network makes the level nearly linear in its input.
    """
    y = image * 255.0
    luma = (y * y.new_tensor(_LUMA)[None, :, None, None]).sum(dim=1, keepdim=True)
    half = lambda e: F.avg_pool2d(e, 2)  # noqa: E731
    maps = [
        half(_highpass_energy(y)),
        _highpass_energy(F.avg_pool2d(y, 2)),
        F.interpolate(_highpass_energy(F.avg_pool2d(y, 4)), scale_factor=2.0, mode="nearest"),
        half(_highpass_energy(luma)),
        _highpass_energy(F.avg_pool2d(luma, 2)),
    ]
    energy = torch.cat(maps, dim=1)
    energy = F.avg_pool2d(F.pad(energy, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return torch.log(energy + 0.01) / 4.0


class DegradationEstimator(nn.Module):
    """The blind estimator of ``estimator.py``: ``forward(image, jpeg)`` with image (N, 3, H, W) in
    [0, 1] and jpeg (N, 1, H, W) the JPEG condition, H and W multiples of 4 → (N, outputs, H/4,
    W/4): log(1 + noise σ) (the noise condition, 0–255 scale), then in training the auxiliary blur
    σ (px) and its log-uncertainty.

    pixel-unshuffle ×2 + JPEG + 5 log-energy features (``noise_energy_features``; 18 channels)
    → conv C/2 → strided conv C (quarter resolution) → 3×3 convs with ``dilations`` → 1×1 conv
    to the three outputs; ReLU between.
    """

    def __init__(self, config: EstimatorConfig | None = None):
        super().__init__()
        self.config = config = config or EstimatorConfig()
        ch = config.channels
        self.head = nn.Conv2d(18 if config.features else 13, ch // 2, 3, padding=1)
        self.down = nn.Conv2d(ch // 2, ch, 3, stride=2, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=d, dilation=d) for d in config.dilations)
        self.out = nn.Conv2d(ch, config.outputs, 1)
        for conv in (self.head, self.down, *self.body):  # He init: PyTorch's default shrinks ReLU stacks
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, image: torch.Tensor, jpeg: torch.Tensor) -> torch.Tensor:
        if image.shape[-2] % 4 or image.shape[-1] % 4:
            raise ValueError(f"height and width must be multiples of 4, got {tuple(image.shape[-2:])}")
        parts = [F.pixel_unshuffle(image, 2) - 0.5, F.avg_pool2d(jpeg, 2)]
        if self.config.features:
            parts.append(noise_energy_features(image))
        x = F.relu(self.down(F.relu(self.head(torch.cat(parts, dim=1)))))
        for conv in self.body:
            x = F.relu(conv(x))
        return self.out(x)


def grow_from(model: ConditionalFFDNet, source: ConditionalFFDNet) -> None:
    """Load ``source`` into the larger ``model`` so that ``model`` computes what ``source`` does.

    ``model`` may add the JPEG grid channels (their head weights start at zero) and residual
    blocks (appended before the tail, their second convolution at zero, so each starts as the
    identity). Fine-tuning then grows a shipped network instead of training a new one from scratch.
    """
    a, b = source.config, model.config
    same = b.channels == a.channels and b.conditions == a.conditions
    if not same or b.layers < a.layers or (a.grid and not b.grid):
        raise ValueError(
            f"cannot grow {a} into {b}: channels and conditions must match, layers and grid may only be added"
        )
    state = model.state_dict()
    for key, value in source.state_dict().items():
        if key == "head.weight" and value.shape != state[key].shape:
            state[key] = torch.zeros_like(state[key])
            state[key][:, : value.shape[1]] = value
        else:
            state[key] = value
    for block in range(len(source.blocks), len(model.blocks)):
        state[f"blocks.{block}.conv2.weight"] = torch.zeros_like(state[f"blocks.{block}.conv2.weight"])
        state[f"blocks.{block}.conv2.bias"] = torch.zeros_like(state[f"blocks.{block}.conv2.bias"])
    model.load_state_dict(state, strict=True)


def save_network(model: ConditionalFFDNet, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``model`` as safetensors with its config (and ``metadata``) in the header."""
    from safetensors.torch import save_file

    meta = {"config": model.config.to_json(), "architecture": "ConditionalFFDNet", **(metadata or {})}
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)


def checked_header(path: Path | str, architecture: str, what: str, script: str) -> dict[str, str]:
    """The metadata of one of Restora's safetensors files, checked to hold ``architecture`` (and its
    ``config``); a missing file says how to get it (``what`` weights, trained by ``script``)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} weights not found at {path}; reinstall Restora (they ship in the package) "
            f"or train them with 'python scripts/{script}'"
        )
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    if metadata.get("architecture") != architecture or "config" not in metadata:
        raise ValueError(f"{path} is not a Restora {architecture} checkpoint (header: {metadata})")
    return metadata


def read_header(path: Path | str) -> tuple[NetworkConfig, dict[str, str]]:
    """The config and metadata of a ``save_network`` file, from its header only (no weights read)."""
    metadata = checked_header(path, "ConditionalFFDNet", "restorer", "train_restorer.py")
    return NetworkConfig.from_json(metadata["config"]), metadata


def load_network(path: Path | str = DEFAULT_WEIGHTS) -> tuple[ConditionalFFDNet, dict[str, str]]:
    """Load a network saved by ``save_network``; strict, safetensors only. Returns (model, metadata)."""
    from safetensors.torch import load_file

    config, metadata = read_header(path)
    model = ConditionalFFDNet(config)
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{path} does not match this version's ConditionalFFDNet ({err}); re-export it with "
            f"'python scripts/train_restorer.py --export' from a run of the current architecture"
        ) from None
    model.eval()
    return model, metadata


#: ``fp32`` or ``bf16`` forces the networks' precision; unset (``auto``): bf16 where the CPU does it natively.
PRECISION_ENV = "RESTORA_OFFLINE_PRECISION"


@functools.lru_cache(maxsize=1)
def fast_bf16() -> bool:
    """Whether the networks run in bfloat16: where the CPU has native bf16 instructions
    (AVX512-BF16 or AMX), unless ``$RESTORA_OFFLINE_PRECISION`` says otherwise.

    The networks were trained under bf16 autocast; on such a CPU bf16 inference is 2.2× faster
    (512²: 0.28 s against 0.63 s on a 2-vCPU AMD EPYC) and changes outputs by less than one 8-bit
    level (max 0.003). Elsewhere bf16 is emulated and slower than fp32, so fp32 stays.
    """
    choice = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "fp32", "bf16"):
        raise ValueError(f"{PRECISION_ENV} is '{choice}'; expected auto, fp32 or bf16 (or unset it)")
    if choice != "auto":
        return choice == "bf16"
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: no cheap way to tell, stay with fp32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
