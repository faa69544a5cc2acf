"""Speed of the region-modulated diffusion restorer at full SD-2.1-base size, random weights.

Builds the real architecture (865.9 M-parameter UNet, 386.4 M InstructRestore ControlNet with
mask decoder, 83.7 M VAE, 340 M OpenCLIP-H text encoder) with random weights (timing does not
depend on weight values) and runs ``InstructRestorePipeline`` at 512² with CFG on whatever device
is present. Reports seconds per step and per image for 20 UniPC steps, peak memory, the FLOPs of
one image (counted with ``torch.utils.flop_counter`` on the meta device) and, on a GPU, the
fraction of the FLOP floor reached.

On a GPU: one warm-up run, then ``--runs`` timed runs of the full step count. On CPU only
``--cpu-steps`` steps are run (default 2) and the 20-step time is extrapolated as
``fixed + steps × step`` (fixed = prompts + VAE encode + VAE decode + colour fix, measured; step
= the last measured step); the output says so.

    python benchmarks/diffusion_speed.py                          # auto device and dtype
    python benchmarks/diffusion_speed.py --device cuda --dtype bf16 --runs 5 --channels-last
    python benchmarks/diffusion_speed.py --device cpu --cpu-steps 1

Bar (issue #6): on an H100-class GPU at most 1.0 s per 512² image, 20 steps with CFG, bf16.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Dense BF16 peaks (TFLOP/s) used for the floor: the project brief's 790 and H100 SXM's 989.4
#: (reference/performance-anchors.md §2).
PEAKS_TFLOPS = {"brief (790)": 790.0, "H100 SXM dense bf16 (989.4)": 989.4}
BAR_SECONDS = 1.0

SD21_UNET = {
    "sample_size": 64,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
}
SD21_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
}
SD21_TEXT = {  # OpenCLIP ViT-H/14 text tower as SD 2.x ships it (penultimate layer: 23 layers)
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "projection_dim": 512,
    "hidden_act": "gelu",
}


def build_models(device: str):
    """UNet, ControlNet, VAE and text encoder at SD-2.1-base size, random weights, fp32."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from models.restorers.diffusion.controlnet import (
        SD21_BASE_CONTROLNET_CONFIG,
        InstructRestoreControlNetModel,
    )

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**SD21_UNET)
        controlnet = InstructRestoreControlNetModel.from_architecture(SD21_BASE_CONTROLNET_CONFIG)
        vae = AutoencoderKL(**SD21_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**SD21_TEXT))
    return unet, controlnet, vae, text_encoder


def count_flops(size: int, steps: int, decoder: bool) -> dict[str, float]:
    """FLOPs of one image (2 × MAC; SDPA included; norms and activations not), on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        unet, controlnet, vae, _ = build_models("meta")
        lat = torch.randn(2, 4, size // 8, size // 8)
        emb = torch.randn(2, 77, 1024)
        hint = torch.randn(2, 3, size, size)
        parts = {
            "unet (CFG batch)": lambda: unet(lat, 999, emb),
            "controlnet (CFG batch)": lambda: controlnet(
                lat,
                999,
                encoder_hidden_states=emb,
                controlnet_cond=hint,
                return_dict=False,
                return_mask=decoder,
            ),
            "vae encode": lambda: vae.encode(hint[:1]),
            "vae decode": lambda: vae.decode(lat[:1]),
        }
        flops = {}
        for name, run in parts.items():
            with FlopCounterMode(display=False) as counter:
                run()
            flops[name] = float(counter.get_total_flops())
    flops["per step"] = flops["unet (CFG batch)"] + flops["controlnet (CFG batch)"]
    flops["per image"] = steps * flops["per step"] + flops["vae encode"] + flops["vae decode"]
    return flops


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_memory_gb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    if device == "mps":
        return torch.mps.driver_allocated_memory() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB → GiB, process peak RSS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cuda, cuda:N, mps or cpu (default: best present)")
    parser.add_argument(
        "--dtype", default=None, help="fp32, fp16 or bf16 (default: bf16/fp16 on GPU, fp32 on CPU)"
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.6)
    parser.add_argument("--runs", type=int, default=3, help="timed runs after one warm-up (GPU/MPS)")
    parser.add_argument(
        "--cpu-steps", type=int, default=2, help="steps actually run on CPU (then extrapolated)"
    )
    parser.add_argument("--mask-source", choices=("external", "decoder"), default="external")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet and ControlNet")
    parser.add_argument("--offload", action="store_true", help="model CPU offload (small GPUs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import diffusers
    import torch
    from diffusers import UniPCMultistepScheduler

    diffusers.utils.logging.set_verbosity_error()  # random-weight builds warn about dtype casts

    from models.restorers.diffusion.loading import select_device, select_dtype
    from models.restorers.diffusion.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.tiny import SD21_SCHEDULER_CONFIG, tiny_tokenizer

    device = select_device(args.device)
    dtype = select_dtype(device, args.dtype)
    on_cpu = device == "cpu"
    steps_run = min(args.cpu_steps, args.steps) if on_cpu else args.steps

    t0 = time.perf_counter()
    build_device = "cpu" if (on_cpu or args.offload) else device
    unet, controlnet, vae, text_encoder = build_models(build_device)
    for model in (unet, controlnet, vae, text_encoder):
        model.to(dtype=dtype).eval().requires_grad_(False)
        if args.channels_last and model is not text_encoder:
            model.to(memory_format=torch.channels_last)
    pipe = InstructRestorePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(),  # token ids do not matter; the sequence is always 77 long
        unet=unet,
        controlnet=controlnet,
        scheduler=UniPCMultistepScheduler.from_config(SD21_SCHEDULER_CONFIG),
    )
    if args.offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if args.compile:
        pipe.unet.forward = torch.compile(pipe.unet.forward)
        pipe.controlnet.forward = torch.compile(pipe.controlnet.forward)
    pipe.set_progress_bar_config(disable=True)
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    image = rng.random((args.size, args.size, 3)).astype(np.float32)
    region = (
        {"fidelity": np.ones((args.size, args.size), np.float32)} if args.mask_source == "external" else {}
    )

    def run(steps: int):
        return pipe(
            image,
            "dog",
            "make dog clear",
            mask_source=args.mask_source,
            num_inference_steps=steps,
            guidance_scale=args.guidance,
            generator=torch.Generator().manual_seed(0),
            **region,
        )

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if not on_cpu:
        run(args.steps)  # warm-up: kernels, cuDNN autotuning, compilation
    outputs = [run(steps_run) for _ in range(1 if on_cpu else args.runs)]
    per_image = [o.seconds for o in outputs]
    step_s = statistics.median(
        outputs[-1].step_seconds[-1:] if on_cpu else [s for o in outputs for s in o.step_seconds]
    )
    if on_cpu:  # extrapolate: measured fixed costs + steps × the last (warm) step
        fixed = outputs[0].seconds - sum(outputs[0].step_seconds)
        image_s = fixed + args.steps * step_s
    else:
        image_s = statistics.median(per_image)

    flops = count_flops(args.size, args.steps, args.mask_source == "decoder")
    result = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else f"{device} ({cpu_name()})",
        "dtype": str(dtype).removeprefix("torch."),
        "size": args.size,
        "steps": args.steps,
        "guidance": args.guidance,
        "mask_source": args.mask_source,
        "torch_threads": torch.get_num_threads(),
        "build_s": round(build_s, 1),
        "seconds_per_step": round(step_s, 4),
        "seconds_per_image": round(image_s, 3),
        "measured_runs_s": [round(s, 3) for s in per_image],
        "extrapolated_from_steps": steps_run if on_cpu else None,
        "peak_memory_gib": round(peak_memory_gb(device), 2),
        "tflops_per_image": round(flops["per image"] / 1e12, 2),
        "achieved_tflops_per_s": round(flops["per image"] / image_s / 1e12, 2),
        "flops_breakdown_gflops": {k: round(v / 1e9, 1) for k, v in flops.items()},
    }
    if not on_cpu:
        result["fraction_of_flop_floor"] = {
            name: round(flops["per image"] / (peak * 1e12) / image_s, 3)
            for name, peak in PEAKS_TFLOPS.items()
        }
    steps, per_step_t = args.steps, flops["per step"] / 1e12
    vae_t = (flops["vae encode"] + flops["vae decode"]) / 1e12
    print(
        f"device: {result['device']}, {result['dtype']}, {args.size}², {steps} UniPC steps, "
        f"CFG {args.guidance}"
    )
    if on_cpu:
        print(
            f"CPU: ran {steps_run} step(s) and EXTRAPOLATED to {steps}: fixed costs (prompts, VAE encode and "
            f"decode, colour fix) {fixed:.1f} s measured + {steps} × {step_s:.2f} s per step"
        )
    print(f"seconds per step: {step_s:.3f}   seconds per image: {image_s:.2f}")
    print(f"peak memory: {result['peak_memory_gib']} GiB ({'process RSS' if on_cpu else 'allocated'})")
    print(
        f"FLOPs per image: {result['tflops_per_image']} T ({per_step_t:.2f} T per CFG step, "
        f"VAE {vae_t:.2f} T); "
        f"achieved {result['achieved_tflops_per_s']} TFLOP/s"
    )
    if "fraction_of_flop_floor" in result:
        for name, frac in result["fraction_of_flop_floor"].items():
            print(f"fraction of the FLOP floor at peak {name}: {frac:.1%}")
    if device.startswith("cuda") and "H100" in result["device"] and args.size == 512 and args.steps == 20:
        verdict = "PASS" if image_s <= BAR_SECONDS and dtype == torch.bfloat16 else "FAIL"
        print(f"bar (≤ {BAR_SECONDS} s per 512² image, 20 steps, CFG, bf16): {verdict}")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
