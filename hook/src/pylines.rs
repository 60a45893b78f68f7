//! The line of an instruction in a CPython code object's line table, in each of its formats
//! (`co_lnotab` 3.9, `co_linetable` pairs 3.10, location entries 3.11+).

/// The line of byte `addr` in a CPython 3.10 `co_linetable`: (start delta, line delta) byte
/// pairs, a line delta of −128 meaning no line (`Objects/lnotab_notes.txt`).
pub fn pairs_line(table: &[u8], first_line: i32, addr: usize) -> Option<i32> {
    let mut line = first_line;
    let mut start = 0usize;
    for pair in table.chunks_exact(2) {
        let end = start + usize::from(pair[0]);
        let delta = pair[1] as i8;
        let this = (delta != -128).then(|| {
            line += i32::from(delta);
            line
        });
        if start <= addr && addr < end {
            return this;
        }
        start = end;
    }
    None
}

/// The line of byte `addr` in a CPython 3.9 `co_lnotab`: (address increment, signed line
/// increment) byte pairs, as `PyCode_Addr2Line` reads them.
pub fn lnotab_line(table: &[u8], first_line: i32, addr: usize) -> i32 {
    let mut line = first_line;
    let mut at = 0usize;
    for pair in table.chunks_exact(2) {
        at += usize::from(pair[0]);
        if at > addr {
            break;
        }
        line += i32::from(pair[1] as i8);
    }
    line
}

/// The line of code unit `unit` in a CPython 3.11+ location table (`Objects/locations.md`),
/// `None` where the table says the instruction has no line or ends before it.
pub fn location_line(table: &[u8], first_line: i32, unit: usize) -> Option<i32> {
    let mut i = 0;
    let mut line = first_line;
    let mut addr = 0usize;
    let next = |i: &mut usize| -> Option<u8> {
        let b = *table.get(*i)?;
        *i += 1;
        Some(b)
    };
    let varint = |i: &mut usize| -> Option<u32> {
        let mut b = next(i)?;
        let mut v = u32::from(b & 63);
        let mut shift = 6;
        while b & 64 != 0 && shift < 32 {
            b = next(i)?;
            v |= u32::from(b & 63) << shift;
            shift += 6;
        }
        Some(v)
    };
    let svarint = |i: &mut usize| -> Option<i32> {
        let v = varint(i)?;
        Some(if v & 1 != 0 {
            -((v >> 1) as i32)
        } else {
            (v >> 1) as i32
        })
    };
    while i < table.len() {
        let head = next(&mut i)?;
        if head & 0x80 == 0 {
            return None; // not at an entry's start: a table we do not understand
        }
        let code = (head >> 3) & 15;
        let len = usize::from(head & 7) + 1;
        let delta = match code {
            15 => None,
            14 => {
                let d = svarint(&mut i)?;
                varint(&mut i)?;
                varint(&mut i)?;
                varint(&mut i)?;
                Some(d)
            }
            13 => Some(svarint(&mut i)?),
            10..=12 => {
                i += 2;
                Some(i32::from(code) - 10)
            }
            _ => {
                i += 1;
                Some(0)
            }
        };
        if let Some(d) = delta {
            line += d;
        }
        if unit < addr + len {
            return delta.map(|_| line);
        }
        addr += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{lnotab_line, location_line, pairs_line};

    /// 3.10: bytes 0-5 at +0, 6-9 at +2, 10-13 without a line, 14-15 at -1 from the last line,
    /// a pair of start delta 0 only moving the line.
    #[test]
    fn the_310_line_table_gives_each_byte_its_line() {
        let table = [6, 0, 4, 2, 4, 0x80, 0, 5, 2, 0xfa];
        let lines: Vec<_> = (0..17).map(|a| pairs_line(&table, 10, a)).collect();
        let mut want = vec![Some(10); 6];
        want.extend([Some(12); 4]);
        want.extend([None; 4]);
        want.extend([Some(11); 2]);
        want.push(None);
        assert_eq!(lines, want);
    }

    /// 3.9: a line increment applies from its address on.
    #[test]
    fn the_39_lnotab_gives_each_byte_its_line() {
        let table = [0, 1, 6, 2, 8, 0xff];
        let lines: Vec<_> = (0..18).map(|a| lnotab_line(&table, 20, a)).collect();
        let mut want = vec![21; 6];
        want.extend([23; 8]);
        want.extend([22; 4]);
        assert_eq!(lines, want);
    }

    /// Entries as CPython 3.11 writes them: (code, length) heads, then the code's payload.
    #[test]
    fn the_location_table_gives_each_instruction_its_line() {
        let table = [
            0x80 | (13 << 3), // no column, 1 unit, line +0
            0,
            0x80 | (11 << 3) | 1, // one-line form, 2 units, line +1
            4,
            8,
            0x80 | (15 << 3),     // no location, 1 unit
            0x80 | (14 << 3) | 2, // long form, 3 units, line -1 (svarint 3), end/col/endcol
            3,
            0,
            1,
            1,
            0x80 | (13 << 3) | 1, // no column, 2 units, line +5 (svarint 10)
            10,
        ];
        let lines: Vec<_> = (0..10).map(|u| location_line(&table, 100, u)).collect();
        assert_eq!(
            lines,
            [
                Some(100),
                Some(101),
                Some(101),
                None,
                Some(100),
                Some(100),
                Some(100),
                Some(105),
                Some(105),
                None
            ]
        );
    }

    #[test]
    fn a_table_it_does_not_understand_gives_no_line() {
        assert_eq!(location_line(&[0x12, 0x34], 7, 0), None);
        assert_eq!(location_line(&[0x80 | (14 << 3)], 7, 0), None);
    }
}
