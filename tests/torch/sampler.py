"""A diffusion-shaped sampling loop on PyTorch: the test workload of scripts/torch-check.sh.

It builds a small UNet with random weights (diffusers' ``UNet2DModel`` and ``DDIMScheduler``
when diffusers imports, otherwise a hand-written UNet and DDIM update: conv, GroupNorm,
self-attention and a sinusoidal timestep embedding in both), then denoises ``--images`` latents
of shape (1, 4, H, W) for ``--steps`` steps each, under ``torch.no_grad()``. Nothing is
downloaded (HF_HUB_OFFLINE=1 is set before diffusers is imported).

The check runs it with real PyTorch under ``gpuleak run`` on the fake CUDA stack in
tests/fake-cuda, where kernels are accepted but never run: tensor values on "cuda" are garbage
and only the memory behaviour is real, so nothing here depends on a value computed on the
device. ``--pattern`` chooses a memory behaviour for the profiler to find:

    clean         nothing kept
    leak          every step keeps a new --leak-bytes tensor (default 2 MiB) for good
    sawtooth      every step keeps one in a per-image list, cleared at the end of each image
    model-switch  at the middle image a second model is built and used; the first stays referenced
    oom           like leak with --leak-bytes 16 MiB by default, images without end, until
                  torch.cuda.OutOfMemoryError (at most --max-steps steps)

The line that keeps the tensor (in ``keep_latents``) carries ``# gpuleak-check: leak-site`` and
the second model's construction carries ``# gpuleak-check: switch-site``; the output names both
as file:line, so the check can compare them with what the profiler reports.

``--device-init-layers N`` first builds an N-layer stack of ``nn.Linear`` inside ``with
torch.device(dev):``, as diffusers builds a pipeline's components: every parameter is allocated
and initialised on the device, one kernel per parameter, and the stack stays referenced (a text
encoder beside the UNet). Under ``gpuleak run`` it then copies the trace as it stands
(GPULEAK_OUTPUT, which the hook writes through a shared mapping: every call that returned is in
it) to ``TRACE.after-loading``, before the first step: what a process killed while it loads
leaves. The output gives that copy's path as ``trace_after_loading``.

``--mark`` chooses how each step is marked: NVTX ranges named "step", ``gpuleak.mark_iteration``
(python/gpuleak, importable with PYTHONPATH=python), or nothing.

Output: exactly one stdout line ``GPULEAK_TORCH {json}`` at the end, or, on an out-of-memory
error, just before the error is re-raised (the process then exits 1 with PyTorch's own message).
``--device cpu`` runs the same loop without the CUDA memory statistics (they are null).
"""

import argparse
import inspect
import json
import math
import os
import shutil
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub / diffusers

import torch
import torch.nn as nn
import torch.nn.functional as F

MIB = 1024 * 1024
LEAK_MARK = "# gpuleak-check: " + "leak-site"
SWITCH_MARK = "# gpuleak-check: " + "switch-site"

PATTERNS = ("clean", "leak", "sawtooth", "model-switch", "oom")

# What the patterns keep. Module level on purpose: a leak that outlives every frame.
KEPT = []  # leak, oom: never cleared
PER_IMAGE = []  # sawtooth: cleared at the end of each image
OLD_MODELS = []  # model-switch: the first model, still referenced


# --------------------------------------------------------------------------------------------
# The leak site


def keep_latents(store, nbytes, dev):
    """Keeps a new float32 tensor of nbytes on dev in store (a list)."""
    store.append(torch.empty(nbytes // 4, dtype=torch.float32, device=dev))  # gpuleak-check: leak-site


# --------------------------------------------------------------------------------------------
# Hand-written model (--model own, or when diffusers is missing)


def timestep_embedding(t, dim):
    """Sinusoidal embedding of timesteps t (1-D tensor) into dim channels."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch, groups, heads=1):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = nn.Linear(ch, ch)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.norm(x).reshape(b, c, h * w).transpose(1, 2)  # (b, hw, c)
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        split = lambda z: z.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(split(q), split(k), split(v))
        a = a.transpose(1, 2).reshape(b, h * w, c)
        return x + self.proj(a).transpose(1, 2).reshape(b, c, h, w)


class TinyUNet(nn.Module):
    """Two resolutions: (ResBlock, downsample) then (ResBlock + attention), a middle block with
    attention, and the mirror on the way up with skip connections."""

    def __init__(self, sample_size=16, channels=4, widths=(32, 64), groups=8):
        super().__init__()
        c0, c1 = widths
        temb = 4 * c0
        self.sample_size = sample_size
        self.c0 = c0
        self.time_mlp = nn.Sequential(nn.Linear(c0, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(channels, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, temb, groups)
        self.downsample = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.down1 = ResBlock(c0, c1, temb, groups)
        self.down1_attn = AttnBlock(c1, groups)
        self.mid = ResBlock(c1, c1, temb, groups)
        self.mid_attn = AttnBlock(c1, groups)
        self.up1 = ResBlock(c1 + c1, c1, temb, groups)
        self.up1_attn = AttnBlock(c1, groups)
        self.upsample = nn.Conv2d(c1, c1, 3, padding=1)
        self.up0 = ResBlock(c1 + c0, c0, temb, groups)
        self.norm_out = nn.GroupNorm(groups, c0)
        self.conv_out = nn.Conv2d(c0, channels, 3, padding=1)

    def forward(self, x, t):
        emb = self.time_mlp(timestep_embedding(t, self.c0))
        h0 = self.down0(self.conv_in(x), emb)
        h1 = self.down1_attn(self.down1(self.downsample(h0), emb))
        h = self.mid_attn(self.mid(h1, emb))
        h = self.up1_attn(self.up1(torch.cat([h, h1], dim=1), emb))
        h = self.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.up0(torch.cat([h, h0], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class TinyDDIM:
    """DDIM (eta 0) with the linear beta schedule of DDIMScheduler's defaults, "leading"
    timestep spacing, clip_sample and set_alpha_to_one. Coefficients are host floats, so a step
    never reads a device value."""

    def __init__(self, num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02):
        self.num_train_timesteps = num_train_timesteps
        betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).tolist()
        self.timesteps = []
        self.step_ratio = 1

    def set_timesteps(self, steps):
        self.step_ratio = self.num_train_timesteps // steps
        self.timesteps = [i * self.step_ratio for i in reversed(range(steps))]

    def step(self, eps, t, x):
        prev = t - self.step_ratio
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev] if prev >= 0 else 1.0
        x0 = ((x - math.sqrt(1.0 - a_t) * eps) / math.sqrt(a_t)).clamp(-1.0, 1.0)
        return math.sqrt(a_prev) * x0 + math.sqrt(1.0 - a_prev) * eps


# --------------------------------------------------------------------------------------------
# Model construction (on the host; the caller moves it to the device)


def import_diffusers():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    import diffusers

    return diffusers


def make_model(kind, sample_size):
    """A new model with random weights, on the host."""
    if kind == "diffusers":
        from diffusers import UNet2DModel

        return UNet2DModel(
            sample_size=sample_size,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D"),
            norm_num_groups=8,
        )
    return TinyUNet(sample_size=sample_size)


def make_scheduler(kind, steps):
    if kind == "diffusers":
        from diffusers import DDIMScheduler

        sched = DDIMScheduler(num_train_timesteps=1000)
    else:
        sched = TinyDDIM(num_train_timesteps=1000)
    sched.set_timesteps(steps)
    return sched


def denoise(kind, model, sched, latents, t):
    if kind == "diffusers":
        eps = model(latents, t).sample
        return sched.step(eps, t, latents).prev_sample
    tt = torch.full((latents.shape[0],), t, dtype=torch.long, device=latents.device)
    eps = model(latents, tt)
    return sched.step(eps, t, latents)


def build_on_device(layers, width, dev):
    """A stack of `layers` nn.Linear(width, width) built on dev: each weight and bias is
    allocated there and initialised by its own kernel, as a model built under `with
    torch.device("cuda"):` is."""
    with torch.device(dev):
        return nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])


def copy_trace_now():
    """Copies the trace gpuleak is writing (None when not run under gpuleak) to
    TRACE.after-loading and returns that path: every record in the copy happened before this
    call, and a reader stops where the hook has not written yet, as in a killed process's."""
    path = os.environ.get("GPULEAK_OUTPUT", "").replace("%p", str(os.getpid()))
    if not path or not os.path.isfile(path):
        return None
    copy = path + ".after-loading"
    shutil.copyfile(path, copy)
    return copy


def model_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers()
    )


# --------------------------------------------------------------------------------------------
# Marks


class Marker:
    def __init__(self, how):
        self.how = how
        self.gpuleak = None
        if how == "module":
            try:
                import gpuleak
            except ImportError:
                # Not on PYTHONPATH: use the repository's copy (tests/torch/../../python).
                here = os.path.dirname(os.path.abspath(__file__))
                sys.path.insert(0, os.path.join(here, os.pardir, os.pardir, "python"))
                import gpuleak
            self.gpuleak = gpuleak

    def begin(self):
        if self.how == "nvtx":
            torch.cuda.nvtx.range_push("step")
        elif self.how == "module":
            self.gpuleak.mark_iteration("step")

    def end(self):
        if self.how == "nvtx":
            torch.cuda.nvtx.range_pop()


# --------------------------------------------------------------------------------------------
# Report


def site_of(func, mark):
    """{"file", "line", "function"} of the line of func that ends with the comment mark."""
    lines, first = inspect.getsourcelines(func)
    hits = [first + i for i, text in enumerate(lines) if text.rstrip().endswith(mark)]
    if len(hits) != 1:
        raise RuntimeError("%s: expected one line marked %r, found %d" % (func.__name__, mark, len(hits)))
    return {"file": os.path.abspath(inspect.getsourcefile(func)), "line": hits[0], "function": func.__name__}


def report(state, args, dev):
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    kept = sum(t.nbytes for t in KEPT) + sum(t.nbytes for t in PER_IMAGE)
    kept += sum(model_bytes(m) for m in OLD_MODELS)
    out = {
        "pattern": args.pattern,
        "mark": args.mark,
        "model": state["model"],
        "device": str(dev),
        "images": state["images"],
        "steps": state["steps"],
        "steps_per_image": args.steps,
        "leak_bytes": 0 if args.pattern in ("clean", "model-switch") else args.leak_bytes,
        "leak_site": site_of(keep_latents, LEAK_MARK),
        "switch_site": site_of(sample, SWITCH_MARK) if args.pattern == "model-switch" else None,
        "allocator_backend": torch.cuda.memory.get_allocator_backend() if cuda else None,
        "reserved": torch.cuda.memory_reserved(dev) if cuda else None,
        "allocated": torch.cuda.memory_allocated(dev) if cuda else None,
        "max_reserved": torch.cuda.max_memory_reserved(dev) if cuda else None,
        "max_allocated": torch.cuda.max_memory_allocated(dev) if cuda else None,
        "oom": state["oom_message"] is not None,
        "oom_message": state["oom_message"],
        "kept_bytes": kept,
        "model_bytes": state["model_bytes"],
        "encoder_parameters": 2 * args.device_init_layers,
        "encoder_bytes": state["encoder_bytes"],
        "trace_after_loading": state["trace_after_loading"],
        "switched": state["switched"],
        "torch_version": torch.__version__,
        "diffusers_version": state["diffusers_version"],
        "sample_size": args.sample_size,
        "wall_s": round(time.monotonic() - state["t0"], 3),
        "loop_s": round(time.monotonic() - state["t_loop"], 3) if state["t_loop"] else None,
    }
    sys.stdout.write("GPULEAK_TORCH " + json.dumps(out, sort_keys=False) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# The loop


def sample(args, dev, kind, state):
    marker = Marker(args.mark)
    torch.manual_seed(args.seed)
    if args.device_init_layers:
        state["encoder"] = build_on_device(args.device_init_layers, args.device_init_width, dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        state["encoder_bytes"] = model_bytes(state["encoder"])
        state["trace_after_loading"] = copy_trace_now()
    model = make_model(kind, args.sample_size).to(dev).eval()
    state["model_bytes"] = model_bytes(model)
    state["live_model"] = model  # still referenced when the figures are taken, like a pipeline
    sched = make_scheduler(kind, args.steps)
    shape = (1, 4, args.sample_size, args.sample_size)

    oom = args.pattern == "oom"
    images = None if oom else args.images
    switch_at = args.images // 2 if args.pattern == "model-switch" else None
    keep_in = {"leak": KEPT, "oom": KEPT, "sawtooth": PER_IMAGE}.get(args.pattern)

    image = 0
    state["t_loop"] = time.monotonic()
    with torch.no_grad():
        while images is None or image < images:
            if image == switch_at:
                OLD_MODELS.append(model)
                model = make_model(kind, args.sample_size).to(dev).eval()  # gpuleak-check: switch-site
                state["live_model"] = model
                state["switched"] = True
            latents = torch.randn(shape, device=dev)
            for t in sched.timesteps:
                if state["steps"] >= args.max_steps:
                    return False
                marker.begin()
                try:
                    latents = denoise(kind, model, sched, latents, t)
                    if keep_in is not None:
                        maybe_fake_oom(args, dev)
                        keep_latents(keep_in, args.leak_bytes, dev)
                finally:
                    marker.end()
                state["steps"] += 1
            del latents
            PER_IMAGE.clear()
            image += 1
            state["images"] = image
    return True


def maybe_fake_oom(args, dev):
    """--fake-oom-bytes (cpu testing only): acts as if the device were that small."""
    if args.fake_oom_bytes is None:
        return
    held = sum(t.nbytes for t in KEPT) + sum(t.nbytes for t in PER_IMAGE)
    if held + args.leak_bytes > args.fake_oom_bytes:
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory (simulated by --fake-oom-bytes %d on %s). Tried to allocate %d bytes.\n"
            "second line" % (args.fake_oom_bytes, dev, args.leak_bytes)
        )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for development)")
    p.add_argument("--pattern", choices=PATTERNS, default="clean", help="memory behaviour (default clean)")
    p.add_argument("--mark", choices=("nvtx", "module", "none"), default="nvtx", help="how each step is marked (default nvtx)")
    p.add_argument("--model", choices=("auto", "diffusers", "own"), default="auto",
                   help="auto: diffusers when it imports, else own (default auto)")
    p.add_argument("--images", type=int, default=4, help="images to sample (default 4; oom: unbounded)")
    p.add_argument("--steps", type=int, default=10, help="denoising steps per image (default 10)")
    p.add_argument("--leak-bytes", type=int, default=None,
                   help="bytes kept per step by leak/sawtooth/oom (default 2 MiB, oom 16 MiB); a multiple of 4")
    p.add_argument("--max-steps", type=int, default=10000, help="safety cap on total steps (default 10000)")
    p.add_argument("--sample-size", type=int, default=16, help="latent height and width (default 16)")
    p.add_argument("--device-init-layers", type=int, default=0,
                   help="first build this many nn.Linear layers on the device, one kernel per "
                        "parameter (default 0)")
    p.add_argument("--device-init-width", type=int, default=128,
                   help="features of each --device-init-layers layer (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fake-oom-bytes", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.leak_bytes is None:
        args.leak_bytes = 16 * MIB if args.pattern == "oom" else 2 * MIB
    if args.leak_bytes <= 0 or args.leak_bytes % 4:
        p.error("--leak-bytes must be a positive multiple of 4")
    if args.images < 1 or args.steps < 1:
        p.error("--images and --steps must be at least 1")
    if args.pattern == "model-switch" and args.images < 2:
        p.error("model-switch needs --images 2 or more")
    if args.device_init_layers < 0 or args.device_init_width < 1:
        p.error("--device-init-layers must be 0 or more and --device-init-width at least 1")
    if args.sample_size < 8 or args.sample_size % 2:
        p.error("--sample-size must be even and at least 8")
    return args


def main(argv=None):
    args = parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        # The fake CUDA stack has no cuDNN and runs no kernels: plain kernels and the math SDPA.
        torch.backends.cudnn.enabled = False
        torch.backends.cuda.enable_flash_sdp(False)
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_cudnn_sdp(False)

    state = {"t0": time.monotonic(), "images": 0, "steps": 0, "model": "own", "model_bytes": None,
             "diffusers_version": None, "oom_message": None, "switched": False, "t_loop": None,
             "encoder_bytes": None, "trace_after_loading": None}
    if args.model in ("auto", "diffusers"):
        try:
            state["diffusers_version"] = import_diffusers().__version__
            state["model"] = "diffusers"
        except ImportError as e:
            if args.model == "diffusers":
                sys.exit("sampler.py: --model diffusers, but diffusers does not import: %s" % e)
            print("sampler.py: diffusers does not import (%s); using the own model" % e, file=sys.stderr)

    try:
        finished = sample(args, dev, state["model"], state)
    except torch.cuda.OutOfMemoryError as e:
        lines = str(e).strip().splitlines()
        state["oom_message"] = lines[0] if lines else type(e).__name__
        report(state, args, dev)
        raise
    report(state, args, dev)
    if not finished:
        if args.pattern == "oom":
            print("sampler.py: oom pattern reached --max-steps %d without running out of memory"
                  % args.max_steps, file=sys.stderr)
        else:
            print("sampler.py: stopped at --max-steps %d" % args.max_steps, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
