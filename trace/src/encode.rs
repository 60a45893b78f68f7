//! Turning records into trace bytes. The hook calls this under its lock, on the profiled
//! program's thread, so the event path allocates nothing beyond growing the output buffer.

use crate::event::*;
use crate::wire::*;

pub const MAGIC: &[u8; 8] = b"GPULEAK\0";
/// Version 2 added the Holders record (tag 14), version 3 the Processes record (tag 15): a
/// reader of an older version stops at a tag it does not know, as at a malformed record, so
/// the version tells it up front. Version 1 and 2 traces are still read.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest version readers still accept: versions 2 and 3 only added a record each.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// Magic, version (u16 LE), reserved (u16 LE).
pub const PRELUDE_LEN: usize = 12;

pub mod tag {
    pub const HEADER: u8 = 1;
    pub const MODULE: u8 = 2;
    pub const STACK: u8 = 3;
    pub const EVENT: u8 = 4;
    pub const MARKER: u8 = 5;
    pub const DROPPED: u8 = 6;
    pub const NOTE: u8 = 7;
    pub const TRAILER: u8 = 8;
    pub const LAUNCH: u8 = 9;
    pub const RANGE: u8 = 10;
    pub const RESUME: u8 = 11;
    pub const SEGMENT: u8 = 12;
    pub const COMPACT_EVENT: u8 = 13;
    pub const HOLDERS: u8 = 14;
    pub const PROCESSES: u8 = 15;
    /// The highest tag this version knows.
    pub const LAST: u8 = PROCESSES;
}

/// A Resume record's size: tag, length, and an offset always written in 10 bytes, so that the
/// writer can update it in place.
pub const RESUME_LEN: usize = 12;
/// Where a Resume record's offset starts, from the record's first byte.
pub const RESUME_OFFSET_AT: usize = 2;

/// `v` as a varint of exactly 10 bytes (readers accept non-minimal varints).
pub fn varint10(v: u64) -> [u8; 10] {
    let mut out = [0u8; 10];
    for (i, b) in out.iter_mut().enumerate() {
        let group = ((v >> (7 * i)) & 0x7f) as u8;
        *b = if i < 9 { group | 0x80 } else { group & 1 };
    }
    out
}

/// Records larger than this are malformed; the biggest real one is a header with a long argv.
pub const MAX_RECORD_LEN: u64 = 64 << 20;

const EVENT_HAS_MEM_INFO: u8 = 1;
const EVENT_HAS_AUX: u8 = 2;
const EVENT_HAS_POOL_RESERVED: u8 = 4;
/// Compact events only: the field is written (else it is the thread's last device, 0, 0).
pub const EVENT_HAS_DEVICE: u8 = 8;
pub const EVENT_HAS_STREAM: u8 = 16;
pub const EVENT_HAS_RESULT: u8 = 32;

/// Stateful because times are delta-coded, and compact events are coded against the same
/// thread's last one: one encoder per stream, fed in stream order.
#[derive(Debug, Default)]
pub struct Encoder {
    last_time: u64,
    threads: Threads,
}

/// The threads compact events name by slot, with what the next event is coded against.
#[derive(Debug, Default)]
struct Threads {
    slots: std::collections::HashMap<u32, u32, std::hash::BuildHasherDefault<TidHasher>>,
    /// Per slot: the last event's device and address.
    last: Vec<(i32, u64)>,
}

/// Thread ids are distinct small integers: a multiply spreads them well enough, at a fraction
/// of the default hasher's cost on the event path.
#[derive(Default)]
struct TidHasher(u64);

impl std::hash::Hasher for TidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Encoder {
    /// Writes the prelude and the header; every stream starts with exactly this.
    pub fn start(header: &Header, buf: &mut Vec<u8>) -> Encoder {
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        record(buf, tag::HEADER, |b| {
            put_varint(b, header.pid.into());
            put_varint(b, header.ppid.into());
            put_str(b, &header.exe);
            put_varint(b, header.argv.len() as u64);
            for a in &header.argv {
                put_str(b, a);
            }
            put_str(b, &header.hostname);
            put_varint(b, header.start_unix_ns);
            put_varint(b, header.start_mono_ns);
            put_str(b, &header.hook_version);
            put_str(b, &header.stacks);
            // Appended (section 10): only when known, so that a header without it is the
            // version 1 header byte for byte.
            if !header.devices.is_empty() || !header.launch_env.is_empty() {
                put_varint(b, header.devices.len() as u64);
                for d in &header.devices {
                    put_str(b, d);
                }
            }
            // Field 12 (section 10): after field 11, written (with no devices) when needed.
            if !header.launch_env.is_empty() {
                put_varint(b, header.launch_env.len() as u64);
                for (k, v) in &header.launch_env {
                    put_str(b, k);
                    put_str(b, v);
                }
            }
        });
        Encoder {
            last_time: header.start_mono_ns,
            threads: Threads::default(),
        }
    }

    /// Times must not go backwards in a stream; a late clock read is clamped to the last time.
    fn delta(&mut self, t: u64) -> u64 {
        let d = t.saturating_sub(self.last_time);
        self.last_time = self.last_time.max(t);
        d
    }

    /// `event.seq` is not written: a reader numbers events by their position (dropped events
    /// included), so the writer must encode events in sequence order.
    pub fn event(&mut self, e: &Event, buf: &mut Vec<u8>) {
        let dt = self.delta(e.time_ns);
        record(buf, tag::EVENT, |b| {
            b.push(optional_flags(e));
            put_varint(b, dt);
            put_varint(b, e.tid.into());
            put_varint(b, e.api as u64);
            put_zigzag(b, e.device.into());
            put_varint(b, e.stream);
            put_varint(b, e.address);
            put_varint(b, e.size);
            put_varint(b, e.result.into());
            put_varint(b, e.stack.into());
            put_optional(b, e);
        });
    }

    /// An event as a compact Event record (section 5.13): the thread by slot, the device only
    /// when it changed, stream and result only when not 0, the address as the difference from
    /// the thread's last one. What the hook writes; [`Encoder::event`] writes the full form.
    pub fn compact_event(&mut self, e: &Event, buf: &mut Vec<u8>) {
        let dt = self.delta(e.time_ns);
        let (slot, new) = match self.threads.slots.get(&e.tid) {
            Some(&s) => (s, false),
            None => {
                let s = self.threads.last.len() as u32;
                self.threads.slots.insert(e.tid, s);
                self.threads.last.push((-1, 0));
                (s, true)
            }
        };
        let (last_device, last_address) = self.threads.last[slot as usize];
        let mut flags = optional_flags(e);
        if e.device != last_device {
            flags |= EVENT_HAS_DEVICE;
        }
        if e.stream != 0 {
            flags |= EVENT_HAS_STREAM;
        }
        if e.result != 0 {
            flags |= EVENT_HAS_RESULT;
        }
        record(buf, tag::COMPACT_EVENT, |b| {
            b.push(flags);
            put_varint(b, dt);
            put_varint(b, slot.into());
            if new {
                put_varint(b, e.tid.into());
            }
            put_varint(b, e.api as u64);
            if flags & EVENT_HAS_DEVICE != 0 {
                put_zigzag(b, e.device.into());
            }
            if e.stream != 0 {
                put_varint(b, e.stream);
            }
            put_zigzag(b, e.address.wrapping_sub(last_address) as i64);
            put_varint(b, e.size);
            if e.result != 0 {
                put_varint(b, e.result.into());
            }
            put_varint(b, e.stack.into());
            put_optional(b, e);
        });
        self.threads.last[slot as usize] = (e.device, e.address);
    }

    pub fn module(&mut self, m: &Module, buf: &mut Vec<u8>) {
        record(buf, tag::MODULE, |b| {
            put_str(b, &m.path);
            put_varint(b, m.base);
            put_varint(b, m.start);
            put_varint(b, m.end);
            put_bytes(b, &m.build_id);
        });
    }

    pub fn stack(&mut self, id: u32, frames: &[u64], buf: &mut Vec<u8>) {
        record(buf, tag::STACK, |b| {
            put_varint(b, id.into());
            put_varint(b, frames.len() as u64);
            for &f in frames {
                put_varint(b, f);
            }
        });
    }

    /// A stack with Python frames: a Stack record with the Python part appended (section 5.3 of
    /// the format). `codes` are the code objects first used by this stack.
    pub fn py_stack(
        &mut self,
        id: u32,
        frames: &[u64],
        codes: &[PyCode],
        python: &[PyFrame],
        buf: &mut Vec<u8>,
    ) {
        record(buf, tag::STACK, |b| {
            put_varint(b, id.into());
            put_varint(b, frames.len() as u64);
            for &f in frames {
                put_varint(b, f);
            }
            put_varint(b, codes.len() as u64);
            for c in codes {
                put_varint(b, c.id.into());
                put_varint(b, c.first_line.into());
                put_str(b, &c.file);
                put_str(b, &c.name);
            }
            put_varint(b, python.len() as u64);
            for f in python {
                put_varint(b, f.code.into());
                put_varint(b, f.line.into());
            }
        });
    }

    pub fn marker(&mut self, m: &Marker, buf: &mut Vec<u8>) {
        let dt = self.delta(m.time_ns);
        record(buf, tag::MARKER, |b| {
            put_varint(b, dt);
            put_varint(b, m.tid.into());
            match &m.label {
                Some(l) => {
                    b.push(1);
                    put_str(b, l);
                }
                None => b.push(0),
            }
        });
    }

    pub fn launch(&mut self, l: &Launch, buf: &mut Vec<u8>) {
        let dt = self.delta(l.time_ns);
        record(buf, tag::LAUNCH, |b| {
            put_varint(b, dt);
            put_varint(b, l.tid.into());
            b.push(l.api as u8);
            put_varint(b, l.function);
            put_varint(b, l.stream);
        });
    }

    pub fn range(&mut self, r: &Range, buf: &mut Vec<u8>) {
        let dt = self.delta(r.time_ns);
        record(buf, tag::RANGE, |b| {
            put_varint(b, dt);
            put_varint(b, r.tid.into());
            b.push(r.op as u8);
            put_varint(b, r.depth.into());
            put_varint(b, r.id);
            b.push(u8::from(r.name.is_some()) | (u8::from(r.domain.is_some()) << 1));
            if let Some(n) = &r.name {
                put_str(b, n);
            }
            if let Some(d) = &r.domain {
                put_str(b, d);
            }
        });
    }

    pub fn dropped(&mut self, time_ns: u64, count: u64, buf: &mut Vec<u8>) {
        let dt = self.delta(time_ns);
        record(buf, tag::DROPPED, |b| {
            put_varint(b, dt);
            put_varint(b, count);
        });
    }

    pub fn note(&mut self, text: &str, buf: &mut Vec<u8>) {
        record(buf, tag::NOTE, |b| put_str(b, text));
    }

    pub fn trailer(&mut self, t: &Trailer, buf: &mut Vec<u8>) {
        record(buf, tag::TRAILER, |b| {
            put_varint(b, t.events);
            put_varint(b, t.dropped);
            put_varint(b, t.stacks);
            put_varint(b, t.modules);
            put_varint(b, t.end_mono_ns);
        });
    }

    /// A Resume record (section 5.11): `offset` is the file offset of the oldest kept
    /// segment's Segment record, 0 while nothing was dropped.
    pub fn resume(&mut self, offset: u64, buf: &mut Vec<u8>) {
        buf.push(tag::RESUME);
        buf.push(10);
        buf.extend_from_slice(&varint10(offset));
    }

    /// A Segment record (section 5.12). Its time is absolute and becomes the base of the
    /// record times after it.
    pub fn segment(&mut self, s: &Segment, buf: &mut Vec<u8>) {
        self.last_time = s.time_ns;
        // A reader may start here: compact events after it name their threads afresh.
        self.threads = Threads::default();
        record(buf, tag::SEGMENT, |b| {
            put_varint(b, s.index);
            put_varint(b, s.time_ns);
            put_varint(b, s.next_seq);
            put_varint(b, s.live.len() as u64);
            for e in &s.live {
                put_varint(b, e.seq);
                put_varint(b, s.time_ns.saturating_sub(e.time_ns));
                put_varint(b, e.api as u64);
                put_zigzag(b, e.device.into());
                put_varint(b, e.stream);
                put_varint(b, e.address);
                put_varint(b, e.size);
                put_varint(b, e.aux);
                put_varint(b, e.stack.into());
            }
            if !s.totals.is_empty() {
                put_varint(b, s.totals.len() as u64);
                for &(device, total) in &s.totals {
                    put_zigzag(b, device.into());
                    put_varint(b, total);
                }
            }
        });
    }

    /// A Holders record (section 5.14): what keeps device memory alive, from the walk inside
    /// a Python program.
    pub fn holders(&mut self, h: &crate::holders::Holders, buf: &mut Vec<u8>) {
        let dt = self.delta(h.time_ns);
        record(buf, tag::HOLDERS, |b| {
            put_varint(b, dt);
            crate::holders::put_payload(b, h);
        });
    }

    /// A Processes record (section 5.15): who else uses the device of an out-of-memory failure.
    pub fn processes(&mut self, p: &crate::processes::DeviceProcesses, buf: &mut Vec<u8>) {
        let dt = self.delta(p.time_ns);
        record(buf, tag::PROCESSES, |b| {
            put_varint(b, dt);
            crate::processes::put_payload(b, p);
        });
    }

    /// Encodes any record; the hook uses the typed methods, tests and tools this.
    pub fn any(&mut self, r: &Record, buf: &mut Vec<u8>) {
        match r {
            Record::Header(_) => panic!("the header is written by Encoder::start"),
            Record::Module(m) => self.module(m, buf),
            Record::Stack(s) => self.stack(s.id, &s.frames, buf),
            Record::PyStack(s) => self.py_stack(s.id, &s.frames, &s.codes, &s.python, buf),
            Record::Event(e) => self.event(e, buf),
            Record::Marker(m) => self.marker(m, buf),
            Record::Launch(l) => self.launch(l, buf),
            Record::Range(r) => self.range(r, buf),
            Record::Dropped { time_ns, count } => self.dropped(*time_ns, *count, buf),
            Record::Note(n) => self.note(n, buf),
            Record::Trailer(t) => self.trailer(t, buf),
            Record::Resume(o) => self.resume(*o, buf),
            Record::Segment(seg) => self.segment(seg, buf),
            Record::Holders(h) => self.holders(h, buf),
            Record::Processes(p) => self.processes(p, buf),
        }
    }
}

/// The flag bits of an event's optional fields (both forms of the record).
fn optional_flags(e: &Event) -> u8 {
    let mut flags = 0;
    if e.mem_info.is_some() {
        flags |= EVENT_HAS_MEM_INFO;
    }
    if e.aux != 0 {
        flags |= EVENT_HAS_AUX;
    }
    if e.pool_reserved.is_some() {
        flags |= EVENT_HAS_POOL_RESERVED;
    }
    flags
}

/// An event's optional fields, in field order (both forms of the record).
fn put_optional(b: &mut Vec<u8>, e: &Event) {
    if let Some(m) = e.mem_info {
        put_varint(b, m.free);
        put_varint(b, m.total);
    }
    if e.aux != 0 {
        put_varint(b, e.aux);
    }
    if let Some(r) = e.pool_reserved {
        put_varint(b, r);
    }
}

/// Tag, varint payload length, payload. Most payloads are under 128 bytes, so one length byte is
/// reserved up front and only longer payloads are shifted to make room.
fn record(buf: &mut Vec<u8>, tag: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    buf.push(tag);
    let len_at = buf.len();
    buf.push(0);
    payload(buf);
    let len = buf.len() - len_at - 1;
    if len < 0x80 {
        buf[len_at] = len as u8;
    } else {
        let mut l = Vec::with_capacity(4);
        put_varint(&mut l, len as u64);
        buf.splice(len_at..len_at + 1, l);
    }
}
