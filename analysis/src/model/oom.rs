//! The out-of-memory report (`oom` in the JSON): at the failure the program died of, the request
//! that failed, what filled the device in parts that add up to its total, the cause those parts
//! show, and the changes that would fit the work on the device, each with its evidence.
//!
//! Every field here is a figure or an enum; the sentences that read them are written once, in
//! [`crate::diagnosis`], so the text report, the HTML report and the live view say the same.

use serde::Serialize;

/// The failure a program died of, explained.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OomReport {
    /// Index into `ooms[]` of the failure explained.
    pub index: usize,
    pub request: FailedRequest,
    /// The device's total as the driver reported it at the failure; null when the trace does not
    /// say (then `parts` cannot add up to it and `unexplained_bytes` is null).
    pub device_total_bytes: Option<u64>,
    /// What filled the device, largest first; with a known total they add up to it
    /// (`unexplained_bytes` says by how much they do not).
    pub parts: Vec<OomPart>,
    /// `device_total_bytes` minus the sum of `parts`: 0 when the figures close; null without a
    /// total.
    pub unexplained_bytes: Option<i64>,
    pub cause: OomCause,
    /// How much more the device would have needed for the failed request to fit at that moment
    /// (the request minus what was free, never below 0).
    pub short_by_bytes: u64,
    /// Changes that would make the work fit, most saved first; none without evidence.
    pub advice: Vec<Advice>,
}

/// The allocation that failed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FailedRequest {
    /// Where it was asked for, as people recognise it: the program's line and the library's
    /// module and function the request came from ("main (app.py:122) → Decoder.forward
    /// (vae.py:300) → AttnProcessor2_0.__call__ (attention_processor.py:2767)").
    pub label: String,
    pub api: String,
    pub bytes: u64,
    /// The same request failed shortly before on the same thread and the program freed memory in
    /// between (a caching allocator emptying its cache) before asking again: the retry failed
    /// too.
    pub retried_after_freeing: bool,
    /// What was freed between the first failure and the retry.
    pub freed_before_retry_bytes: u64,
}

/// One share of the device at the failure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OomPart {
    pub part: PartKind,
    pub bytes: u64,
    /// What it is, largest first: the sites (or models, or libraries, or processes) it is made
    /// of, each with its bytes. Empty where nothing more is known.
    pub by: Vec<PartShare>,
    /// The part's figure is a bound or an estimate, not exact (say which in `note`).
    pub estimated: bool,
    /// Why the figure is what it is, where that is not obvious ("the native caching allocator
    /// does not say which of its segments' bytes are free"); empty otherwise.
    pub note: String,
}

/// One named share of a part.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PartShare {
    /// A site's label, a model ("UNET (UNet2DConditionModel)"), a library ("cuBLAS") or a
    /// process ("pid 4242").
    pub label: String,
    pub bytes: u64,
}

/// The shares a device is split into at a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// Allocated before the work started (the program's prologue: model weights) and still
    /// live.
    Loaded,
    /// Allocated in earlier iterations and still live.
    Kept,
    /// Allocated in the iteration in flight: its working memory.
    Working,
    /// Segments a caching allocator reserved since the work started, when it does not say what
    /// is inside them (the native allocator, expandable segments): working memory, what earlier
    /// iterations kept and free cache together.
    Segments,
    /// Reserved by an allocator's cache but free inside it (PyTorch's "reserved but
    /// unallocated"), where that is known.
    CacheFree,
    /// Workspaces of CUDA libraries (cuBLAS, cuBLASLt, cuDNN, NCCL), named by the stack.
    Libraries,
    /// Other processes on the same device.
    OtherProcesses,
    /// In use on the device but outside every allocation gpuleak saw: the CUDA context, loaded
    /// modules, and allocations made by paths it does not see.
    Outside,
    /// Free on the device when the request failed.
    Free,
}

/// What the parts show made the request fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OomCause {
    /// The one request asked for more than the whole device.
    RequestTooLarge,
    /// The work failed while it loaded: what it loads does not fit.
    ModelTooLarge,
    /// What is loaded fits, but one iteration's working memory on top of it does not.
    StepPeak,
    /// Memory kept from iteration to iteration filled the device.
    Leak,
    /// The device (or the allocator's cache) had the bytes free, but not in one piece.
    Fragmentation,
    /// Other processes (or memory outside this process's allocations) held the device.
    OtherProcess,
}

/// One change that would make the work fit, and why the report proposes it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Advice {
    pub advice: AdviceKind,
    /// What it would save, where the trace shows it; null when it cannot be told.
    pub saves_bytes: Option<u64>,
    /// The figures or frames it rests on, in words ("the failed request came from
    /// Decoder.forward (vae.py:300)").
    pub evidence: String,
}

/// The changes the report can propose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceKind {
    /// A smaller batch or resolution.
    SmallerInput,
    /// diffusers: `pipe.vae.enable_tiling()`.
    VaeTiling,
    /// diffusers: `pipe.vae.enable_slicing()` (a batch decoded one image at a time).
    VaeSlicing,
    /// diffusers: `pipe.enable_attention_slicing()`.
    AttentionSlicing,
    /// diffusers: `pipe.enable_model_cpu_offload()`.
    ModelCpuOffload,
    /// diffusers: `pipe.enable_sequential_cpu_offload()`.
    SequentialCpuOffload,
    /// Weights in fp32: load them in half precision.
    HalfPrecision,
    /// PyTorch: `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`.
    ExpandableSegments,
    /// Stop keeping what a leak keeps (its holder named in the evidence).
    FreeLeak,
    /// Free the device of other processes' memory.
    FreeOtherProcesses,
}

impl PartKind {
    /// Every part, in the order reports list them when sizes tie: what the program holds, then
    /// what others hold, then what is free.
    pub const ALL: [PartKind; 9] = [
        PartKind::Loaded,
        PartKind::Kept,
        PartKind::Working,
        PartKind::Segments,
        PartKind::CacheFree,
        PartKind::Libraries,
        PartKind::OtherProcesses,
        PartKind::Outside,
        PartKind::Free,
    ];

    /// The part in a few words, for tables and charts; `per` is the report's unit ("iteration",
    /// "request").
    pub fn title(self, per: &str) -> String {
        match self {
            PartKind::Loaded => "loaded before the work began".to_string(),
            PartKind::Kept => format!("kept from earlier {per}s"),
            PartKind::Working => format!("working memory of the {per} in flight"),
            PartKind::Segments => "caching allocator's segments since the work began".to_string(),
            PartKind::CacheFree => "free inside the allocator's cache".to_string(),
            PartKind::Libraries => "CUDA library workspaces".to_string(),
            PartKind::OtherProcesses => "other processes".to_string(),
            PartKind::Outside => "CUDA context and memory outside any allocation seen".to_string(),
            PartKind::Free => "free on the device".to_string(),
        }
    }
}

impl OomCause {
    /// The cause as a short clause: "the model alone does not fit".
    pub fn title(self) -> &'static str {
        match self {
            OomCause::RequestTooLarge => "one request is larger than the whole device",
            OomCause::ModelTooLarge => "what the program loads does not fit",
            OomCause::StepPeak => "what is loaded fits, but one step's peak does not",
            OomCause::Leak => "memory kept from step to step filled the device",
            OomCause::Fragmentation => "enough was free, but not in one piece",
            OomCause::OtherProcess => "other processes hold the device",
        }
    }
}

impl AdviceKind {
    /// What to do, as a user would type or set it.
    pub fn action(self) -> &'static str {
        match self {
            AdviceKind::SmallerInput => "use a smaller batch or resolution",
            AdviceKind::VaeTiling => "decode in tiles: pipe.vae.enable_tiling()",
            AdviceKind::VaeSlicing => "decode one image at a time: pipe.vae.enable_slicing()",
            AdviceKind::AttentionSlicing => {
                "compute attention in slices: pipe.enable_attention_slicing()"
            }
            AdviceKind::ModelCpuOffload => {
                "keep only the model in use on the GPU: pipe.enable_model_cpu_offload()"
            }
            AdviceKind::SequentialCpuOffload => {
                "stream weights layer by layer: pipe.enable_sequential_cpu_offload()"
            }
            AdviceKind::HalfPrecision => {
                "load the weights in half precision (torch_dtype=torch.float16)"
            }
            AdviceKind::ExpandableSegments => {
                "let the cache grow in place: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"
            }
            AdviceKind::FreeLeak => "stop keeping what the leak keeps",
            AdviceKind::FreeOtherProcesses => "free the device of the other processes' memory",
        }
    }
}
