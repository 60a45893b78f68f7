"""A PyTorch diffusion sampling loop for scripts/gpu-check.sh: DDIM with a small random-weight
UNet-like model (two resolutions, skip connection, time embedding, GroupNorm + SiLU), under
torch.no_grad, several images of several steps. Each step is marked with gpuleak_mark_iteration
when the process has it (under gpuleak).

    torch_sampler.py [--leak] [--images N] [--steps N] [--size S]

--leak keeps a tensor per step (the step's first activation, a few MiB) in a list for the whole
run: the injected leak. At the end, while everything is still held, prints one JSON line
{"gpu_check": {...}} with cuMemGetInfo's used bytes (torch.cuda.mem_get_info) and the caching
allocator's figures (memory_reserved, memory_allocated, max_memory_reserved).
Exits 3 with a SKIP line when PyTorch or a GPU is missing.
"""

import os

from gpu_check_common import mark_iteration, parser, report, skip

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    skip("PyTorch is not installed")


class Block(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(8, cout)
        self.temb = nn.Linear(tdim, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, t):
        h = F.silu(self.norm1(self.conv1(x)))
        h = h + self.temb(t)[:, :, None, None]
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.skip(x)


class TinyUNet(nn.Module):
    def __init__(self, channels=4, width=64, tdim=128):
        super().__init__()
        self.tdim = tdim
        self.t_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down = Block(width, width, tdim)
        self.pool = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.mid = Block(2 * width, 2 * width, tdim)
        self.up = Block(3 * width, width, tdim)
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def embed(self, t, batch, device):
        half = self.tdim // 2
        freqs = torch.exp(-torch.arange(half, device=device) * (9.2 / half))
        angles = t * freqs
        e = torch.cat([angles.sin(), angles.cos()])[None].expand(batch, -1)
        return self.t_mlp(e)

    def forward(self, x, t):
        temb = self.embed(t, x.shape[0], x.device)
        h0 = self.inp(x)
        h1 = self.down(h0, temb)
        h2 = self.mid(self.pool(h1), temb)
        u = F.interpolate(h2, scale_factor=2, mode="nearest")
        h3 = self.up(torch.cat([u, h1], dim=1), temb)
        return self.out(h3), h0


def main():
    p = parser(steps=25)
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    a = p.parse_args()
    if not torch.cuda.is_available():
        skip("torch.cuda.is_available() is False")
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = TinyUNet().to(dev).eval()
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0).float()
    ts = list(range(0, 1000, 1000 // a.steps))[: a.steps][::-1]
    kept = []
    with torch.no_grad():
        for image in range(a.images):
            x = torch.randn(a.batch, 4, a.size, a.size, device=dev)
            for i, t in enumerate(ts):
                mark_iteration("step")
                eps, h0 = model(x, torch.tensor(float(t), device=dev))
                a_t = alpha_bar[t]
                a_prev = alpha_bar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
                x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
                x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
                if a.leak:
                    kept.append(h0.clone())
            torch.cuda.synchronize()
            print(f"image {image + 1}/{a.images}: mean {x.mean().item():.4f} std "
                  f"{x.std().item():.4f}", flush=True)
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    report(**{
        "driver_used": total - free,
        "total": total,
        "torch_reserved": torch.cuda.memory_reserved(),
        "torch_allocated": torch.cuda.memory_allocated(),
        "torch_max_reserved": torch.cuda.max_memory_reserved(),
        "kept_tensors": len(kept),
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
        "device": torch.cuda.get_device_name(0),
    })


if __name__ == "__main__":
    main()
