"""Speed and memory of the region-modulated diffusion restorers at full SD-2.1-base size, random weights.

Builds the real architecture (865.9 M-parameter UNet, 83.7 M VAE, 340 M OpenCLIP-H text encoder,
and the ControlNet of each family: InstructRestore's 386.4 M with mask decoder, DiffBIR v2's
363.2 M with 8 input channels) with random weights (timing does not depend on weight values) and
runs each family's pipeline with CFG on whatever device is present. Reports seconds per step and
per image, peak memory, the latent windows per step of tiled sizes, the FLOPs of one 512² image
(counted with ``torch.utils.flop_counter`` on the meta device) and, on a GPU, the fraction of the
FLOP floor reached.

On a GPU: one warm-up run per family and size, then ``--runs`` timed runs of the full step
count. On CPU only ``--cpu-steps`` steps are run (default 2) and the full step count is
extrapolated as ``fixed + steps × step`` (fixed = prompts + VAE encode + VAE decode + colour fix,
measured; step = the last measured step); the output says so. Sizes above 1024 px are tiled
automatically (512-px latent windows at stride 384 px plus tiled VAE; ``--tile`` overrides).

    python benchmarks/diffusion_speed.py                          # InstructRestore, 512², auto device
    python benchmarks/diffusion_speed.py --device cuda --dtype bf16 --runs 5 --channels-last
    python benchmarks/diffusion_speed.py --device cuda --family both --sizes 512,1024,2048 --runs 1
    python benchmarks/diffusion_speed.py --device cpu --cpu-steps 1

Bars: issue #6, on an H100-class GPU at most 1.0 s per 512² InstructRestore image, 20 steps with
CFG, bf16; issue #7, a 2048×2048 image within 12 GB of GPU memory (peak allocated), each family.
The exit status is 1 when a bar that was measured is missed.
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
BAR_2048_GIB = 12.0
FAMILY_STEPS = {"instructrestore": (20, 3.6), "diffbir": (50, 4.0)}  # each family's published recipe

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


def build_models(device: str, families: tuple[str, ...] = ("instructrestore",)):
    """UNet, {family: ControlNet}, VAE and text encoder at SD-2.1-base size, random weights, fp32."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from models.restorers.diffusion.checkpoints import SD21_BASE_CONTROLNET_CONFIG
    from models.restorers.diffusion.diffbir.controlnet import DiffBIRControlNetModel
    from models.restorers.diffusion.instructrestore.controlnet import InstructRestoreControlNetModel

    torch.manual_seed(0)
    builders = {
        "instructrestore": lambda: InstructRestoreControlNetModel.from_architecture(
            SD21_BASE_CONTROLNET_CONFIG
        ),
        "diffbir": DiffBIRControlNetModel.from_architecture,
    }
    with torch.device(device):
        unet = UNet2DConditionModel(**SD21_UNET)
        controlnets = {family: builders[family]() for family in families}
        vae = AutoencoderKL(**SD21_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**SD21_TEXT))
    return unet, controlnets, vae, text_encoder


def count_flops(size: int, steps: int, decoder: bool) -> dict[str, float]:
    """FLOPs of one image (2 × MAC; SDPA included; norms and activations not), on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        unet, controlnets, vae, _ = build_models("meta")
        controlnet = controlnets["instructrestore"]
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
    parser.add_argument("--family", choices=("instructrestore", "diffbir", "both"), default="instructrestore")
    parser.add_argument("--sizes", default="512", help="comma-separated square sizes, e.g. 512,1024,2048")
    parser.add_argument("--size", type=int, default=None, help="one size (same as --sizes N)")
    parser.add_argument("--steps", type=int, default=None, help="default: each family's recipe (20 / 50)")
    parser.add_argument("--guidance", type=float, default=None, help="default: each family's (3.6 / 4)")
    parser.add_argument("--tile", type=int, default=None, help="diffusion window in px (default: automatic)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs after one warm-up (GPU/MPS)")
    parser.add_argument(
        "--cpu-steps", type=int, default=2, help="steps actually run on CPU (then extrapolated)"
    )
    parser.add_argument("--mask-source", choices=("external", "decoder"), default="external")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet and ControlNet")
    parser.add_argument("--offload", action="store_true", help="model CPU offload (small GPUs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true",
                        help="the tests' tiny random models: checks this script in seconds")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import diffusers
    import torch
    from diffusers import UniPCMultistepScheduler

    diffusers.utils.logging.set_verbosity_error()  # random-weight builds warn about dtype casts

    from models.restorers.diffusion.diffbir.pipeline import DiffBIRPipeline, make_scheduler
    from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.loading import select_device, select_dtype
    from models.restorers.diffusion.tiling import Tiling
    from models.restorers.diffusion.tiny import SD21_SCHEDULER_CONFIG, tiny_tokenizer

    device = select_device(args.device)
    dtype = select_dtype(device, args.dtype)
    on_cpu = device == "cpu"
    families = ("instructrestore", "diffbir") if args.family == "both" else (args.family,)
    sizes = [args.size] if args.size else [int(v) for v in args.sizes.split(",")]

    t0 = time.perf_counter()
    build_device = "cpu" if (on_cpu or args.offload) else device
    if args.tiny:
        from models.restorers.diffusion.tiny import tiny_components, tiny_diffbir_controlnet

        parts = tiny_components()
        unet, vae, text_encoder = parts["unet"], parts["vae"], parts["text_encoder"]
        controlnets = {"instructrestore": parts["controlnet"], "diffbir": tiny_diffbir_controlnet(unet)}
        controlnets = {f: controlnets[f] for f in families}
    else:
        unet, controlnets, vae, text_encoder = build_models(build_device, families)
    for model in (unet, vae, text_encoder, *controlnets.values()):
        model.to(dtype=dtype).eval().requires_grad_(False)
        if args.channels_last and model is not text_encoder:
            model.to(memory_format=torch.channels_last)
    common = {
        "vae": vae,
        "text_encoder": text_encoder,
        "unet": unet,
        "tokenizer": tiny_tokenizer(),
    }  # token ids do not matter; the sequence is always 77 long
    pipes = {}
    for family in families:
        if family == "instructrestore":
            pipe = InstructRestorePipeline(
                controlnet=controlnets[family],
                scheduler=UniPCMultistepScheduler.from_config(SD21_SCHEDULER_CONFIG), **common,
            )  # fmt: skip
        else:
            pipe = DiffBIRPipeline(
                controlnet=controlnets[family],
                scheduler=make_scheduler("spaced", SD21_SCHEDULER_CONFIG),
                **common,
            )
        if args.offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        if args.compile:
            pipe.unet.forward = torch.compile(pipe.unet.forward)
            pipe.controlnet.forward = torch.compile(pipe.controlnet.forward)
        pipe.set_progress_bar_config(disable=True)
        pipes[family] = pipe
    build_s = time.perf_counter() - t0

    rows = []
    missed = []
    device_name = torch.cuda.get_device_name() if device.startswith("cuda") else f"{device} ({cpu_name()})"
    for family in families:
        recipe_steps, recipe_guidance = FAMILY_STEPS[family]
        steps = args.steps or recipe_steps
        guidance = args.guidance if args.guidance is not None else recipe_guidance
        steps_run = min(args.cpu_steps, steps) if on_cpu else steps
        for size in sizes:
            image = np.random.default_rng(0).random((size, size, 3)).astype(np.float32)
            tiling = Tiling(tile=args.tile)

            def run(n: int, family=family, image=image, tiling=tiling, guidance=guidance):
                gen = torch.Generator().manual_seed(0)
                if family == "diffbir":
                    return pipes[family](image, fidelity=np.ones(image.shape[:2], np.float32),
                                         num_inference_steps=n, guidance_scale=guidance, generator=gen,
                                         tiling=tiling)  # fmt: skip
                region = (
                    {"fidelity": np.ones(image.shape[:2], np.float32)}
                    if args.mask_source == "external"
                    else {}
                )
                return pipes[family](image, "dog", "make dog clear", mask_source=args.mask_source,
                                     num_inference_steps=n, guidance_scale=guidance, generator=gen,
                                     tiling=tiling, **region)  # fmt: skip

            if not on_cpu:
                run(steps)  # warm-up: kernels, cuDNN autotuning, compilation
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            outputs = [run(steps_run) for _ in range(1 if on_cpu else args.runs)]
            step_s = statistics.median(
                outputs[-1].step_seconds[-1:] if on_cpu else [x for o in outputs for x in o.step_seconds]
            )
            fixed = outputs[0].seconds - sum(outputs[0].step_seconds)
            image_s = fixed + steps * step_s if on_cpu else statistics.median(o.seconds for o in outputs)
            windows = getattr(outputs[0], "tiles", None)
            peak = round(peak_memory_gb(device), 2)
            row = {
                "family": family, "size": size, "steps": steps, "guidance": guidance,
                "seconds_per_step": round(step_s, 4), "seconds_per_image": round(image_s, 3),
                "measured_runs_s": [round(o.seconds, 3) for o in outputs],
                "extrapolated_from_steps": steps_run if on_cpu else None,
                "peak_memory_gib": peak, "windows_per_step": windows,
            }  # fmt: skip
            if size == 2048 and device.startswith("cuda"):
                row["bar_2048_within_12_gib"] = peak <= BAR_2048_GIB
                if peak > BAR_2048_GIB:
                    missed.append(f"{family} 2048²: {peak} GiB > {BAR_2048_GIB} GiB")
            if (
                family == "instructrestore"
                and size == 512
                and device.startswith("cuda")
                and "H100" in device_name
            ):
                ok = steps == 20 and image_s <= BAR_SECONDS and dtype == torch.bfloat16
                row["bar_512_within_1s"] = ok
                if not ok and steps == 20:
                    missed.append(f"instructrestore 512²: {image_s:.2f} s > {BAR_SECONDS} s")
            rows.append(row)

    flops = count_flops(512, FAMILY_STEPS["instructrestore"][0], args.mask_source == "decoder")
    device_name += " [--tiny models]" if args.tiny else ""
    result = {
        "device": device_name,
        "dtype": str(dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "build_s": round(build_s, 1),
        "rows": rows,
        "instructrestore_512_tflops_per_image": round(flops["per image"] / 1e12, 2),
        "flops_breakdown_gflops": {k: round(v / 1e9, 1) for k, v in flops.items()},
        "missed": missed,
    }
    print(f"device: {device_name}, {result['dtype']}, CFG, random weights at full size")
    if on_cpu:
        print(
            f"CPU: ran {args.cpu_steps} step(s) per configuration and EXTRAPOLATED to the full step count: "
            "measured fixed costs (prompts, VAE encode/decode, colour fix) + steps × the last step"
        )
    print(
        f"{'family':<16} {'size':>5} {'steps':>5} {'windows':>7} {'s/step':>8} {'s/image':>9} {'peak GiB':>9}"
    )
    for r in rows:
        step, image_s, peak = r["seconds_per_step"], r["seconds_per_image"], r["peak_memory_gib"]
        line = f"{r['family']:<16} {r['size']:>5} {r['steps']:>5} {r['windows_per_step'] or 1:>7}"
        print(f"{line} {step:>8.3f} {image_s:>9.2f} {peak:>9.2f}")
    print(f"peak memory is {'process RSS (cumulative over the rows above)' if on_cpu else 'allocated'}")
    per_image = flops["per image"]
    print(f"FLOPs per 512² InstructRestore image: {per_image / 1e12:.2f} T")
    for r in rows:
        if r["family"] == "instructrestore" and r["size"] == 512 and not on_cpu:
            r["achieved_tflops_per_s"] = round(per_image / r["seconds_per_image"] / 1e12, 2)
            for name, peak in PEAKS_TFLOPS.items():
                frac = per_image / (peak * 1e12) / r["seconds_per_image"]
                print(f"fraction of the FLOP floor at peak {name}: {frac:.1%}")
    if device.startswith("cuda"):
        print("bars: " + ("all measured bars met" if not missed else "MISSED " + "; ".join(missed)))
    else:
        print("bars: the GPU bars (≤ 1 s per 512² on H100; 2048² within 12 GB) are measured on CUDA only")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if missed:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
