//! Who keeps the memory: each holder the walk inside a Python program found is matched to the
//! block the trace holds live at that moment (a tensor, a caching allocator's segment, the
//! mappings of an expandable segment), and holders that differ only in indices group as one.

mod common;

use common::*;
use gpuleak_analysis::HeldSnapshot;

fn last(t: &Trace) -> HeldSnapshot {
    t.replay()
        .held_snapshots()
        .last()
        .cloned()
        .expect("a snapshot")
}

#[test]
fn a_20_mib_segment_is_kept_by_the_1_5_mib_tensor_a_list_holds() {
    let mut t = Trace::new();
    // Two segments of PyTorch's caching allocator; the list keeps one tensor in the second.
    t.alloc(0x1000_0000, 20 * MIB, 1);
    t.alloc(0x2000_0000, 20 * MIB, 2);
    let tensor = 0x2000_0000 + 4 * MIB;
    t.holders(
        HoldersReason::Exit,
        WalkEnd::Complete,
        "",
        vec![holder(
            "GALLERY[3]",
            tensor,
            3 * MIB / 2,
            Role::UserHeld,
            RootKind::ModuleGlobal,
            "app.py",
        )],
    );
    let s = last(&t);
    let block = s.entries[0].block.expect("matched");
    assert_eq!(
        (block.address, block.size, block.site.stack),
        (0x2000_0000, 20 * MIB, 2)
    );
    assert_eq!(s.blocks.len(), 1);
    let kept = &s.blocks[0];
    assert_eq!(kept.held_bytes, 3 * MIB / 2);
    assert_eq!(s.entries[kept.holders[0]].holder.path, "GALLERY[3]");
    // Everything else live is the cache's, which no Python object covers.
    assert_eq!(s.live_bytes, 40 * MIB);
    assert_eq!(s.unheld_bytes, 40 * MIB - 3 * MIB / 2);
}

#[test]
fn a_gallery_of_outputs_groups_as_one_holder_with_its_count() {
    let mut t = Trace::new();
    let mut held = Vec::new();
    for i in 0..4 {
        let a = t.alloc_next(3 * MIB / 2, 2);
        held.push(holder(
            &format!("GALLERY[{i}]"),
            a,
            3 * MIB / 2,
            Role::UserHeld,
            RootKind::ModuleGlobal,
            "app.py",
        ));
    }
    held.push(weight(
        "pipe.unet.conv_in.weight",
        t.alloc_next(8 * MIB, 1),
        8 * MIB,
        "pipe.unet (UNet2DConditionModel)",
    ));
    t.holders(HoldersReason::Exit, WalkEnd::Complete, "", held);
    let s = last(&t);
    let groups = s.groups();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0].path, "pipe.unet.conv_in.weight");
    let gallery = &groups[1];
    assert_eq!(
        (gallery.path.as_str(), gallery.container()),
        ("GALLERY[*]", "GALLERY")
    );
    assert_eq!((gallery.count, gallery.bytes), (4, 6 * MIB));
    // A site's holders are those of its own memory only.
    let site2 = gpuleak_analysis::SiteKey {
        stack: 2,
        kind: MemoryKind::Device,
        device: 0,
    };
    assert_eq!(s.groups_of(&site2), vec![gallery.clone()]);
    let roles: Vec<(Role, u64, u64)> = s
        .by_role()
        .iter()
        .map(|r| (r.role, r.bytes, r.count))
        .collect();
    assert_eq!(
        roles,
        [(Role::Parameter, 8 * MIB, 1), (Role::UserHeld, 6 * MIB, 4)]
    );
    assert_eq!(
        s.by_model(),
        [("pipe.unet (UNet2DConditionModel)".to_string(), 8 * MIB)]
    );
    assert_eq!(s.unheld_bytes, 0);
}

#[test]
fn holders_are_matched_to_what_is_live_when_the_walk_ran() {
    let mut t = Trace::new();
    let gone = t.alloc_next(MIB, 1);
    t.free(gone);
    let h = vec![holder(
        "old",
        gone,
        MIB,
        Role::UserHeld,
        RootKind::Frame,
        "thread MainThread in main (app.py:3)",
    )];
    t.holders(HoldersReason::OnDemand, WalkEnd::Complete, "", h);
    // The same address handed out again after the walk does not claim the earlier holder.
    t.alloc(gone, MIB, 2);
    let s = t.replay().held_snapshots()[0].clone();
    assert_eq!(s.entries[0].block, None);
    assert_eq!(s.live_bytes, 0);
}

#[test]
fn a_tensor_in_an_expandable_segment_is_the_physical_memorys_and_spans_its_mappings() {
    let mut t = Trace::new();
    let base = 0x7000_0000_0000u64;
    t.call(Api::CuMemAddressReserve, base, 64 * MIB, 0, 4);
    for (i, handle) in [0xa1u64, 0xa2].into_iter().enumerate() {
        t.call(Api::CuMemCreate, handle, 2 * MIB, 0, 3);
        t.call(Api::CuMemMap, base + i as u64 * 2 * MIB, 2 * MIB, handle, 4);
    }
    // 3 MiB from 0.5 MiB in: across both 2 MiB mappings.
    let h = vec![holder(
        "cache['x']",
        base + MIB / 2,
        3 * MIB,
        Role::UserHeld,
        RootKind::ModuleGlobal,
        "app.py",
    )];
    t.holders(HoldersReason::Exit, WalkEnd::Complete, "", h);
    let s = last(&t);
    let block = s.entries[0].block.expect("matched to the mappings");
    assert_eq!((block.address, block.size), (base, 4 * MIB));
    assert_eq!(
        (block.site.stack, block.site.kind),
        (3, MemoryKind::Physical)
    );
    assert_eq!(s.live_bytes, 4 * MIB);
    assert_eq!(s.unheld_bytes, MIB);
}

#[test]
fn views_of_one_storage_cover_its_bytes_once() {
    let mut t = Trace::new();
    let a = t.alloc_next(4 * MIB, 1);
    let h = vec![
        holder(
            "x",
            a,
            2 * MIB,
            Role::UserHeld,
            RootKind::ModuleGlobal,
            "app.py",
        ),
        holder(
            "y",
            a,
            2 * MIB,
            Role::UserHeld,
            RootKind::ModuleGlobal,
            "app.py",
        ),
    ];
    t.holders(HoldersReason::Exit, WalkEnd::Complete, "", h);
    let s = last(&t);
    assert_eq!(s.blocks[0].held_bytes, 2 * MIB);
    assert_eq!(s.unheld_bytes, 2 * MIB);
}

#[test]
fn a_holder_alone_keeps_its_own_path() {
    let mut t = Trace::new();
    let a = t.alloc_next(MIB, 2);
    let h = vec![holder(
        "GALLERY[3]",
        a,
        MIB,
        Role::UserHeld,
        RootKind::ModuleGlobal,
        "app.py",
    )];
    t.holders(HoldersReason::Exit, WalkEnd::Complete, "", h);
    assert_eq!(last(&t).groups()[0].path, "GALLERY[3]");
}

#[test]
fn holders_of_absurd_sizes_are_reported_without_overflow() {
    // A crafted walk: every figure at the end of the address space. Debug builds panic on any
    // overflow, so this report must add saturating.
    let mut t = Trace::new();
    let a = t.alloc_next(MIB, 2);
    t.alloc(u64::MAX - 10, u64::MAX, 3);
    let huge = |path: &str, address| {
        holder(
            path,
            address,
            u64::MAX,
            Role::UserHeld,
            RootKind::ModuleGlobal,
            "app.py",
        )
    };
    let h = vec![
        huge("a[0]", a),
        huge("a[1]", u64::MAX - 5),
        huge("b", 1),
        huge("c", a),
    ];
    t.holders(HoldersReason::OutOfMemory, WalkEnd::Complete, "", h.clone());
    t.out_of_memory(GIB, MIB, 4 * GIB, 2);
    t.holders(HoldersReason::OutOfMemory, WalkEnd::Complete, "", h);
    let r = t.report();
    assert_eq!(r.holders.len(), 2);
    assert!(r.to_json().starts_with('{'));
}
