//! Device memory per iteration as the charts draw it, in three bands: what was loaded before the
//! work began (a model's weights), what iterations kept above it from one to the next (a leak,
//! a cache filling), and the working memory that comes and goes within an iteration. Apart,
//! a leak of kilobytes per iteration shows on its own scale above gigabytes of weights.

use crate::model::Site;

/// One iteration's memory, split ([`bands`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Band {
    /// Of what was live at the iteration's end, the part loaded before the work began.
    pub loaded: u64,
    /// What was live at its end above that: kept from this iteration into the next.
    pub kept: u64,
    /// How far above its end the iteration rose (its peak less its end): memory it used and
    /// gave back; 0 when the peak is not known.
    pub working: u64,
}

impl Band {
    /// What was live at the iteration's end.
    pub fn end(&self) -> u64 {
        self.loaded + self.kept
    }

    /// The iteration's peak, as far as it is known.
    pub fn peak(&self) -> u64 {
        self.end() + self.working
    }
}

/// What the sites held when the work began ([`Site::loaded_bytes`]): the loaded band's height.
pub fn loaded_bytes<'a>(sites: impl IntoIterator<Item = &'a Site>) -> u64 {
    sites
        .into_iter()
        .filter_map(|s| s.loaded_bytes)
        .fold(0, u64::saturating_add)
}

/// Each iteration's bands from the memory live at its end (`ends`, as
/// [`crate::report::device_live_per_iteration`] gives them), its peak where known (`peaks`,
/// index for index) and what was loaded before the work began. What the program frees of what
/// it loaded lowers the loaded band, never the kept one.
pub fn bands(ends: &[u64], peaks: Option<&[u64]>, loaded: u64) -> Vec<Band> {
    ends.iter()
        .enumerate()
        .map(|(i, &end)| {
            let base = end.min(loaded);
            let peak = peaks.and_then(|p| p.get(i)).copied().unwrap_or(end);
            Band {
                loaded: base,
                kept: end - base,
                working: peak.saturating_sub(end),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const GIB: u64 = 1 << 30;

    #[test]
    fn a_small_leak_above_the_weights_is_the_kept_band() {
        let ends: Vec<u64> = (0..5).map(|i| 2 * GIB + i * 128 * KIB).collect();
        let peaks: Vec<u64> = ends.iter().map(|e| e + 64 * KIB).collect();
        let b = bands(&ends, Some(&peaks), 2 * GIB);
        assert!(
            b.iter()
                .all(|b| b.loaded == 2 * GIB && b.working == 64 * KIB)
        );
        let kept: Vec<u64> = b.iter().map(|b| b.kept).collect();
        assert_eq!(kept, [0, 128 * KIB, 256 * KIB, 384 * KIB, 512 * KIB]);
    }

    #[test]
    fn weights_freed_lower_the_loaded_band_not_the_kept_one() {
        let b = bands(&[2 * GIB, GIB], None, 2 * GIB);
        assert_eq!(b[1].loaded, GIB);
        assert_eq!(b[1].kept, 0);
        assert_eq!(b[1].working, 0);
    }
}
