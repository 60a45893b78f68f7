// The sampler's denoiser: a small convolutional network (conv_in -> time embedding + SiLU ->
// conv_out) predicting the noise, and the DDIM update. Compiled at run time with NVRTC on a real
// GPU (gpuleak-kernels/src/lib.rs); on gpuleak's fake driver the text is only loaded, never run.
// Layout: NCHW, float32; one thread per output element.

__device__ float conv3x3_at(const float *in, const float *w, const float *bias, int i, int cin,
                            int cout, int h, int wd)
{
    int x = i % wd;
    int y = (i / wd) % h;
    int co = (i / (wd * h)) % cout;
    int b = i / (wd * h * cout);
    float acc = bias[co];
    for (int ci = 0; ci < cin; ci++) {
        const float *plane = in + ((long)b * cin + ci) * h * wd;
        const float *k = w + ((long)co * cin + ci) * 9;
        for (int ky = 0; ky < 3; ky++) {
            int yy = y + ky - 1;
            if (yy < 0 || yy >= h)
                continue;
            for (int kx = 0; kx < 3; kx++) {
                int xx = x + kx - 1;
                if (xx < 0 || xx >= wd)
                    continue;
                acc += k[ky * 3 + kx] * plane[yy * wd + xx];
            }
        }
    }
    return acc;
}

// latents (n, cin, h, w) -> hidden (n, cout, h, w)
extern "C" __global__ void conv_in(const float *in, const float *w, const float *bias, float *out,
                                   int n, int cin, int cout, int h, int wd)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * cout * h * wd)
        out[i] = conv3x3_at(in, w, bias, i, cin, cout, h, wd);
}

// hidden += temb[channel] * t, then SiLU, in place.
extern "C" __global__ void time_silu(float *x, const float *temb, float t, int n, int c, int hw)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * c * hw)
        return;
    float v = x[i] + temb[(i / hw) % c] * t;
    x[i] = v / (1.0f + expf(-v));
}

// hidden (n, cin, h, w) -> predicted noise (n, cout, h, w)
extern "C" __global__ void conv_out(const float *in, const float *w, const float *bias, float *out,
                                    int n, int cin, int cout, int h, int wd)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * cout * h * wd)
        out[i] = conv3x3_at(in, w, bias, i, cin, cout, h, wd);
}

// One deterministic DDIM step (eta = 0) from alpha-bar a_t to a_prev, in place.
extern "C" __global__ void ddim_update(float *x, const float *eps, float a_t, float a_prev,
                                       int total)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total)
        return;
    float x0 = (x[i] - sqrtf(1.0f - a_t) * eps[i]) / sqrtf(a_t);
    x0 = fminf(fmaxf(x0, -1.0f), 1.0f);
    x[i] = sqrtf(a_prev) * x0 + sqrtf(1.0f - a_prev) * eps[i];
}
