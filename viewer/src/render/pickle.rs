//! A Python pickle (protocol 4) written opcode by opcode, with the memo: an object written once
//! and marked is referred to again by its memo index in a few bytes, so a stack shared by many
//! events is in the file once, and Python's unpickler gives every event the same list, as
//! PyTorch's own snapshots share their frames.
//!
//! What a shared object holds is written out in full ([`Pickler::str_inline`],
//! [`Pickler::key_inline`]): readers that copy a shared object where it is referred to
//! (serde-pickle) count the references to each memo entry, and a reference inside a shared
//! object would be counted once but followed once per copy.
//!
//! Only what a memory snapshot holds: dicts, lists, 2-tuples, strings, integers, booleans.
//! Opcodes are those Python's own pickler writes for such objects (PROTO, EMPTY_DICT,
//! EMPTY_LIST, MARK, SETITEMS, APPENDS, TUPLE2, SHORT_BINUNICODE / BINUNICODE, BININT1 /
//! BININT2 / BININT / LONG1, NEWTRUE / NEWFALSE, MEMOIZE, BINGET / LONG_BINGET, STOP), so any
//! reader of Python's pickles reads it.

use std::collections::HashMap;

const PROTO: u8 = 0x80;
const STOP: u8 = b'.';
const EMPTY_DICT: u8 = b'}';
const EMPTY_LIST: u8 = b']';
const MARK: u8 = b'(';
const SETITEMS: u8 = b'u';
const APPENDS: u8 = b'e';
const TUPLE2: u8 = 0x86;
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const BININT: u8 = b'J';
const LONG1: u8 = 0x8a;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const MEMOIZE: u8 = 0x94;
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';

/// Items per SETITEMS or APPENDS, as Python batches them.
const BATCH: usize = 1000;

/// A memo index: an object already written, to refer to again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memo(u32);

/// The pickle being written.
pub struct Pickler {
    out: Vec<u8>,
    memo_len: u32,
    /// Strings written once and referred to after: dict keys, file and function names.
    strings: HashMap<String, Memo>,
    /// Items since the MARK of each list or dict open, innermost last.
    open: Vec<usize>,
}

impl Default for Pickler {
    fn default() -> Self {
        Pickler::new()
    }
}

impl Pickler {
    pub fn new() -> Pickler {
        Pickler {
            out: vec![PROTO, 4],
            memo_len: 0,
            strings: HashMap::new(),
            open: Vec::new(),
        }
    }

    /// Ends the pickle: what was written is its one object.
    pub fn finish(mut self) -> Vec<u8> {
        debug_assert!(self.open.is_empty(), "a list or dict left open");
        self.out.push(STOP);
        self.out
    }

    /// Marks the object just written, for [`Pickler::get`].
    pub fn memoize(&mut self) -> Memo {
        self.out.push(MEMOIZE);
        self.memo_len += 1;
        Memo(self.memo_len - 1)
    }

    /// The object marked as `memo`, again.
    pub fn get(&mut self, memo: Memo) {
        match u8::try_from(memo.0) {
            Ok(i) => self.out.extend_from_slice(&[BINGET, i]),
            Err(_) => {
                self.out.push(LONG_BINGET);
                self.out.extend_from_slice(&memo.0.to_le_bytes());
            }
        }
    }

    /// A string, written once and referred to after.
    pub fn str(&mut self, s: &str) {
        if let Some(&m) = self.strings.get(s) {
            return self.get(m);
        }
        self.str_inline(s);
        let m = self.memoize();
        self.strings.insert(s.to_string(), m);
    }

    /// A string written out, neither marked nor referred to: for what a shared object holds.
    pub fn str_inline(&mut self, s: &str) {
        match u8::try_from(s.len()) {
            Ok(n) => self.out.extend_from_slice(&[SHORT_BINUNICODE, n]),
            Err(_) => {
                self.out.push(BINUNICODE);
                // A snapshot's strings are names and paths, far below 4 GiB.
                self.out
                    .extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            }
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    pub fn int(&mut self, v: i64) {
        if let Ok(b) = u8::try_from(v) {
            self.out.extend_from_slice(&[BININT1, b]);
        } else if let Ok(w) = u16::try_from(v) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(i) = i32::try_from(v) {
            self.out.push(BININT);
            self.out.extend_from_slice(&i.to_le_bytes());
        } else {
            self.long(i128::from(v));
        }
    }

    pub fn uint(&mut self, v: u64) {
        match i64::try_from(v) {
            Ok(i) => self.int(i),
            Err(_) => self.long(i128::from(v)),
        }
    }

    /// LONG1: the shortest little-endian two's complement that keeps the sign.
    fn long(&mut self, v: i128) {
        let bytes = v.to_le_bytes();
        let mut n = bytes.len();
        while n > 1 {
            let (top, next) = (bytes[n - 1], bytes[n - 2]);
            let redundant = (top == 0 && next & 0x80 == 0) || (top == 0xff && next & 0x80 != 0);
            if !redundant {
                break;
            }
            n -= 1;
        }
        self.out.extend_from_slice(&[LONG1, n as u8]);
        self.out.extend_from_slice(&bytes[..n]);
    }

    pub fn bool(&mut self, b: bool) {
        self.out.push(if b { NEWTRUE } else { NEWFALSE });
    }

    /// `(a, b)` of two integers.
    pub fn pair(&mut self, a: u64, b: u64) {
        self.uint(a);
        self.uint(b);
        self.out.push(TUPLE2);
    }

    /// Opens a dict; each entry is a key ([`Pickler::key`]) then its value, and
    /// [`Pickler::end_dict`] closes it.
    pub fn dict(&mut self) {
        self.out.extend_from_slice(&[EMPTY_DICT, MARK]);
        self.open.push(0);
    }

    /// The key of the next dict entry.
    pub fn key(&mut self, k: &str) {
        self.item(SETITEMS);
        self.str(k);
    }

    /// The key of the next dict entry, written out: for a dict a shared object holds.
    pub fn key_inline(&mut self, k: &str) {
        self.item(SETITEMS);
        self.str_inline(k);
    }

    pub fn end_dict(&mut self) {
        self.open.pop();
        self.out.push(SETITEMS);
    }

    /// Opens a list; each value written is an item until [`Pickler::end_list`]. `memo` marks it
    /// (before its items, as Python does) to refer to it again.
    pub fn list(&mut self, memo: bool) -> Option<Memo> {
        self.out.push(EMPTY_LIST);
        let m = memo.then(|| self.memoize());
        self.out.push(MARK);
        self.open.push(0);
        m
    }

    /// Before each item of the list open: a full batch is closed and another opened.
    pub fn next(&mut self) {
        self.item(APPENDS);
    }

    pub fn end_list(&mut self) {
        self.open.pop();
        self.out.push(APPENDS);
    }

    fn item(&mut self, close: u8) {
        if let Some(n) = self.open.last_mut() {
            if *n == BATCH {
                self.out.extend_from_slice(&[close, MARK]);
                *n = 0;
            }
            *n += 1;
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_the_shortest_opcode_python_reads() {
        let mut p = Pickler::new();
        p.int(7);
        p.int(300);
        p.int(-1);
        p.uint(0x7f00_0000_1000);
        p.uint(u64::MAX);
        p.int(i64::MIN);
        let b = p.finish();
        assert_eq!(&b[..2], &[PROTO, 4]);
        assert_eq!(&b[2..4], &[BININT1, 7]);
        assert_eq!(&b[4..7], &[BININT2, 0x2c, 0x01]);
        assert_eq!(&b[7..12], &[BININT, 0xff, 0xff, 0xff, 0xff]);
        // 0x7f0000001000: six bytes, its top bit clear.
        assert_eq!(&b[12..20], &[LONG1, 6, 0x00, 0x10, 0, 0, 0x00, 0x7f]);
        // 2^64 - 1 needs a ninth byte for its sign.
        assert_eq!(&b[20..22], &[LONG1, 9]);
        assert_eq!(b[30], 0);
        assert_eq!(&b[31..33], &[LONG1, 8]);
        assert_eq!(*b.last().unwrap(), STOP);
    }

    #[test]
    fn a_string_again_is_a_memo_reference() {
        let mut p = Pickler::new();
        p.str("frames");
        let first = p.len();
        p.str("frames");
        assert_eq!(p.len() - first, 2);
    }
}
