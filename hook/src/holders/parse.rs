//! The walker's result, as text, read into a [`Holders`] record.
//!
//! One line per record: first `reason, end, elapsed µs, objects visited, note`, then one per
//! owner: `device, address, size, role, root, root_where, path, owner, model`. Fields are
//! separated by tabs; `\\`, tab, newline and carriage return inside a string are escaped as
//! `\\\\`, `\\t`, `\\n`, `\\r`. The enums are the trace's numbers (`walker.py` names them).

use gpuleak_trace::{Holder, Holders, HoldersReason, Role, RootKind, WalkEnd};

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn num<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<T, String> {
    let f = field.ok_or_else(|| format!("no {what}"))?;
    f.parse().map_err(|_| format!("bad {what} {f:?}"))
}

fn code<T>(field: Option<&str>, what: &str, from: impl Fn(u8) -> Option<T>) -> Result<T, String> {
    let raw: u8 = num(field, what)?;
    from(raw).ok_or_else(|| format!("unknown {what} {raw}"))
}

fn text(field: Option<&str>, what: &str) -> Result<String, String> {
    field.map(unescape).ok_or_else(|| format!("no {what}"))
}

/// Reads the walker's text; `time_ns` and `tid` are left 0 for the recorder to fill.
pub fn parse(out: &str) -> Result<Holders, String> {
    let mut lines = out.split('\n');
    let mut head = lines.next().unwrap_or("").split('\t');
    let reason = code(head.next(), "reason", HoldersReason::from_u8)?;
    let end = code(head.next(), "walk end", WalkEnd::from_u8)?;
    let elapsed_us = num(head.next(), "walk time")?;
    let visited = num(head.next(), "objects visited")?;
    let note = text(head.next(), "note")?;
    let mut holders = Vec::new();
    for (i, line) in lines.enumerate() {
        let mut f = line.split('\t');
        let h = (|| {
            Ok::<_, String>(Holder {
                device: num(f.next(), "device")?,
                address: num(f.next(), "address")?,
                size: num(f.next(), "size")?,
                role: code(f.next(), "role", Role::from_u8)?,
                root: code(f.next(), "root", RootKind::from_u8)?,
                root_where: text(f.next(), "root place")?,
                path: text(f.next(), "path")?,
                owner: text(f.next(), "owner")?,
                model: text(f.next(), "model")?,
            })
        })()
        .map_err(|e| format!("holder {}: {e}", i + 1))?;
        holders.push(h);
    }
    Ok(Holders {
        time_ns: 0,
        tid: 0,
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

    #[test]
    fn a_gallery_kept_by_a_module_global_reads_back_with_its_path_and_role() {
        let out = "1\t1\t1500\t42\t\n\
                   0\t4096\t1024\t6\t1\tapp.py\tGALLERY[3]\tTensor float16[1, 3]\t\n\
                   -1\t8192\t64\t1\t1\tapp.py\tpipe.unet.conv_in.weight\tParameter float32[64]\t\
                   pipe.unet (UNet2DConditionModel)";
        let h = parse(out).unwrap();
        assert_eq!(h.reason, HoldersReason::Exit);
        assert_eq!(h.end, WalkEnd::Complete);
        assert_eq!((h.elapsed_us, h.visited), (1500, 42));
        assert_eq!(h.holders.len(), 2);
        assert_eq!(h.holders[0].path, "GALLERY[3]");
        assert_eq!(h.holders[0].role, Role::UserHeld);
        assert_eq!(h.holders[1].device, -1);
        assert_eq!(h.holders[1].model, "pipe.unet (UNet2DConditionModel)");
    }

    #[test]
    fn a_dict_key_with_a_tab_in_it_comes_back_whole() {
        let out = "3\t5\t7\t0\tthe walk raised KeyError: 'a\\tb'\\nsecond line";
        let h = parse(out).unwrap();
        assert_eq!(h.end, WalkEnd::Failed);
        assert_eq!(h.note, "the walk raised KeyError: 'a\tb'\nsecond line");
        assert!(h.holders.is_empty());
    }

    #[test]
    fn a_role_the_trace_does_not_know_is_refused_with_its_line() {
        let out = "2\t1\t1\t1\t\n0\t1\t1\t9\t1\t\tx\tTensor\t";
        let err = parse(out).unwrap_err();
        assert_eq!(err, "holder 1: unknown role 9");
    }
}
