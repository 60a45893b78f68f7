//! The interception: wrappers of the CUDA calls gpuleak records, each forwarding to the real
//! function and handing what happened to the recording API (`crate::record`), which never
//! calls back up here.
//!
//! - `table`: every wrapped symbol (exported, and as a wrapper for `dlsym`/`cuGetProcAddress`)
//! - `alloc`, `vmm`, `arrays`, `graphs`, `launch`: the wrapper bodies, by kind of call
//! - `events`: what each kind of call records; `common`: what the bodies share

#![allow(non_snake_case)]

#[macro_use]
mod common;
mod alloc;
mod arrays;
mod events;
mod graphs;
mod launch;
pub mod table;
mod vmm;
