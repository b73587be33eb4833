//! Read-only memory maps of the level files of a writable store, so that reading a stored
//! hash (the ~2·log2(n) reads of a proof) is a memory copy instead of a `pread`.
//!
//! Each map spans a power of two at least twice the bytes needed when it was made, reaching
//! past the end of the file, so appends grow into it and a level is remapped O(log n) times
//! in its life. Which bytes may be read through a map, and why that is sound, is stated at
//! `crate::mmap::LevelMap` and on [`super::TreeStore`]'s `maps` field. A hash outside every
//! map (a level not yet mapped, a failed map, a backend without OS files) is read with
//! `pread`.

use super::append::LEVELS_MAX;
use crate::backend::StorageFile;
use crate::mmap::LevelMap;

/// Smallest map: small trees get one map per level and never remap.
const MAP_BYTES_MIN: u64 = 1 << 16;

/// One optional map per level.
#[derive(Debug)]
pub(super) struct LevelMaps {
    maps: Vec<Option<LevelMap>>,
}

impl LevelMaps {
    /// No map: every read goes to the file.
    pub fn empty() -> LevelMaps {
        LevelMaps { maps: (0..LEVELS_MAX).map(|_| None).collect() }
    }

    /// Copies `buf.len()` bytes at `offset` of the file of `level` from its map; `false` when
    /// the range is not mapped. The caller guarantees the bytes are inside the file and final.
    pub fn copy_at(&self, level: u32, offset: u64, buf: &mut [u8]) -> bool {
        match self.maps.get(level as usize) {
            Some(Some(map)) => map.copy_at(buf, offset),
            _ => false,
        }
    }

    /// Reads one byte at `offset` of the file of `level` through its map, if mapped, so that
    /// the page walk and cache miss of a later [`LevelMaps::copy_at`] start now. Same
    /// contract as `copy_at`: the byte is inside the file and final.
    pub fn touch(&self, level: u32, offset: u64) {
        if let Some(Some(map)) = self.maps.get(level as usize) {
            map.touch(offset);
        }
    }

    /// Whether the map of `level` spans its first `end_bytes` bytes.
    pub fn covers(&self, level: u32, end_bytes: u64) -> bool {
        match self.maps.get(level as usize) {
            Some(Some(map)) => map.capacity_bytes() as u64 >= end_bytes,
            _ => false,
        }
    }

    /// Replaces the map of `level` with one spanning at least twice `end_bytes`. A file with
    /// no OS handle, or a map that fails (address space, 32-bit sizes), leaves the level
    /// unmapped: reads fall back to `pread`, which is always correct.
    pub fn remap(&mut self, level: u32, file: &dyn StorageFile, end_bytes: u64) {
        let Some(slot) = self.maps.get_mut(level as usize) else { return };
        *slot = None;
        let Some(os_file) = file.as_os_file() else { return };
        let capacity = end_bytes
            .checked_mul(2)
            .map(|b| b.max(MAP_BYTES_MIN))
            .and_then(u64::checked_next_power_of_two)
            .and_then(|b| usize::try_from(b).ok());
        if let Some(capacity) = capacity {
            *slot = LevelMap::map(os_file, capacity).ok();
        }
    }
}
