//! The live-set rules of the trace format (section 5.4.2), written once for the hook that keeps
//! what is live under a size cap and for the readers that replay a trace: a free matches an
//! allocation only within its namespace; mappings and reserved ranges are kept apart from other
//! pointers (the first mapping of a reserved range starts at the reservation's address); one
//! unmap removes every mapping starting in its range.
//!
//! Generic over what is kept per allocation and over the hasher, so the hook keeps its cheap
//! hash and allocates nothing per event beyond the maps' own growth.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};

use crate::event::{Api, MemoryKind, Namespace};

/// Where an allocation is kept: by namespace and address.
pub type LiveKey = (Namespace, u64);

/// Live allocations as section 5.4.2 keeps them, each with a value `V`.
#[derive(Clone, Debug)]
pub struct LiveSet<V, S = RandomState> {
    plain: HashMap<LiveKey, V, S>,
    mappings: BTreeMap<u64, V>,
    reservations: BTreeMap<u64, V>,
}

impl<V, S: Default> Default for LiveSet<V, S> {
    fn default() -> Self {
        LiveSet {
            plain: HashMap::default(),
            mappings: BTreeMap::new(),
            reservations: BTreeMap::new(),
        }
    }
}

impl<V, S: BuildHasher> LiveSet<V, S> {
    /// Adds what a successful allocation by `api` made at `address`. Returns the allocation it
    /// replaces: one still live at that place was freed by a path the trace does not see.
    pub fn insert(&mut self, api: Api, address: u64, value: V) -> Option<V> {
        match api.memory() {
            MemoryKind::Mapping => self.mappings.insert(address, value),
            MemoryKind::AddressSpace => self.reservations.insert(address, value),
            _ => self.plain.insert((api.namespace(), address), value),
        }
    }

    /// Takes out what a successful free by `api` of `address` (and `size`, for an unmap) gives
    /// back, handing each to `freed`; returns how many. Address 0 frees nothing
    /// (`cudaFree(NULL)` creates the context).
    pub fn remove(&mut self, api: Api, address: u64, size: u64, mut freed: impl FnMut(V)) -> usize {
        if address == 0 {
            return 0;
        }
        match api {
            Api::CuMemUnmap => {
                let end = address.saturating_add(size.max(1));
                let mut n = 0;
                while let Some(start) = self.mappings.range(address..end).next().map(|(s, _)| *s) {
                    if let Some(v) = self.mappings.remove(&start) {
                        freed(v);
                        n += 1;
                    }
                }
                n
            }
            Api::CuMemAddressFree => self
                .reservations
                .remove(&address)
                .map(freed)
                .map_or(0, |()| 1),
            // Whatever kind it matched: cuMemRelease releases physical and imported handles alike.
            _ => self
                .plain
                .remove(&(api.namespace(), address))
                .map(freed)
                .map_or(0, |()| 1),
        }
    }

    /// Live allocations of every kind but mappings and reservations.
    pub fn plain(&self) -> &HashMap<LiveKey, V, S> {
        &self.plain
    }

    /// Live cuMemMap mappings by start address.
    pub fn mappings(&self) -> &BTreeMap<u64, V> {
        &self.mappings
    }

    /// Live cuMemAddressReserve reservations by start address.
    pub fn reservations(&self) -> &BTreeMap<u64, V> {
        &self.reservations
    }

    /// Every live allocation, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.plain
            .values()
            .chain(self.mappings.values())
            .chain(self.reservations.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(set: &mut LiveSet<u32>, api: Api, address: u64, size: u64) -> Vec<u32> {
        let mut v = Vec::new();
        set.remove(api, address, size, |x| v.push(x));
        v.sort();
        v
    }

    #[test]
    fn a_handle_equal_to_a_pointer_frees_only_in_its_own_namespace() {
        let mut set = LiveSet::<u32>::default();
        set.insert(Api::CuMemAlloc, 0x1000, 1);
        set.insert(Api::CuMemCreate, 0x1000, 2);
        assert_eq!(removed(&mut set, Api::CuMemRelease, 0x1000, 0), [2]);
        assert_eq!(removed(&mut set, Api::CuMemFree, 0x1000, 0), [1]);
        assert_eq!(set.values().count(), 0);
    }

    #[test]
    fn one_unmap_removes_every_mapping_starting_in_its_range_and_spares_the_reservation() {
        let mut set = LiveSet::<u32>::default();
        set.insert(Api::CuMemAddressReserve, 0x10_0000, 1);
        set.insert(Api::CuMemMap, 0x10_0000, 2);
        set.insert(Api::CuMemMap, 0x20_0000, 3);
        set.insert(Api::CuMemMap, 0x30_0000, 4);
        assert_eq!(
            removed(&mut set, Api::CuMemUnmap, 0x10_0000, 0x20_0000),
            [2, 3]
        );
        assert_eq!(set.mappings().len(), 1);
        assert_eq!(removed(&mut set, Api::CuMemAddressFree, 0x10_0000, 0), [1]);
    }

    #[test]
    fn an_address_live_again_replaces_the_old_allocation_and_null_frees_nothing() {
        let mut set = LiveSet::<u32>::default();
        assert_eq!(set.insert(Api::CudaMalloc, 0x1000, 1), None);
        assert_eq!(set.insert(Api::CudaMalloc, 0x1000, 2), Some(1));
        assert_eq!(removed(&mut set, Api::CudaFree, 0, 0), Vec::<u32>::new());
        assert_eq!(removed(&mut set, Api::CudaFree, 0x1000, 0), [2]);
    }
}
