"""A full-size Stable Diffusion 1.5 generation loop (diffusers' SD 1.5 UNet2DConditionModel and
AutoencoderKL with random fp16 weights, built from code: no download; what
StableDiffusionPipeline does with guidance, written out, since the pipeline class needs
transformers, which the project's PyTorch environment has not; prompts as random embeddings)
serving
requests, each output image kept in a module-level list: the gallery leak of issue 21, on real
PyTorch. Run under gpuleak on the fake CUDA stack (docs/performance.md, "The holders walk",
times the walk at exit on it; docs/pytorch.md shows its report).

    FAKE_CUDA_CAPACITY=80G gpuleak run --no-tui -o sd.trace -- python sd_gallery.py --requests 3
"""

import argparse
import time

import torch

GALLERY = []


def build():
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    with torch.device("cuda"):
        unet = UNet2DConditionModel(
            sample_size=64,
            block_out_channels=(320, 640, 1280, 1280),
            cross_attention_dim=768,
            attention_head_dim=8,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        ).half()
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
        ).half()
    return unet, vae, DDIMScheduler()


def generate(unet, vae, scheduler, embeds, steps, size):
    """What StableDiffusionPipeline does with classifier-free guidance, in its own words."""
    latents = torch.randn(1, 4, size // 8, size // 8, dtype=torch.float16, device="cuda")
    # On a fake device a timestep computed there and read back is garbage: keep them on the
    # host (../shared/DESIGN.md).
    scheduler.set_timesteps(steps, device="cpu")
    for t in scheduler.timesteps:
        pair = torch.cat([latents] * 2)
        noise = unet(pair, t, encoder_hidden_states=embeds).sample
        uncond, cond = noise.chunk(2)
        noise = uncond + 7.5 * (cond - uncond)
        latents = scheduler.step(noise, t, latents).prev_sample
    image = vae.decode(latents / vae.config.scaling_factor).sample
    return (image / 2 + 0.5).clamp(0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    torch.backends.cudnn.enabled = False
    torch.backends.cuda.enable_mem_efficient_sdp(False)
    started = time.monotonic()
    global UNET, VAE
    UNET, VAE, scheduler = build()
    print(f"built in {time.monotonic() - started:.1f} s", flush=True)
    embeds = torch.randn(2, 77, 768, dtype=torch.float16, device="cuda")
    for i in range(args.requests):
        with torch.no_grad():
            image = generate(UNET, VAE, scheduler, embeds, args.steps, args.size)
        GALLERY.append(image)
        print(f"request {i + 1}: {tuple(image.shape)}", flush=True)


if __name__ == "__main__":
    main()
