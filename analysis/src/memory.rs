//! What memory is: the classes a report keeps apart, the kinds' names, and the keys the live set
//! and the sites are held by.

use gpuleak_trace::{Api, MemoryKind};
use serde::Serialize;

/// The classes of memory a report keeps apart, each with its own totals. Users compare the device
/// figure with `nvidia-smi`, so only memory this process allocated on the device through allocation
/// calls is `Device`; everything else is counted as what it is, beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryClass {
    /// Device memory handed to the program: plain, pitched, stream-ordered and pool allocations,
    /// managed memory (backed by the GPU and shown there by `nvidia-smi`), CUDA arrays and graph
    /// memory nodes.
    Device,
    PinnedHost,
    /// Existing host memory page-locked with cuMemHostRegister: no new memory.
    HostRegistered,
    /// Physical device memory made with cuMemCreate (the VMM API).
    Physical,
    /// Virtual ranges mapped onto physical memory with cuMemMap: views of `Physical`, not more
    /// memory.
    Mapped,
    /// Virtual address space reserved with cuMemAddressReserve: no memory at all.
    AddressSpace,
    /// Another process's memory opened or imported here (IPC, shareable handles).
    Imported,
}

impl MemoryClass {
    pub const ALL: [MemoryClass; 7] = [
        MemoryClass::Device,
        MemoryClass::PinnedHost,
        MemoryClass::HostRegistered,
        MemoryClass::Physical,
        MemoryClass::Mapped,
        MemoryClass::AddressSpace,
        MemoryClass::Imported,
    ];

    /// The class of what `api` allocates or frees (a free's memory is really that of the
    /// allocation it matches; the replay takes it from there).
    pub fn of(api: Api) -> MemoryClass {
        MemoryClass::of_kind(api.memory())
    }

    pub fn of_kind(kind: MemoryKind) -> MemoryClass {
        match kind {
            MemoryKind::Device | MemoryKind::Managed | MemoryKind::Array | MemoryKind::Graph => {
                MemoryClass::Device
            }
            MemoryKind::PinnedHost => MemoryClass::PinnedHost,
            MemoryKind::HostRegistered => MemoryClass::HostRegistered,
            MemoryKind::Physical => MemoryClass::Physical,
            MemoryKind::Mapping => MemoryClass::Mapped,
            MemoryKind::AddressSpace => MemoryClass::AddressSpace,
            MemoryKind::Imported => MemoryClass::Imported,
        }
    }

    /// The name the JSON report uses for this class.
    pub fn name(self) -> &'static str {
        match self {
            MemoryClass::Device => "device",
            MemoryClass::PinnedHost => "pinned_host",
            MemoryClass::HostRegistered => "host_registered",
            MemoryClass::Physical => "physical",
            MemoryClass::Mapped => "mapped",
            MemoryClass::AddressSpace => "address_space",
            MemoryClass::Imported => "imported",
        }
    }
}

/// Every memory kind, in the order reports list them.
pub const MEMORY_KINDS: [MemoryKind; 10] = [
    MemoryKind::Device,
    MemoryKind::Managed,
    MemoryKind::Array,
    MemoryKind::Graph,
    MemoryKind::Physical,
    MemoryKind::Mapping,
    MemoryKind::AddressSpace,
    MemoryKind::PinnedHost,
    MemoryKind::HostRegistered,
    MemoryKind::Imported,
];

/// The name reports use for a memory kind: its variant name in snake_case.
pub fn kind_name(kind: MemoryKind) -> &'static str {
    match kind {
        MemoryKind::Device => "device",
        MemoryKind::Managed => "managed",
        MemoryKind::PinnedHost => "pinned_host",
        MemoryKind::HostRegistered => "host_registered",
        MemoryKind::Physical => "physical",
        MemoryKind::Mapping => "mapping",
        MemoryKind::AddressSpace => "address_space",
        MemoryKind::Array => "array",
        MemoryKind::Graph => "graph",
        MemoryKind::Imported => "imported",
    }
}

/// Whether a kind's bytes are memory this process allocated (device or host). Mappings are views
/// of physical memory, reserved address space holds none, registered host memory existed before,
/// and imported memory belongs to another process.
pub fn holds_own_memory(kind: MemoryKind) -> bool {
    match kind {
        MemoryKind::Device
        | MemoryKind::Managed
        | MemoryKind::PinnedHost
        | MemoryKind::Physical
        | MemoryKind::Array
        | MemoryKind::Graph => true,
        MemoryKind::HostRegistered
        | MemoryKind::Mapping
        | MemoryKind::AddressSpace
        | MemoryKind::Imported => false,
    }
}

/// Whether a class fills the GPU with memory of this process: device allocations and physical
/// (VMM) memory. Their sum is what the hooks can see of this process in `nvidia-smi` (context
/// memory and what pools keep cached come on top).
pub(crate) fn on_gpu(class: MemoryClass) -> bool {
    matches!(class, MemoryClass::Device | MemoryClass::Physical)
}

/// Where an allocation lives in the live set: a free matches an allocation only within its
/// namespace, since a handle can equal a device pointer numerically.
pub use gpuleak_trace::LiveKey;

/// The hasher of the replay's per-event maps (the live set, sites, their series, stacks):
/// hashbrown's default (foldhash), randomly seeded like std's but several times cheaper than
/// SipHash, which took a sixth of `gpuleak report`'s time on a 10 M-event trace
/// (`scripts/bench-report.sh`). Keys are the trace's own addresses and ids: no untrusted input
/// chooses them to collide.
pub type FastHasher = hashbrown::DefaultHashBuilder;

/// A std `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHasher>;

/// Where allocations come from: a call stack, the kind of memory it asked for, and the device it
/// asked on (one line allocating on two GPUs is two sites: each fills its own device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteKey {
    pub stack: u32,
    pub kind: MemoryKind,
    /// The device ordinal; `NO_DEVICE` (-1) for host memory or when the trace does not say.
    pub device: i32,
}
