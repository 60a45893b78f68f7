//! Primitive encodings of the trace format: LEB128 varints, zigzag, length-prefixed bytes.

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn put_zigzag(buf: &mut Vec<u8>, v: i64) {
    put_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, s.as_bytes());
}

/// Reads one varint from the start of `b`: `Ok(Some((value, len)))`, `Ok(None)` when `b` ends
/// inside it, `Err` when it is longer than ten bytes or overflows 64 bits.
pub fn peek_varint(b: &[u8]) -> Result<Option<(u64, usize)>, &'static str> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate() {
        if i == 9 && byte > 1 {
            return Err("varint overflows 64 bits");
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
        if i == 9 {
            return Err("varint longer than 10 bytes");
        }
    }
    Ok(None)
}

/// A payload being decoded. Errors carry the absolute byte offset of the field that was bad.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: u64,
}

#[derive(Debug)]
pub struct FieldError {
    pub offset: u64,
    pub message: String,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], base: u64) -> Self {
        Cursor {
            bytes,
            pos: 0,
            base,
        }
    }

    fn err(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            offset: self.base + self.pos as u64,
            message: message.into(),
        }
    }

    /// The absolute offset of the next field.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, FieldError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(format!("record ends before {what}"))),
        }
    }

    pub fn varint(&mut self, what: &str) -> Result<u64, FieldError> {
        match peek_varint(&self.bytes[self.pos..]) {
            Ok(Some((v, n))) => {
                self.pos += n;
                Ok(v)
            }
            Ok(None) => Err(self.err(format!("record ends inside {what}"))),
            Err(e) => Err(self.err(format!("{what}: {e}"))),
        }
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, FieldError> {
        let at = self.pos;
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| {
            self.pos = at;
            self.err(format!("{what} {v} does not fit 32 bits"))
        })
    }

    pub fn zigzag(&mut self, what: &str) -> Result<i64, FieldError> {
        let v = self.varint(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn i32(&mut self, what: &str) -> Result<i32, FieldError> {
        let at = self.pos;
        let v = self.zigzag(what)?;
        i32::try_from(v).map_err(|_| {
            self.pos = at;
            self.err(format!("{what} {v} does not fit 32 bits"))
        })
    }

    /// A count of items that each take at least one byte: larger than what is left is malformed,
    /// which keeps a corrupt count from asking for a huge allocation.
    pub fn count(&mut self, what: &str) -> Result<usize, FieldError> {
        let at = self.pos;
        let v = self.varint(what)?;
        if v > self.remaining() as u64 {
            self.pos = at;
            return Err(self.err(format!(
                "{what} {v} exceeds the {} bytes left in the record",
                self.remaining()
            )));
        }
        Ok(v as usize)
    }

    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], FieldError> {
        let n = self.count(what)?;
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Strings are UTF-8 when the hook could make them so; paths that are not come back lossy.
    pub fn string(&mut self, what: &str) -> Result<String, FieldError> {
        Ok(String::from_utf8_lossy(self.bytes(what)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(peek_varint(&b).unwrap(), Some((v, b.len())));
            assert_eq!(peek_varint(&b[..b.len() - 1]).unwrap(), None);
        }
    }

    #[test]
    fn zigzag_round_trips_negative_numbers() {
        for v in [0i64, -1, 1, i32::MIN as i64, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_zigzag(&mut b, v);
            assert_eq!(Cursor::new(&b, 0).zigzag("v").unwrap(), v);
        }
    }

    #[test]
    fn an_eleven_byte_varint_is_rejected() {
        let b = [0xffu8; 11];
        assert!(peek_varint(&b).is_err());
    }

    #[test]
    fn a_count_larger_than_the_record_is_an_error_with_its_offset() {
        let mut b = Vec::new();
        put_varint(&mut b, 1000);
        let e = Cursor::new(&b, 40).bytes("argv").unwrap_err();
        assert_eq!(e.offset, 40);
        assert!(e.message.contains("argv"));
    }
}
