"""Programs that run out of device memory, each for one reason the out-of-memory report must
name (issue 23), on real PyTorch over gpuleak's fake CUDA stack. Each prints one line,
`GPULEAK_OOM {json}`, saying what it did before it failed (what it loaded, what it asked for),
and exits 1 on torch.cuda.OutOfMemoryError as a user's program would.

Modes (and the device size tests/torch/oom_cases.py runs them on):
- `decode-peak` (4 GiB): the issue's case: a full-size Stable Diffusion 1.5 UNet and VAE (fp16,
  random weights, built from code: sd_gallery.py) fit; the first request's VAE decode at
  512x512 does not;
- `model-too-large` (256 MiB): a model whose weights alone need more than the device has;
- `fragmentation` (256 MiB, native allocator): 6 MiB tensors fill 20 MiB segments three at a
  time; two of every three are freed, so every segment keeps one and has 12 MiB free, split in
  two; an 18 MiB tensor then finds no segment with room and no device memory for a new one,
  although the cache holds far more than 18 MiB free;
- `other-process` (1 GiB, another process holding 768 MiB of it through the fake driver's
  FAKE_CUDA_OTHER_BYTES): a small model's step, which the device alone would hold, does not
  fit beside it.
"""

import argparse
import json
import sys

import torch

MIB = 1 << 20


def say(**facts):
    print("GPULEAK_OOM " + json.dumps(facts), flush=True)


def decode_peak(size):
    import sd_gallery

    # Built in half precision from the start, as from_pretrained(torch_dtype=torch.float16)
    # loads it: no fp32 copy on the device, so only the request's peak can fail.
    torch.set_default_dtype(torch.float16)
    unet, vae, scheduler = sd_gallery.build()
    torch.set_default_dtype(torch.float32)
    embeds = torch.randn(2, 77, 768, dtype=torch.float16, device="cuda")
    loaded = torch.cuda.memory_allocated()
    say(mode="decode-peak", loaded_bytes=loaded)
    with torch.no_grad():
        sd_gallery.generate(unet, vae, scheduler, embeds, 2, size)


class Big(torch.nn.Module):
    """Eight 48 MiB fp32 layers: 384 MiB of weights."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(3072, 4096) for _ in range(8))


def model_too_large():
    say(mode="model-too-large", weights_bytes=sum(p.numel() * 4 for p in Big().parameters()))
    global MODEL
    MODEL = Big().to("cuda")


def fragmentation():
    tensors = [torch.empty(6 * MIB, dtype=torch.uint8, device="cuda") for _ in range(36)]
    kept = tensors[1::3]
    del tensors
    say(mode="fragmentation", kept_bytes=sum(t.numel() for t in kept),
        reserved_bytes=torch.cuda.memory_reserved(), request_bytes=18 * MIB)
    big = torch.empty(18 * MIB, dtype=torch.uint8, device="cuda")
    return kept, big


def other_process():
    model = torch.nn.Sequential(*(torch.nn.Linear(1024, 1024) for _ in range(4))).cuda()
    say(mode="other-process", weights_bytes=sum(p.numel() * 4 for p in model.parameters()))
    with torch.no_grad():
        for _ in range(4):
            # 160 MiB of activations a step: the device alone would hold them, not beside the
            # other process's 768 MiB. Nothing is kept from step to step.
            model(torch.randn(40960, 1024, device="cuda"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True,
                    choices=("decode-peak", "model-too-large", "fragmentation", "other-process"))
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    torch.backends.cudnn.enabled = False
    torch.backends.cuda.enable_mem_efficient_sdp(False)
    try:
        if args.mode == "decode-peak":
            decode_peak(args.size)
        elif args.mode == "model-too-large":
            model_too_large()
        elif args.mode == "fragmentation":
            fragmentation()
        else:
            other_process()
    except torch.cuda.OutOfMemoryError as e:
        print(f"OutOfMemoryError: {e}", file=sys.stderr, flush=True)
        return 1
    say(mode=args.mode, finished=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
