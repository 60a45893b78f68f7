//! The JSON report as other tools read it: the agreed field names, every old field kept.

mod common;

use common::*;

#[test]
fn the_json_has_the_agreed_field_names() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1)
        .event(Api::CudaMalloc, 0, GIB, 2, 2)
        .trailer();
    let v: serde_json::Value = serde_json::from_str(&t.report().to_json()).unwrap();
    assert_eq!(v["schema"], 1);
    for k in [
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ] {
        assert!(v["totals"][k].is_u64(), "totals.{k}");
    }
    let site = &v["sites"][0];
    for k in [
        "allocations",
        "bytes_allocated",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ] {
        assert!(site[k].is_u64(), "sites[0].{k}");
    }
    assert!(site["frames"].is_array());
    // Judged over time windows, since nothing marked iterations.
    assert!(site["verdict"].is_string() && site["bytes_per_iteration"].is_i64());
    assert!(site["confidence"].is_f64() && site["full_at_iteration"].is_null());
    assert_eq!(site["memory"], "device");
    assert!(v["iterations"]["count"].as_u64().unwrap() >= 20);
    assert_eq!(v["iterations"]["source"], "time");
    assert!(v["iterations"]["window_ns"].is_u64());
    let oom = &v["ooms"][0];
    for k in [
        "requested_bytes",
        "live_bytes",
        "device_free_bytes",
        "device_total_bytes",
    ] {
        assert!(oom[k].is_u64(), "ooms[0].{k}");
    }
    assert!(oom["iteration"].is_u64() && oom["frames"].is_array());
    assert_eq!(v["process"]["pid"], 4242);
    assert_eq!(v["process"]["argv"][1], "--steps");
    for k in ["ppid", "exe", "hostname", "hook_version", "stacks"] {
        assert!(!v["process"][k].is_null(), "process.{k}");
    }
    assert_eq!(v["complete"], true);
    assert!(v["truncated_at"].is_null());
    assert_eq!(v["dropped_events"], 0);
    assert_eq!(v["unmatched_frees"], 0);
    for k in [
        "allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
    ] {
        assert!(v["pinned_host"][k].is_u64(), "pinned_host.{k}");
    }
}

#[test]
fn the_json_keeps_every_old_field_and_adds_the_memory_classes() {
    let mut t = Trace::hooked();
    t.alloc(0xa, MIB, 1)
        .event(Api::CudaMalloc, 0, GIB, 2, 2)
        .call(Api::CuMemCreate, 0x5, 2 * MIB, 0, 3)
        .trailer();
    let v: serde_json::Value = serde_json::from_str(&t.report().to_json()).unwrap();
    let keys =
        |o: &serde_json::Value| -> Vec<String> { o.as_object().unwrap().keys().cloned().collect() };
    let top = keys(&v);
    for k in [
        "schema",
        "process",
        "complete",
        "truncated_at",
        "totals",
        "pinned_host",
        "sites",
        "iterations",
        "ooms",
        "dropped_events",
        "unmatched_frees",
        "replaced_allocations",
        "notes",
        // New beside them.
        "host_registered",
        "physical",
        "mapped",
        "address_space",
        "imported",
        "pools",
        "memory",
    ] {
        assert!(top.contains(&k.to_string()), "top-level {k}");
    }
    assert_eq!(v["schema"], 1);
    let totals_fields = [
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "peak_live_bytes",
        "live_bytes_at_end",
        "live_allocations_at_end",
    ];
    for class in [
        "totals",
        "pinned_host",
        "host_registered",
        "physical",
        "mapped",
        "address_space",
        "imported",
    ] {
        let mut want: Vec<String> = totals_fields.iter().map(|s| s.to_string()).collect();
        let mut got = keys(&v[class]);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{class}");
        for k in totals_fields {
            assert!(v[class][k].is_u64(), "{class}.{k}");
        }
    }
    // `totals` is still device memory only.
    assert_eq!(v["totals"]["live_bytes_at_end"], MIB);
    assert_eq!(v["physical"]["live_bytes_at_end"], 2 * MIB);
    for k in [
        "frames",
        "memory",
        "stack_id",
        "allocations",
        "frees",
        "failed_allocations",
        "bytes_allocated",
        "live_bytes_at_end",
        "live_allocations_at_end",
        "verdict",
        "bytes_per_iteration",
    ] {
        assert!(
            keys(&v["sites"][0]).contains(&k.to_string()),
            "sites[0].{k}"
        );
    }
    let memories: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["memory"].as_str().unwrap())
        .collect();
    assert_eq!(memories, vec!["physical", "device"]);
    for k in [
        "requested_bytes",
        "live_bytes",
        "device_free_bytes",
        "device_total_bytes",
        "iteration",
        "frames",
        "api",
        "memory",
        "seq",
        "time_ns",
    ] {
        assert!(keys(&v["ooms"][0]).contains(&k.to_string()), "ooms[0].{k}");
    }
    assert_eq!(v["ooms"][0]["memory"], "device");
    for k in [
        "pid",
        "ppid",
        "exe",
        "argv",
        "hostname",
        "hook_version",
        "stacks",
    ] {
        assert!(keys(&v["process"]).contains(&k.to_string()), "process.{k}");
    }
    // Every old field is kept; new ones are only added.
    for k in [
        "count",
        "launches_per_iteration",
        "range",
        "source",
        "window_ns",
        "device_verdict",
        "device_bytes_per_iteration",
    ] {
        assert!(
            keys(&v["iterations"]).contains(&k.to_string()),
            "iterations.{k}"
        );
    }

    let pools = &v["pools"];
    assert_eq!(pools["returned_bytes"], 0);
    assert_eq!(pools["returned_frees"], 0);
    assert!(pools["last_trim_reserved_bytes"].is_null());
    assert!(pools["release_threshold_bytes"].is_null());
    assert_eq!(pools["trims"], 0);
    assert_eq!(pools["graph_trims"], 0);
    let m = &v["memory"];
    for k in [
        "device_live_bytes_at_end",
        "device_peak_live_bytes",
        "managed_live_bytes_at_end",
        "managed_peak_live_bytes",
        "physical_live_bytes_at_end",
        "physical_peak_live_bytes",
        "device_plus_physical_live_bytes_at_end",
        "device_plus_physical_peak_live_bytes",
        "mapped_bytes_at_end",
        "reserved_address_space_bytes_at_end",
        "pinned_host_live_bytes_at_end",
        "pinned_host_peak_live_bytes",
        "host_registered_bytes_at_end",
        "imported_bytes_at_end",
        "returned_to_pools_bytes",
    ] {
        assert!(m[k].is_u64(), "memory.{k}");
    }
    assert_eq!(m["device_plus_physical_live_bytes_at_end"], 3 * MIB);
    let by_kind = m["by_kind"].as_array().unwrap();
    assert_eq!(by_kind.len(), 2);
    assert_eq!(by_kind[0]["kind"], "device");
    assert_eq!(by_kind[0]["class"], "device");
    assert_eq!(by_kind[0]["failed_allocations"], 1);
    assert_eq!(by_kind[1]["kind"], "physical");
    assert_eq!(by_kind[1]["live_bytes_at_end"], 2 * MIB);
}
