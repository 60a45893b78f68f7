//! The event model: every record a trace can hold. Writer (the hook) and readers share these
//! types, so the two cannot drift apart.

/// Which CUDA entry point produced an event. The numeric values are part of the trace format
/// (docs/trace-format.md); new entry points get new numbers, old numbers never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Api {
    CudaMalloc = 1,
    CudaFree = 2,
    CudaMallocAsync = 3,
    CudaFreeAsync = 4,
    CudaMallocManaged = 5,
    CudaMallocPitch = 6,
    CudaMallocHost = 7,
    CudaHostAlloc = 8,
    CudaFreeHost = 9,

    CuMemAlloc = 32,
    CuMemFree = 33,
    CuMemAllocAsync = 34,
    CuMemFreeAsync = 35,
    CuMemAllocManaged = 36,
    CuMemAllocPitch = 37,
    CuMemAllocHost = 38,
    CuMemHostAlloc = 39,
    CuMemFreeHost = 40,
    /// `aux` = the pool (also for cuMemAllocAsync/cudaMallocAsync: the device's current pool).
    CuMemAllocFromPoolAsync = 41,
    /// Control: `address` = the pool, `size` = minBytesToKeep, `pool_reserved` = the pool's
    /// reserved bytes after the trim as the driver reported them.
    CuMemPoolTrimTo = 42,
    /// Control, recorded for the release threshold only: `address` = the pool, `size` = the
    /// threshold.
    CuMemPoolSetAttribute = 43,
    /// Physical memory: `address` = the allocation handle.
    CuMemCreate = 44,
    CuMemRelease = 45,
    /// A mapping of physical memory: `address` = the virtual address, `aux` = the handle.
    CuMemMap = 46,
    /// `size` = the unmapped length: one unmap may cover several maps.
    CuMemUnmap = 47,
    /// Address space only, no memory.
    CuMemAddressReserve = 48,
    CuMemAddressFree = 49,
    CuMemHostRegister = 50,
    CuMemHostUnregister = 51,
    /// Arrays: `address` = the CUarray handle, `size` = the bytes its descriptor describes.
    CuArrayCreate = 52,
    CuArray3DCreate = 53,
    CuArrayDestroy = 54,
    CuMipmappedArrayCreate = 55,
    CuMipmappedArrayDestroy = 56,
    /// A graph memory node: `address` = the node's virtual address, `aux` = the graph.
    CuGraphAddMemAllocNode = 57,
    CuGraphAddMemFreeNode = 58,
    /// Control: the device's graph memory pool trimmed.
    CuDeviceGraphMemTrim = 59,
    /// Memory of another process, mapped into this one.
    CuIpcOpenMemHandle = 60,
    CuIpcCloseMemHandle = 61,
    /// Physical memory of another process: `address` = the new handle, released by cuMemRelease.
    CuMemImportFromShareableHandle = 62,
}

/// What an entry point does to the set of live allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Alloc,
    Free,
    /// Changes what a pool keeps, not what the program holds (trims, thresholds).
    Control,
}

/// Where the memory an entry point hands out lives. Reports keep these apart: pinned host memory
/// does not fill the GPU, and users compare the device figure with `nvidia-smi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryKind {
    /// Device memory handed to the program (plain, pitched, stream-ordered, from a pool).
    Device,
    Managed,
    PinnedHost,
    /// Existing host memory page-locked with cuMemHostRegister: no new memory.
    HostRegistered,
    /// Physical device memory created with cuMemCreate (the VMM API).
    Physical,
    /// A virtual range mapped onto physical memory (cuMemMap): counted once, as `Physical`.
    Mapping,
    /// Reserved virtual address space: no memory at all.
    AddressSpace,
    /// CUDA arrays (textures, surfaces).
    Array,
    /// Graph memory nodes, allocated from the device's graph pool when the graph runs.
    Graph,
    /// Another process's memory, mapped or imported: not this process's allocation.
    Imported,
}

/// The set of values an address belongs to: a handle can equal a device pointer numerically, so
/// readers match a free with its allocation within one namespace only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Virtual addresses (device pointers, host pointers, reserved ranges).
    Pointer,
    /// Physical allocation handles (CUmemGenericAllocationHandle).
    Handle,
    /// CUarray and CUmipmappedArray handles.
    Array,
}

impl Api {
    pub const ALL: [Api; 40] = [
        Api::CudaMalloc,
        Api::CudaFree,
        Api::CudaMallocAsync,
        Api::CudaFreeAsync,
        Api::CudaMallocManaged,
        Api::CudaMallocPitch,
        Api::CudaMallocHost,
        Api::CudaHostAlloc,
        Api::CudaFreeHost,
        Api::CuMemAlloc,
        Api::CuMemFree,
        Api::CuMemAllocAsync,
        Api::CuMemFreeAsync,
        Api::CuMemAllocManaged,
        Api::CuMemAllocPitch,
        Api::CuMemAllocHost,
        Api::CuMemHostAlloc,
        Api::CuMemFreeHost,
        Api::CuMemAllocFromPoolAsync,
        Api::CuMemPoolTrimTo,
        Api::CuMemPoolSetAttribute,
        Api::CuMemCreate,
        Api::CuMemRelease,
        Api::CuMemMap,
        Api::CuMemUnmap,
        Api::CuMemAddressReserve,
        Api::CuMemAddressFree,
        Api::CuMemHostRegister,
        Api::CuMemHostUnregister,
        Api::CuArrayCreate,
        Api::CuArray3DCreate,
        Api::CuArrayDestroy,
        Api::CuMipmappedArrayCreate,
        Api::CuMipmappedArrayDestroy,
        Api::CuGraphAddMemAllocNode,
        Api::CuGraphAddMemFreeNode,
        Api::CuDeviceGraphMemTrim,
        Api::CuIpcOpenMemHandle,
        Api::CuIpcCloseMemHandle,
        Api::CuMemImportFromShareableHandle,
    ];

    pub fn from_u16(v: u16) -> Option<Api> {
        Api::ALL.iter().copied().find(|a| *a as u16 == v)
    }

    /// The name a user knows: the symbol the program called (driver names without `_v2`).
    pub fn name(self) -> &'static str {
        match self {
            Api::CudaMalloc => "cudaMalloc",
            Api::CudaFree => "cudaFree",
            Api::CudaMallocAsync => "cudaMallocAsync",
            Api::CudaFreeAsync => "cudaFreeAsync",
            Api::CudaMallocManaged => "cudaMallocManaged",
            Api::CudaMallocPitch => "cudaMallocPitch",
            Api::CudaMallocHost => "cudaMallocHost",
            Api::CudaHostAlloc => "cudaHostAlloc",
            Api::CudaFreeHost => "cudaFreeHost",
            Api::CuMemAlloc => "cuMemAlloc",
            Api::CuMemFree => "cuMemFree",
            Api::CuMemAllocAsync => "cuMemAllocAsync",
            Api::CuMemFreeAsync => "cuMemFreeAsync",
            Api::CuMemAllocManaged => "cuMemAllocManaged",
            Api::CuMemAllocPitch => "cuMemAllocPitch",
            Api::CuMemAllocHost => "cuMemAllocHost",
            Api::CuMemHostAlloc => "cuMemHostAlloc",
            Api::CuMemFreeHost => "cuMemFreeHost",
            Api::CuMemAllocFromPoolAsync => "cuMemAllocFromPoolAsync",
            Api::CuMemPoolTrimTo => "cuMemPoolTrimTo",
            Api::CuMemPoolSetAttribute => "cuMemPoolSetAttribute",
            Api::CuMemCreate => "cuMemCreate",
            Api::CuMemRelease => "cuMemRelease",
            Api::CuMemMap => "cuMemMap",
            Api::CuMemUnmap => "cuMemUnmap",
            Api::CuMemAddressReserve => "cuMemAddressReserve",
            Api::CuMemAddressFree => "cuMemAddressFree",
            Api::CuMemHostRegister => "cuMemHostRegister",
            Api::CuMemHostUnregister => "cuMemHostUnregister",
            Api::CuArrayCreate => "cuArrayCreate",
            Api::CuArray3DCreate => "cuArray3DCreate",
            Api::CuArrayDestroy => "cuArrayDestroy",
            Api::CuMipmappedArrayCreate => "cuMipmappedArrayCreate",
            Api::CuMipmappedArrayDestroy => "cuMipmappedArrayDestroy",
            Api::CuGraphAddMemAllocNode => "cuGraphAddMemAllocNode",
            Api::CuGraphAddMemFreeNode => "cuGraphAddMemFreeNode",
            Api::CuDeviceGraphMemTrim => "cuDeviceGraphMemTrim",
            Api::CuIpcOpenMemHandle => "cuIpcOpenMemHandle",
            Api::CuIpcCloseMemHandle => "cuIpcCloseMemHandle",
            Api::CuMemImportFromShareableHandle => "cuMemImportFromShareableHandle",
        }
    }

    pub fn op(self) -> Op {
        match self {
            Api::CudaFree
            | Api::CudaFreeAsync
            | Api::CudaFreeHost
            | Api::CuMemFree
            | Api::CuMemFreeAsync
            | Api::CuMemFreeHost
            | Api::CuMemRelease
            | Api::CuMemUnmap
            | Api::CuMemAddressFree
            | Api::CuMemHostUnregister
            | Api::CuArrayDestroy
            | Api::CuMipmappedArrayDestroy
            | Api::CuGraphAddMemFreeNode
            | Api::CuIpcCloseMemHandle => Op::Free,
            Api::CuMemPoolTrimTo | Api::CuMemPoolSetAttribute | Api::CuDeviceGraphMemTrim => {
                Op::Control
            }
            _ => Op::Alloc,
        }
    }

    /// What kind of memory an allocation makes or a free gives back. A free's kind is that of
    /// the allocation it matches; `cuMemRelease` may release `Physical` or `Imported` handles,
    /// so readers take the kind from the matched allocation.
    pub fn memory(self) -> MemoryKind {
        match self {
            Api::CudaMallocManaged | Api::CuMemAllocManaged => MemoryKind::Managed,
            Api::CudaMallocHost
            | Api::CudaHostAlloc
            | Api::CudaFreeHost
            | Api::CuMemAllocHost
            | Api::CuMemHostAlloc
            | Api::CuMemFreeHost => MemoryKind::PinnedHost,
            Api::CuMemHostRegister | Api::CuMemHostUnregister => MemoryKind::HostRegistered,
            Api::CuMemCreate | Api::CuMemRelease => MemoryKind::Physical,
            Api::CuMemMap | Api::CuMemUnmap => MemoryKind::Mapping,
            Api::CuMemAddressReserve | Api::CuMemAddressFree => MemoryKind::AddressSpace,
            Api::CuArrayCreate
            | Api::CuArray3DCreate
            | Api::CuArrayDestroy
            | Api::CuMipmappedArrayCreate
            | Api::CuMipmappedArrayDestroy => MemoryKind::Array,
            Api::CuGraphAddMemAllocNode
            | Api::CuGraphAddMemFreeNode
            | Api::CuDeviceGraphMemTrim => MemoryKind::Graph,
            Api::CuIpcOpenMemHandle
            | Api::CuIpcCloseMemHandle
            | Api::CuMemImportFromShareableHandle => MemoryKind::Imported,
            _ => MemoryKind::Device,
        }
    }

    pub fn namespace(self) -> Namespace {
        match self {
            Api::CuMemCreate | Api::CuMemRelease | Api::CuMemImportFromShareableHandle => {
                Namespace::Handle
            }
            Api::CuArrayCreate
            | Api::CuArray3DCreate
            | Api::CuArrayDestroy
            | Api::CuMipmappedArrayCreate
            | Api::CuMipmappedArrayDestroy => Namespace::Array,
            _ => Namespace::Pointer,
        }
    }

    /// True for the CUDA runtime (libcudart) entry points, false for the driver (libcuda).
    pub fn is_runtime(self) -> bool {
        (self as u16) < 32
    }
}

/// The device's memory as `cuMemGetInfo` saw it, recorded with every out-of-memory failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemInfo {
    pub free: u64,
    pub total: u64,
}

/// Stack id 0 means "no stack recorded" (stacks off, or capture failed).
pub const NO_STACK: u32 = 0;

/// Device ordinal for host memory, or when the device could not be determined.
pub const NO_DEVICE: i32 = -1;

/// One intercepted call: an allocation or a free, successful or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Position among all events of the process, starting at 0; dropped events use up numbers.
    pub seq: u64,
    /// Monotonic clock (CLOCK_MONOTONIC), nanoseconds.
    pub time_ns: u64,
    /// Kernel thread id of the caller.
    pub tid: u32,
    pub api: Api,
    /// Device ordinal of the current context, `NO_DEVICE` when unknown or host memory.
    pub device: i32,
    /// The stream handle for stream-ordered calls, 0 otherwise.
    pub stream: u64,
    /// Address handed out (alloc) or given back (free); 0 when a failed alloc gave none.
    pub address: u64,
    /// Bytes requested; for pitched allocations pitch x height. 0 for frees.
    pub size: u64,
    /// The raw return code (`CUresult` or `cudaError_t`) the program saw; 0 is success.
    pub result: u32,
    pub stack: u32,
    /// The device's memory at the time of the call: present on out-of-memory failures and on
    /// the process's first successful device allocation (which gives readers the device total).
    pub mem_info: Option<MemInfo>,
    /// A second handle some entry points carry (the pool, the physical handle of a mapping, the
    /// graph); 0 when none. See [`Api`].
    pub aux: u64,
    /// Stream-ordered allocations and pool trims: the bytes the pool (`aux`, or `address` for a
    /// trim) holds from the device right after the call, as the driver reports them
    /// (`CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT`). Memory a pool keeps after frees is invisible
    /// otherwise.
    pub pool_reserved: Option<u64>,
}

impl Event {
    pub fn ok(&self) -> bool {
        self.result == 0
    }
}

/// Who recorded the trace. Written once, first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub argv: Vec<String>,
    pub hostname: String,
    /// Wall clock at start, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
    /// CLOCK_MONOTONIC at start; event times are on this clock.
    pub start_mono_ns: u64,
    pub hook_version: String,
    /// How stacks were captured: "off", "native", "python" (Python frames where the thread ran
    /// Python with the GIL, native frames elsewhere) or "all" (both).
    pub stacks: String,
    /// The names of the CUDA devices the process sees, by ordinal (`CUDA_VISIBLE_DEVICES`
    /// applied), as the driver gave them when the trace began; empty when it could not say (no
    /// driver initialised yet) or in traces written before this field.
    pub devices: Vec<String>,
    /// The variables a launcher (torchrun, accelerate, mpirun via these names) sets to place the
    /// process in a job, as (name, value), in [`LAUNCH_VARIABLES`] order: those set only; empty
    /// in traces written before this field.
    pub launch_env: Vec<(String, String)>,
}

/// What the hook records of its environment: the variables that tell the workers of one job
/// apart.
pub const LAUNCH_VARIABLES: [&str; 4] = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"];

impl Header {
    /// The value of one of [`LAUNCH_VARIABLES`], when the process had it.
    pub fn launch_var(&self, name: &str) -> Option<&str> {
        self.launch_env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A loaded ELF object, so a reader can turn instruction pointers into symbols offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    /// Load bias: the address of ELF virtual address 0 in the process.
    pub base: u64,
    /// Lowest and one-past-highest address of the object's loaded segments.
    pub start: u64,
    pub end: u64,
    /// GNU build id, empty when the object has none.
    pub build_id: Vec<u8>,
}

/// A unique call stack: instruction pointers, innermost first. The innermost is the address
/// of the caller of the CUDA function; the others are return addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    pub id: u32,
    pub frames: Vec<u64>,
}

/// A Python code object (a function, method, lambda, module body) that Python stacks refer to by
/// `id`. Defined once per trace, in the first [`PyStack`] whose frames use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyCode {
    /// Never reused within a trace; never 0.
    pub id: u32,
    /// `co_firstlineno`: the line the function's definition starts on (0 when unknown).
    pub first_line: u32,
    /// `co_filename`, as the interpreter has it (absolute or relative to the program's start).
    pub file: String,
    /// `co_qualname` (Python 3.11+: `Class.method`, `outer.<locals>.inner`), else `co_name`.
    pub name: String,
}

/// One frame of a Python stack: the code object running and its current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PyFrame {
    /// A [`PyCode`] id.
    pub code: u32,
    /// The line being executed (0 when unknown).
    pub line: u32,
}

/// A unique call stack of a thread that was running Python: native instruction pointers (as in
/// [`Stack`]; empty when only Python frames were captured) and the thread's Python frames, both
/// innermost first. Shares the id space with [`Stack`]. On the wire it is a Stack record with the
/// Python part appended, so readers that know nothing of Python see its native frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyStack {
    pub id: u32,
    pub frames: Vec<u64>,
    /// Code objects this record defines: those of `python` not defined by an earlier record.
    pub codes: Vec<PyCode>,
    pub python: Vec<PyFrame>,
}

/// Which entry point launched a kernel or a CUDA graph. Launches are counted, not profiled: the
/// sequence of launched functions (and graphs) repeats every step, so readers find iterations in
/// it when the program marks none. A step replayed from a CUDA graph (torch.compile
/// "reduce-overhead", captured UNets) launches no kernel through the launch APIs, only its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LaunchApi {
    CudaLaunchKernel = 1,
    CuLaunchKernel = 2,
    CuLaunchKernelEx = 3,
    CudaGraphLaunch = 4,
    CuGraphLaunch = 5,
}

impl LaunchApi {
    /// Every launch API, in number order.
    pub const ALL: [LaunchApi; 5] = [
        LaunchApi::CudaLaunchKernel,
        LaunchApi::CuLaunchKernel,
        LaunchApi::CuLaunchKernelEx,
        LaunchApi::CudaGraphLaunch,
        LaunchApi::CuGraphLaunch,
    ];

    pub fn from_u8(v: u8) -> Option<LaunchApi> {
        LaunchApi::ALL.iter().copied().find(|a| *a as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            LaunchApi::CudaLaunchKernel => "cudaLaunchKernel",
            LaunchApi::CuLaunchKernel => "cuLaunchKernel",
            LaunchApi::CuLaunchKernelEx => "cuLaunchKernelEx",
            LaunchApi::CudaGraphLaunch => "cudaGraphLaunch",
            LaunchApi::CuGraphLaunch => "cuGraphLaunch",
        }
    }
}

/// One kernel or graph launch (the outermost API of the call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub time_ns: u64,
    pub tid: u32,
    pub api: LaunchApi,
    /// What was launched: a CUfunction handle, the host stub for cudaLaunchKernel, or the
    /// CUgraphExec (cudaGraphExec_t) for a graph launch. Only its identity matters.
    pub function: u64,
    pub stream: u64,
}

/// What an NVTX call did to a thread's ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RangeOp {
    /// nvtxRangePush*, nvtxDomainRangePushEx: a nested range opens on this thread.
    Push = 1,
    /// nvtxRangePop, nvtxDomainRangePop.
    Pop = 2,
    /// nvtxRangeStart*, nvtxDomainRangeStartEx: a range that may end on another thread.
    Start = 3,
    /// nvtxRangeEnd, nvtxDomainRangeEnd.
    End = 4,
}

impl RangeOp {
    pub fn from_u8(v: u8) -> Option<RangeOp> {
        match v {
            1 => Some(RangeOp::Push),
            2 => Some(RangeOp::Pop),
            3 => Some(RangeOp::Start),
            4 => Some(RangeOp::End),
            _ => None,
        }
    }
}

/// An NVTX range event, seen by the hook acting as the NVTX injection library. Ranges named like
/// a step ("step", "denoise") mark iterations with no change to the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub time_ns: u64,
    pub tid: u32,
    pub op: RangeOp,
    /// For a push, the thread's nesting depth before it (0 = outermost); for a pop, after it;
    /// 0 for start and end.
    pub depth: u32,
    /// The range id of a start/end pair; 0 for push and pop.
    pub id: u64,
    /// The range's message, for push and start when it has one.
    pub name: Option<String>,
    /// The NVTX domain's name; `None` for the default domain.
    pub domain: Option<String>,
}

/// A boundary the program marked (`gpuleak_mark_iteration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub time_ns: u64,
    pub tid: u32,
    pub label: Option<String>,
}

/// Counts written on clean exit. A trace may hold several: each supersedes the one before
/// (late frees after exit handlers get their own).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Trailer {
    pub events: u64,
    pub dropped: u64,
    pub stacks: u64,
    pub modules: u64,
    pub end_mono_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Header(Header),
    Module(Module),
    Stack(Stack),
    /// A stack with Python frames (a Stack record with its Python part).
    PyStack(PyStack),
    Event(Event),
    Marker(Marker),
    Launch(Launch),
    Range(Range),
    /// Events the hook could not record (the writer fell behind past the wait limit).
    Dropped {
        time_ns: u64,
        count: u64,
    },
    /// Something the hook wants the reader to know ("could not resolve cuMemGetInfo_v2").
    Note(String),
    Trailer(Trailer),
    /// A capped trace's pointer to its oldest kept segment (file offset; 0 = none dropped).
    Resume(u64),
    /// The start of a capped trace's segment, with what was live then.
    Segment(Segment),
    /// What keeps device memory alive: the walk inside a Python program.
    Holders(crate::holders::Holders),
    /// Who else uses the device of an out-of-memory failure, as NVML lists them.
    Processes(crate::processes::DeviceProcesses),
}

/// One allocation live when a segment started (section 5.12 of the format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEntry {
    /// The sequence number and time of the event that allocated it.
    pub seq: u64,
    pub time_ns: u64,
    pub api: Api,
    pub device: i32,
    pub stream: u64,
    pub address: u64,
    pub size: u64,
    pub aux: u64,
    pub stack: u32,
}

/// The start of a segment of a trace written under a size cap: what a reader that starts
/// here needs of what came before.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    /// 0 for the first segment, then one more each.
    pub index: u64,
    /// When the segment started; the base of the record times after it.
    pub time_ns: u64,
    /// The sequence number the next event gets: how many events came before.
    pub next_seq: u64,
    /// Everything live when the segment started.
    pub live: Vec<LiveEntry>,
    /// Each device's total memory as the trace recorded it before the segment (device,
    /// bytes): the events that carried it may be in a dropped segment.
    pub totals: Vec<(i32, u64)>,
}
