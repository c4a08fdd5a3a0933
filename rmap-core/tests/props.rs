//! The shared property tests, run on the scan baseline.

use rmap_core::ops::{ConfigItem, MergePolicy};
use rmap_core::props::{random_ops_under_pressure, read_only_ops_under_pressure};
use rmap_core::{Config, Scan};

#[test]
fn scan_random_ops_under_pressure() {
    random_ops_under_pressure(Scan::default, 512);
}

#[test]
fn scan_read_only_ops_under_pressure() {
    read_only_ops_under_pressure(Scan::default, 256);
}

#[test]
fn config_items_apply() {
    let mut c = Config::default();
    rmap_core::replay::apply_config(
        &mut c,
        &[
            ConfigItem::Ram(1 << 20),
            ConfigItem::Merge(MergePolicy::None),
        ],
    );
    assert_eq!((c.ram, c.merge), (1 << 20, MergePolicy::None));
}
