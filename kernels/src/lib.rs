//! The diffusion sampler lands with its own issue; this crate holds its place in the workspace.
