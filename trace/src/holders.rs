//! What keeps device memory alive in a Python program: a snapshot of the owners of device memory
//! (tensors, `__cuda_array_interface__` objects) that the hook's walker found inside the process,
//! each with the shortest reference path from a root and its role (section 5.14 of the format).
//! The payload's encoding lives here with the types, so writer and readers share one definition.

use crate::wire::{Cursor, FieldError, put_str, put_varint, put_zigzag};

/// When the walk ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HoldersReason {
    /// At the program's end, before the interpreter tears its modules down.
    Exit = 1,
    /// After an allocation failed with out-of-memory, while the failing frames still hold their
    /// tensors.
    OutOfMemory = 2,
    /// Asked for while the program ran (the live view, `gpuleak holders`).
    OnDemand = 3,
}

impl HoldersReason {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Exit),
            2 => Some(Self::OutOfMemory),
            3 => Some(Self::OnDemand),
            _ => None,
        }
    }
}

/// How the walk ended. Anything but `Complete` leaves the snapshot partial or empty, and its
/// `note` says why in the user's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum WalkEnd {
    Complete = 1,
    /// The time cap was reached: owners not reached yet have no path.
    TimeCap = 2,
    /// The cap on objects visited was reached.
    ObjectCap = 3,
    /// Holders cannot be found in this process (a native program, a Python gpuleak cannot run
    /// code in, the interpreter already finalizing).
    Unavailable = 4,
    /// The walker raised; the exception is in the note, the program's state untouched.
    Failed = 5,
}

impl WalkEnd {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Complete),
            2 => Some(Self::TimeCap),
            3 => Some(Self::ObjectCap),
            4 => Some(Self::Unavailable),
            5 => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What a piece of device memory is to the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Role {
    /// A parameter of an `nn.Module` (`model` names the top-level model).
    Parameter = 1,
    /// A registered buffer of an `nn.Module`.
    Buffer = 2,
    /// The `.grad` of a parameter or leaf tensor.
    Gradient = 3,
    /// Kept by an optimizer's `state`.
    OptimizerState = 4,
    /// Saved by an autograd graph that something keeps alive (`loss.grad_fn -> ...`).
    Autograd = 5,
    /// Kept by the program's own objects: a list, a dict, an attribute, a closure, a local.
    UserHeld = 6,
    /// Found among live objects, but reachable from no Python root: kept from C.
    FromC = 7,
}

impl Role {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Parameter),
            2 => Some(Self::Buffer),
            3 => Some(Self::Gradient),
            4 => Some(Self::OptimizerState),
            5 => Some(Self::Autograd),
            6 => Some(Self::UserHeld),
            7 => Some(Self::FromC),
            _ => None,
        }
    }
}

/// Where a holder's reference path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RootKind {
    /// A module's global (`root_where` = the module's file, `site-packages/<pkg>/...` kept so
    /// that it says whose code it is).
    ModuleGlobal = 1,
    /// A local of a running frame of some thread (`root_where` = thread, function, file:line).
    Frame = 2,
    /// A local of a suspended generator or coroutine (`root_where` = its function, file:line).
    Generator = 3,
    /// No path from Python: see [`Role::FromC`].
    None = 4,
}

impl RootKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::ModuleGlobal),
            2 => Some(Self::Frame),
            3 => Some(Self::Generator),
            4 => Some(Self::None),
            _ => None,
        }
    }
}

/// One owner of device memory and what keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The CUDA device, -1 when the owner does not say.
    pub device: i32,
    /// The owned memory: a tensor's storage (views share one), an array's data pointer.
    pub address: u64,
    pub size: u64,
    pub role: Role,
    pub root: RootKind,
    /// The module's file, or "thread NAME in FUNC (FILE:LINE)", or "" for no root.
    pub root_where: String,
    /// The reference path in the program's words: `GALLERY[3]`, `Cache.entries['k']`,
    /// `pipe.unet.down_blocks[0].attentions[0].proj_in.weight`, `losses[5].grad_fn -> ...`.
    pub path: String,
    /// What the owner is: `Tensor float16[1, 3, 512, 512]`, `DeviceArray (__cuda_array_interface__)`.
    pub owner: String,
    /// For parameters, buffers, gradients and optimizer state: the top-level model
    /// (`pipe.unet (UNet2DConditionModel)`); "" otherwise.
    pub model: String,
}

/// One walk's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holders {
    pub time_ns: u64,
    pub tid: u32,
    pub reason: HoldersReason,
    pub end: WalkEnd,
    /// Why the walk was unavailable, failed or capped; "" when complete.
    pub note: String,
    pub elapsed_us: u64,
    /// Python objects the walk visited.
    pub visited: u64,
    pub holders: Vec<Holder>,
}

/// The payload after the record's time delta.
pub fn put_payload(b: &mut Vec<u8>, h: &Holders) {
    put_varint(b, h.tid.into());
    b.push(h.reason as u8);
    b.push(h.end as u8);
    put_str(b, &h.note);
    put_varint(b, h.elapsed_us);
    put_varint(b, h.visited);
    put_varint(b, h.holders.len() as u64);
    for x in &h.holders {
        put_zigzag(b, x.device.into());
        put_varint(b, x.address);
        put_varint(b, x.size);
        b.push(x.role as u8);
        b.push(x.root as u8);
        put_str(b, &x.root_where);
        put_str(b, &x.path);
        put_str(b, &x.owner);
        put_str(b, &x.model);
    }
}

fn enum_field<T>(
    c: &mut Cursor<'_>,
    what: &str,
    from: impl Fn(u8) -> Option<T>,
) -> Result<T, FieldError> {
    let at = c.offset();
    let raw = c.u8(what)?;
    from(raw).ok_or_else(|| FieldError {
        offset: at,
        message: format!("unknown {what} {raw}"),
    })
}

/// Reads what [`put_payload`] wrote; `time_ns` is the record's, already decoded.
pub fn read_payload(c: &mut Cursor<'_>, time_ns: u64) -> Result<Holders, FieldError> {
    let tid = c.u32("thread id")?;
    let reason = enum_field(c, "holders reason", HoldersReason::from_u8)?;
    let end = enum_field(c, "walk end", WalkEnd::from_u8)?;
    let note = c.string("walk note")?;
    let elapsed_us = c.varint("walk time")?;
    let visited = c.varint("objects visited")?;
    let n = c.count("holder count")?;
    // A holder takes at least 9 bytes: a corrupt count cannot make a large allocation.
    let mut holders = Vec::with_capacity(n.min(c.remaining() / 9));
    for _ in 0..n {
        holders.push(Holder {
            device: c.i32("holder device")?,
            address: c.varint("holder address")?,
            size: c.varint("holder size")?,
            role: enum_field(c, "holder role", Role::from_u8)?,
            root: enum_field(c, "holder root", RootKind::from_u8)?,
            root_where: c.string("holder root place")?,
            path: c.string("holder path")?,
            owner: c.string("holder owner")?,
            model: c.string("holder model")?,
        });
    }
    Ok(Holders {
        time_ns,
        tid,
        reason,
        end,
        note,
        elapsed_us,
        visited,
        holders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, Header, Reader, Record};

    #[test]
    fn a_gallery_holder_survives_the_trip_through_a_trace() {
        let snapshot = Holders {
            time_ns: 5_000,
            tid: 7,
            reason: HoldersReason::Exit,
            end: WalkEnd::TimeCap,
            note: "stopped after 2.0 s".into(),
            elapsed_us: 2_000_000,
            visited: 1_234_567,
            holders: vec![Holder {
                device: 0,
                address: 0x7f00_0000_0000,
                size: 1 << 20,
                role: Role::UserHeld,
                root: RootKind::ModuleGlobal,
                root_where: "app.py".into(),
                path: "GALLERY[3]".into(),
                owner: "Tensor float16[1, 3, 512, 512]".into(),
                model: String::new(),
            }],
        };
        let header = Header {
            start_mono_ns: 1_000,
            ..Header::default()
        };
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&header, &mut buf);
        enc.holders(&snapshot, &mut buf);
        let records: Vec<Record> = Reader::new(&buf[..]).unwrap().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[1], Record::Holders(snapshot));
    }

    #[test]
    fn an_unknown_role_is_an_error_at_its_byte() {
        let mut b = Vec::new();
        put_payload(
            &mut b,
            &Holders {
                time_ns: 0,
                tid: 1,
                reason: HoldersReason::OnDemand,
                end: WalkEnd::Complete,
                note: String::new(),
                elapsed_us: 1,
                visited: 1,
                holders: vec![Holder {
                    device: -1,
                    address: 1,
                    size: 1,
                    role: Role::FromC,
                    root: RootKind::None,
                    root_where: String::new(),
                    path: String::new(),
                    owner: "x".into(),
                    model: String::new(),
                }],
            },
        );
        // tid, reason, end, note, time, visited, count, device, address, size: role is byte 10.
        b[10] = 99;
        let err = read_payload(&mut Cursor::new(&b, 100), 0).unwrap_err();
        assert_eq!(err.offset, 110);
        assert!(
            err.message.contains("unknown holder role 99"),
            "{}",
            err.message
        );
    }
}
