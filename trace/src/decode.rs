//! Reading trace bytes back into records.
//!
//! A trace may end anywhere: the process was killed, or the file is still being written. An
//! incomplete last record is the end of the stream, reported by [`Reader::truncated`]; calling
//! [`Reader::next_record`] again later picks up bytes appended since, which is how a live file is
//! followed. Bytes that cannot be a trace are an error naming their offset. No input panics.
//!
//! A zero byte where a record's tag would be is space the writer reserved and has not written
//! yet (section 8 of docs/trace-format.md): the end of the stream too, reported by
//! [`Reader::unwritten`]. A file being written fills that space in place, so a follower calls
//! [`Reader::reread_unwritten`] before looking again.

use std::fmt;
use std::io::{self, Read};

use crate::encode::{
    EVENT_HAS_DEVICE, EVENT_HAS_RESULT, EVENT_HAS_STREAM, FORMAT_VERSION, MAGIC, MAX_RECORD_LEN,
    OLDEST_READABLE_VERSION, PRELUDE_LEN, tag,
};
use crate::event::*;
use crate::wire::{Cursor, FieldError, peek_varint};

#[derive(Debug)]
pub enum DecodeError {
    Io(io::Error),
    /// Bytes that are not a valid trace, with the absolute offset of the first bad byte.
    Malformed {
        offset: u64,
        message: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Io(e) => write!(f, "read error: {e}"),
            DecodeError::Malformed { offset, message } => {
                write!(f, "malformed trace at byte {offset}: {message}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<FieldError> for DecodeError {
    fn from(e: FieldError) -> Self {
        DecodeError::Malformed {
            offset: e.offset,
            message: e.message,
        }
    }
}

fn malformed(offset: u64, message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        offset,
        message: message.into(),
    }
}

pub struct Reader<R> {
    src: R,
    /// Read-in bytes are `buf[pos..end]`; `buf[end..]` is zeroed room for the next read, kept
    /// so that short reads do not zero it again each time.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Absolute offset of `buf[0]`.
    buf_offset: u64,
    eof: bool,
    header: Option<Header>,
    clock: Clock,
    /// The iterator has yielded a malformed-stream error.
    failed: bool,
    /// The last `next_record` stopped at a zero tag.
    unwritten: bool,
    /// The threads compact events name by slot: tid, last device, last address.
    threads: Vec<(u32, i32, u64)>,
    /// Where a Resume record said the kept records go on: the next read starts there.
    skip_to: Option<u64>,
    /// The file offset of the Resume record's offset field, which the writer rewrites.
    resume_field: Option<u64>,
    /// Moves the source to an offset, when it can (files): skipping dropped segments then
    /// costs nothing instead of reading them.
    seek: Option<fn(&mut R, u64) -> io::Result<()>>,
}

/// Decoding state carried from record to record: times are deltas, sequence numbers implicit.
#[derive(Default)]
struct Clock {
    last_time: u64,
    next_seq: u64,
}

impl Clock {
    fn advance(&mut self, dt: u64) -> u64 {
        self.last_time = self.last_time.saturating_add(dt);
        self.last_time
    }

    /// An event's time and sequence number (both forms of the record).
    fn stamp(&mut self, e: &mut Event, dt: u64) {
        e.time_ns = self.advance(dt);
        // Saturating: a corrupt Dropped count can push next_seq to u64::MAX.
        self.next_seq = self.next_seq.saturating_add(1);
    }
}

/// An API number; an undefined one is malformed, at its offset.
fn api_field(c: &mut Cursor<'_>, what: &str) -> Result<Api, DecodeError> {
    let at = c.offset();
    let raw = c.varint(what)?;
    u16::try_from(raw)
        .ok()
        .and_then(Api::from_u16)
        .ok_or_else(|| malformed(at, format!("unknown api {raw}")))
}

/// An event's optional fields (both forms), in field order, as its flags announce them.
fn optional_fields(c: &mut Cursor<'_>, flags: u8, e: &mut Event) -> Result<(), DecodeError> {
    if flags & 1 != 0 {
        e.mem_info = Some(MemInfo {
            free: c.varint("free bytes")?,
            total: c.varint("total bytes")?,
        });
    }
    if flags & 2 != 0 {
        e.aux = c.varint("aux")?;
    }
    if flags & 4 != 0 {
        e.pool_reserved = Some(c.varint("pool reserved bytes")?);
    }
    Ok(())
}

impl<R: Read + io::Seek> Reader<R> {
    /// A reader that seeks over the space a capped trace dropped instead of reading it.
    pub fn seekable(src: R) -> Result<Self, DecodeError> {
        let mut r = Reader::new(src)?;
        r.seek = Some(|src, to| src.seek(io::SeekFrom::Start(to)).map(|_| ()));
        Ok(r)
    }

    /// After the stream stopped at unwritten space, forgets the zeros read there so that the
    /// next `next_record` reads what the writer has put in since.
    pub fn reread_unwritten(&mut self) -> io::Result<()> {
        if self.unwritten {
            self.src.seek(io::SeekFrom::Start(self.offset()))?;
            self.end = self.pos;
            self.eof = false;
            self.unwritten = false;
        }
        Ok(())
    }
}

impl<R: Read> Reader<R> {
    /// Reads and checks the prelude. The header record itself is the first `next_record`.
    pub fn new(src: R) -> Result<Self, DecodeError> {
        let mut r = Reader {
            src,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            buf_offset: 0,
            eof: false,
            header: None,
            clock: Clock::default(),
            failed: false,
            unwritten: false,
            threads: Vec::new(),
            skip_to: None,
            resume_field: None,
            seek: None,
        };
        if !r.fill(PRELUDE_LEN)? {
            return Err(malformed(
                r.available() as u64,
                format!(
                    "file ends after {} bytes, before the {PRELUDE_LEN}-byte prelude",
                    r.available()
                ),
            ));
        }
        if r.buf[..PRELUDE_LEN].iter().all(|&b| b == 0) {
            return Err(malformed(
                0,
                "nothing written yet: the file starts with zeros (space reserved by a process \
                 that has not written its first record, or died before it)",
            ));
        }
        if &r.buf[..8] != MAGIC {
            return Err(malformed(0, "not a gpuleak trace (bad magic)"));
        }
        let version = u16::from_le_bytes([r.buf[8], r.buf[9]]);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(malformed(
                8,
                format!(
                    "unsupported trace format version {version} (this gpuleak reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION})"
                ),
            ));
        }
        r.pos = PRELUDE_LEN;
        Ok(r)
    }

    /// The header, once the first record has been read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// When the last `next_record` returned `None` because the stream ended inside a record:
    /// the offset where that record starts and how many of its bytes are present.
    pub fn truncated(&self) -> Option<(u64, usize)> {
        (self.eof && !self.unwritten && self.available() > 0)
            .then(|| (self.offset(), self.available()))
    }

    /// For a capped trace, the file offset of its Resume record's 10-byte offset field: a
    /// follower that stopped at zeros reads it again to learn whether the space was given back
    /// (the field then points past where it stopped).
    pub fn resume_field(&self) -> Option<u64> {
        self.resume_field
    }

    /// When the last `next_record` returned `None` at space the writer reserved and has not
    /// written: the offset where it starts.
    pub fn unwritten(&self) -> Option<u64> {
        self.unwritten.then(|| self.offset())
    }

    /// Goes on reading at `to`, beyond what was read.
    fn skip(&mut self, to: u64) -> Result<(), DecodeError> {
        if to <= self.offset() {
            return Ok(());
        }
        if let Some(seek) = self.seek {
            let buffered_end = self.buf_offset + self.end as u64;
            if to >= buffered_end {
                seek(&mut self.src, to).map_err(DecodeError::Io)?;
                self.buf_offset = to;
                self.pos = 0;
                self.end = 0;
                self.eof = false;
                return Ok(());
            }
        }
        // Read and discarded, a buffer at a time: the space between is zeros (a hole).
        while self.offset() < to {
            if self.available() == 0 && !self.fill(1)? {
                return Ok(());
            }
            let step = (to - self.offset()).min(self.available() as u64) as usize;
            self.pos += step;
        }
        Ok(())
    }

    fn available(&self) -> usize {
        self.end - self.pos
    }

    /// Makes `n` unread bytes available if the source has them. `false` at end of input.
    fn fill(&mut self, n: usize) -> Result<bool, DecodeError> {
        while self.available() < n {
            if self.pos > 0 && self.pos >= self.end / 2 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.buf_offset += self.pos as u64;
                self.end -= self.pos;
                self.pos = 0;
            }
            // Grow by at most the buffer's size per read: a record length is only a claim until
            // its bytes arrive, so a corrupt or still-being-written length must not make the
            // reader allocate (and zero) up to MAX_RECORD_LEN before the source has those bytes.
            let want = (n - self.available()).clamp(64 * 1024, self.end.max(64 * 1024));
            if self.buf.len() < self.end + want {
                self.buf.resize(self.end + want, 0);
            }
            let got = loop {
                match self.src.read(&mut self.buf[self.end..self.end + want]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DecodeError::Io(e)),
                }
            };
            self.end += got.min(want);
            if got == 0 {
                self.eof = true;
                return Ok(false);
            }
        }
        self.eof = false;
        Ok(true)
    }

    /// The next record; `Ok(None)` at the end of the stream (see [`Reader::truncated`] and
    /// [`Reader::unwritten`]).
    pub fn next_record(&mut self) -> Result<Option<Record>, DecodeError> {
        self.unwritten = false;
        if let Some(to) = self.skip_to.take() {
            self.skip(to)?;
        }
        if !self.fill(1)? {
            return Ok(None);
        }
        let start = self.offset();
        // The tag alone decides some errors: report them even when the rest of the record has
        // not arrived, rather than taking garbage for a truncated tail.
        let tag_byte = self.buf[self.pos];
        if tag_byte == 0 && self.header.is_some() {
            self.unwritten = true;
            return Ok(None);
        }
        if self.header.is_none() && tag_byte != tag::HEADER {
            return Err(malformed(
                start,
                format!("first record has tag {tag_byte}, expected the header"),
            ));
        }
        if !(tag::HEADER..=tag::LAST).contains(&tag_byte) {
            return Err(malformed(start, format!("unknown record tag {tag_byte}")));
        }
        if tag_byte == tag::HEADER && self.header.is_some() {
            return Err(malformed(start, "a second header"));
        }
        // Tag plus the longest length varint.
        let have_head = self.fill(11)?;
        let (len, len_bytes) = match peek_varint(&self.buf[self.pos + 1..self.end]) {
            Ok(Some(v)) => v,
            Ok(None) if !have_head => return Ok(None),
            Ok(None) => unreachable!("ten bytes always finish or reject a varint"),
            Err(e) => return Err(malformed(start + 1, format!("record length: {e}"))),
        };
        if len > MAX_RECORD_LEN {
            return Err(malformed(
                start + 1,
                format!("record length {len} exceeds the limit of {MAX_RECORD_LEN}"),
            ));
        }
        let total = 1 + len_bytes + len as usize;
        if !self.fill(total)? {
            return Ok(None);
        }
        let payload_at = start + 1 + len_bytes as u64;
        let payload = &self.buf[self.pos + 1 + len_bytes..self.pos + total];
        let mut c = Cursor::new(payload, payload_at);
        let rec = match tag_byte {
            tag::HEADER => {
                let h = parse_header(&mut c)?;
                self.clock.last_time = h.start_mono_ns;
                self.header = Some(h.clone());
                Record::Header(h)
            }
            tag::MODULE => Record::Module(Module {
                path: c.string("module path")?,
                base: c.varint("module base")?,
                start: c.varint("module start")?,
                end: c.varint("module end")?,
                build_id: c.bytes("build id")?.to_vec(),
            }),
            tag::STACK => {
                let id = c.u32("stack id")?;
                let n = c.count("frame count")?;
                let mut frames = Vec::with_capacity(n);
                for _ in 0..n {
                    frames.push(c.varint("frame")?);
                }
                if c.remaining() == 0 {
                    Record::Stack(Stack { id, frames })
                } else {
                    // The Python part (section 5.3): code definitions, then Python frames.
                    // Capacities bounded by the bytes left: a definition takes at least 4
                    // bytes, a frame 2, so a corrupt count cannot make a large allocation.
                    let n = c.count("python code count")?;
                    let mut codes = Vec::with_capacity(n.min(c.remaining() / 4));
                    for _ in 0..n {
                        codes.push(PyCode {
                            id: c.u32("python code id")?,
                            first_line: c.u32("python first line")?,
                            file: c.string("python file")?,
                            name: c.string("python function")?,
                        });
                    }
                    let n = c.count("python frame count")?;
                    let mut python = Vec::with_capacity(n.min(c.remaining() / 2));
                    for _ in 0..n {
                        python.push(PyFrame {
                            code: c.u32("python frame code")?,
                            line: c.u32("python frame line")?,
                        });
                    }
                    Record::PyStack(PyStack {
                        id,
                        frames,
                        codes,
                        python,
                    })
                }
            }
            tag::EVENT => {
                let flags = c.u8("event flags")?;
                let dt = c.varint("time delta")?;
                let tid = c.u32("thread id")?;
                let api = api_field(&mut c, "api")?;
                let mut e = Event {
                    seq: self.clock.next_seq,
                    time_ns: 0,
                    tid,
                    api,
                    device: c.i32("device")?,
                    stream: c.varint("stream")?,
                    address: c.varint("address")?,
                    size: c.varint("size")?,
                    result: c.u32("result")?,
                    stack: c.u32("stack id")?,
                    mem_info: None,
                    aux: 0,
                    pool_reserved: None,
                };
                optional_fields(&mut c, flags, &mut e)?;
                self.clock.stamp(&mut e, dt);
                Record::Event(e)
            }
            tag::MARKER => {
                let dt = c.varint("time delta")?;
                let tid = c.u32("thread id")?;
                let label = match c.u8("label flag")? {
                    0 => None,
                    _ => Some(c.string("label")?),
                };
                Record::Marker(Marker {
                    time_ns: self.clock.advance(dt),
                    tid,
                    label,
                })
            }
            tag::LAUNCH => {
                let dt = c.varint("time delta")?;
                let tid = c.u32("thread id")?;
                let api_at = payload_at + (payload.len() - c.remaining()) as u64;
                let raw = c.u8("launch api")?;
                let api = LaunchApi::from_u8(raw)
                    .ok_or_else(|| malformed(api_at, format!("unknown launch api {raw}")))?;
                let function = c.varint("function")?;
                let stream = c.varint("stream")?;
                Record::Launch(Launch {
                    time_ns: self.clock.advance(dt),
                    tid,
                    api,
                    function,
                    stream,
                })
            }
            tag::RANGE => {
                let dt = c.varint("time delta")?;
                let tid = c.u32("thread id")?;
                let op_at = payload_at + (payload.len() - c.remaining()) as u64;
                let raw = c.u8("range op")?;
                let op = RangeOp::from_u8(raw)
                    .ok_or_else(|| malformed(op_at, format!("unknown range op {raw}")))?;
                let depth = c.u32("range depth")?;
                let id = c.varint("range id")?;
                let flags = c.u8("range flags")?;
                let name = if flags & 1 != 0 {
                    Some(c.string("range name")?)
                } else {
                    None
                };
                let domain = if flags & 2 != 0 {
                    Some(c.string("range domain")?)
                } else {
                    None
                };
                Record::Range(Range {
                    time_ns: self.clock.advance(dt),
                    tid,
                    op,
                    depth,
                    id,
                    name,
                    domain,
                })
            }
            tag::DROPPED => {
                let dt = c.varint("time delta")?;
                let count = c.varint("dropped count")?;
                self.clock.next_seq = self.clock.next_seq.saturating_add(count);
                Record::Dropped {
                    time_ns: self.clock.advance(dt),
                    count,
                }
            }
            tag::NOTE => Record::Note(c.string("note")?),
            tag::TRAILER => Record::Trailer(Trailer {
                events: c.varint("event count")?,
                dropped: c.varint("dropped count")?,
                stacks: c.varint("stack count")?,
                modules: c.varint("module count")?,
                end_mono_ns: c.varint("end time")?,
            }),
            tag::COMPACT_EVENT => {
                let flags = c.u8("event flags")?;
                let dt = c.varint("time delta")?;
                let slot_at = payload_at + (payload.len() - c.remaining()) as u64;
                let slot = c.varint("thread slot")?;
                let slot = match usize::try_from(slot) {
                    Ok(s) if s < self.threads.len() => s,
                    Ok(s) if s == self.threads.len() => {
                        let tid = c.u32("thread id")?;
                        self.threads.push((tid, -1, 0));
                        s
                    }
                    _ => {
                        return Err(malformed(
                            slot_at,
                            format!(
                                "thread slot {slot} is neither known nor the next ({} known)",
                                self.threads.len()
                            ),
                        ));
                    }
                };
                let (tid, last_device, last_address) = self.threads[slot];
                let api = api_field(&mut c, "api")?;
                let device = if flags & EVENT_HAS_DEVICE != 0 {
                    c.i32("device")?
                } else {
                    last_device
                };
                let stream = if flags & EVENT_HAS_STREAM != 0 {
                    c.varint("stream")?
                } else {
                    0
                };
                let address = last_address.wrapping_add(c.zigzag("address delta")? as u64);
                let mut e = Event {
                    seq: self.clock.next_seq,
                    time_ns: 0,
                    tid,
                    api,
                    device,
                    stream,
                    address,
                    size: c.varint("size")?,
                    result: if flags & EVENT_HAS_RESULT != 0 {
                        c.u32("result")?
                    } else {
                        0
                    },
                    stack: c.u32("stack id")?,
                    mem_info: None,
                    aux: 0,
                    pool_reserved: None,
                };
                optional_fields(&mut c, flags, &mut e)?;
                self.threads[slot] = (tid, device, address);
                self.clock.stamp(&mut e, dt);
                Record::Event(e)
            }
            tag::RESUME => {
                self.resume_field = Some(c.offset());
                let to = c.varint("resume offset")?;
                if to > start {
                    self.skip_to = Some(to);
                }
                Record::Resume(to)
            }
            tag::SEGMENT => {
                let index = c.varint("segment index")?;
                let time_ns = c.varint("segment time")?;
                let next_seq = c.varint("segment sequence number")?;
                let n = c.count("live allocation count")?;
                // An entry takes at least 9 bytes: a corrupt count cannot make a large
                // allocation.
                let mut live = Vec::with_capacity(n.min(c.remaining() / 9));
                for _ in 0..n {
                    let seq = c.varint("live sequence number")?;
                    let age = c.varint("live age")?;
                    let api = api_field(&mut c, "live api")?;
                    live.push(LiveEntry {
                        seq,
                        time_ns: time_ns.saturating_sub(age),
                        api,
                        device: c.i32("live device")?,
                        stream: c.varint("live stream")?,
                        address: c.varint("live address")?,
                        size: c.varint("live size")?,
                        aux: c.varint("live aux")?,
                        stack: c.u32("live stack")?,
                    });
                }
                // Appended field: absent when the writer knew no device total.
                let mut totals = Vec::new();
                if c.remaining() > 0 {
                    let n = c.count("device total count")?;
                    totals.reserve(n.min(c.remaining() / 2));
                    for _ in 0..n {
                        totals.push((c.i32("device")?, c.varint("device total")?));
                    }
                }
                self.clock.last_time = time_ns;
                self.clock.next_seq = next_seq;
                self.threads.clear();
                Record::Segment(Segment {
                    index,
                    time_ns,
                    next_seq,
                    live,
                    totals,
                })
            }
            tag::HOLDERS => {
                let dt = c.varint("time delta")?;
                let time_ns = self.clock.advance(dt);
                Record::Holders(crate::holders::read_payload(&mut c, time_ns)?)
            }
            tag::PROCESSES => {
                let dt = c.varint("time delta")?;
                let time_ns = self.clock.advance(dt);
                Record::Processes(crate::processes::read_payload(&mut c, time_ns)?)
            }
            other => return Err(malformed(start, format!("unknown record tag {other}"))),
        };
        // Trailing payload bytes are allowed: later minor revisions may append fields.
        self.pos += total;
        Ok(Some(rec))
    }
}

/// Yields records until the end of the stream. A malformed stream yields its error once and then
/// ends (`next_record` would return the same error forever, and an iterator that never ends turns
/// `.flatten()` or `.filter_map(Result::ok)` into an endless loop). Like `next_record`, `next`
/// after a `None` picks up bytes appended since.
impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.next_record().transpose();
        if let Some(Err(DecodeError::Malformed { .. })) = r {
            self.failed = true;
        }
        r
    }
}

fn parse_header(c: &mut Cursor<'_>) -> Result<Header, DecodeError> {
    let pid = c.u32("pid")?;
    let ppid = c.u32("ppid")?;
    let exe = c.string("exe")?;
    let n = c.count("argc")?;
    let mut argv = Vec::with_capacity(n);
    for _ in 0..n {
        argv.push(c.string("argv")?);
    }
    let mut h = Header {
        pid,
        ppid,
        exe,
        argv,
        hostname: c.string("hostname")?,
        start_unix_ns: c.varint("start time")?,
        start_mono_ns: c.varint("start clock")?,
        hook_version: c.string("hook version")?,
        stacks: c.string("stacks mode")?,
        devices: Vec::new(),
        launch_env: Vec::new(),
    };
    // Field 11 is optional: absent in headers written before it, and when the writer knew no
    // device.
    if c.remaining() > 0 {
        let n = c.count("device count")?;
        h.devices.reserve(n);
        for _ in 0..n {
            h.devices.push(c.string("device name")?);
        }
    }
    // Field 12, optional too.
    if c.remaining() > 0 {
        let n = c.count("launch variable count")?;
        for _ in 0..n {
            let k = c.string("launch variable")?;
            let v = c.string("launch variable value")?;
            h.launch_env.push((k, v));
        }
    }
    Ok(h)
}
