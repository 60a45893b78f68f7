//! Byte counts for people: binary units, three significant digits.

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `1536` → `"1.50 KiB"`, `512` → `"512 B"`, `1 << 30` → `"1.00 GiB"`.
///
/// Byte counts under 1 KiB are exact. Above, the unit is chosen so the number stays under 1000;
/// values that would round to 1000 or more of a unit are shown in the next one ("0.98 MiB"), so a
/// column of figures never holds four digits before the point.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    // Decide the decimals on the rounded value: 9.996 shows as "10.0", not "10.00".
    let decimals = if round(v, 2) < 10.0 {
        2
    } else if round(v, 1) < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.decimals$} {}", UNITS[unit])
}

fn round(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

/// `1` → `"1 allocation"`, `2` → `"2 allocations"`: counts read as sentences.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// `text` in lines of at most `width` characters, broken between words but never between a
/// figure and its unit ("3.00 MiB/iteration" stays whole); a word longer than `width` gets a
/// line of its own.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(' ') {
        let unit = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
            .iter()
            .any(|u| {
                w.strip_prefix(u)
                    .is_some_and(|rest| !rest.starts_with(char::is_alphabetic))
            });
        match words.last_mut() {
            Some(last) if unit => {
                last.push(' ');
                last.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut line = String::new();
    for word in words {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_exact_bytes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1023), "1023 B");
    }

    #[test]
    fn larger_counts_keep_three_significant_digits() {
        assert_eq!(bytes(1024), "1.00 KiB");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(3 << 19), "1.50 MiB");
        assert_eq!(bytes(12_345_678), "11.8 MiB");
        assert_eq!(bytes(500 << 20), "500 MiB");
        assert_eq!(bytes(80 << 30), "80.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rounding_never_shows_four_digits_or_an_extra_decimal() {
        // 9.996 KiB rounds to 10.0, 1023.9 KiB to the next unit.
        assert_eq!(bytes(10236), "10.0 KiB");
        assert_eq!(bytes(1023 * 1024 + 900), "1.00 MiB");
        assert_eq!(bytes(1000 * 1024), "0.98 MiB");
    }

    #[test]
    fn wrapping_keeps_a_figure_with_its_unit() {
        let lines = wrap("it grows +3.00 MiB/iteration at denoise_step now", 16);
        assert_eq!(
            lines,
            ["it grows", "+3.00 MiB/iteration", "at denoise_step", "now"]
        );
        assert!(wrap("", 10).is_empty());
        // "B" alone is a unit; "Bytes" and "Buffer" are words.
        assert_eq!(wrap("512 B Buffer", 5), ["512 B", "Buffer"]);
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "frame", "frames"), "1 frame");
        assert_eq!(count(0, "frame", "frames"), "0 frames");
    }
}
