//! Loading the policy at open: state file, cross-check against the tree, the system record in
//! flight at a crash, and the leftovers of an interrupted purge.

use super::state::{read_state, state_path, write_state, SystemEntry};
use super::{worm, PolicyState};
use crate::backend::StorageBackend;
use crate::error::LogError;
use crate::log::Shared;
use crate::manifest::Manifest;
use crate::recovery::RecoveryReport;
use crate::segment::{list_segments, segment_file_name, sync_dir};
use crate::system::is_system_payload;
use std::path::Path;
use std::sync::atomic::Ordering;

/// Reads `retention.state` before the segments are checked (they need the purge bound).
/// A missing or damaged state file is rebuilt later by a scan, but only while no segment was
/// purged: after a purge it holds history the remaining records no longer do.
pub(crate) fn load_state(
    be: &dyn StorageBackend,
    dir: &Path,
    manifest: &Manifest,
    firsts: &[u64],
) -> Result<PolicyState, LogError> {
    let initial = manifest.retention_seconds;
    let path = state_path(dir);
    let loaded = match read_state(be, dir) {
        Ok(Some(file)) => {
            return PolicyState::replay(initial, file.known_len, file.pending, file.entries)
                .map_err(|detail| LogError::tamper(&path, detail));
        }
        Ok(None) => None,
        Err(e) => Some(e),
    };
    if let Some(&first) = firsts.first().filter(|&&f| f > 0) {
        return Err(loaded.unwrap_or_else(|| {
            LogError::corruption(
                &path,
                0,
                format!(
                    "retention state missing while the segments before index {first} are gone: \
                     restore it from a backup"
                ),
            )
        }));
    }
    let mut st = PolicyState::replay(initial, 0, None, Vec::new())
        .map_err(|detail| LogError::corruption(&path, 0, detail))?;
    st.needs_rebuild = true;
    Ok(st)
}

/// Completes the policy once the records are readable: rebuilds a missing state, checks every
/// system record copy against the tree, settles a system record in flight at a crash, and
/// finishes an interrupted purge. `report` is `None` for a read-only handle (nothing written).
pub(crate) fn finish_open(
    shared: &Shared,
    mut report: Option<&mut RecoveryReport>,
) -> Result<(), LogError> {
    let writable = report.is_some();
    let len = shared.len.load(Ordering::Acquire);
    let path = state_path(&shared.dir);
    let mut st = shared.retention.state.read().clone();
    let mut changed = false;
    if st.needs_rebuild {
        // No purge happened (load_state checked): every record is still readable.
        let mut entries = Vec::new();
        for index in 0..len {
            let r = shared.read(index)?;
            if is_system_payload(&r.payload) {
                entries.push(SystemEntry { index, timestamp: r.timestamp, payload: r.payload });
            }
        }
        st = PolicyState::replay(shared.manifest.retention_seconds, len, None, entries)
            .map_err(|detail| LogError::tamper(&path, detail))?;
        changed = true;
        if let Some(r) = report.as_deref_mut() {
            r.retention_state_rebuilt = true;
        }
    } else {
        cross_check(shared, &st, len)?;
    }
    st.known_len = st.known_len.min(len);
    if let Some(pending) = st.pending.take() {
        let found = find_pending(shared, &pending, st.known_len, len)?;
        if let Some(entry) = found {
            let index = entry.index;
            st.apply(entry).map_err(|detail| LogError::tamper(&path, detail))?;
            if let Some(r) = report.as_deref_mut() {
                r.pending_system_record = Some(index);
            }
        }
        st.known_len = len;
        changed = true;
    }
    let purged_until = st.policy.purged_until;
    *shared.retention.state.write() = st.clone();
    shared.retention.publish();
    if changed && writable {
        write_state(&*shared.backend, &shared.dir, &st.to_file())?;
    }
    // Segments a pending purge covered may still be in the view (it was built with the
    // previous bound): drop them.
    shared.view.write().sealed.retain(|s| s.end_index() > purged_until);
    if let Some(r) = report {
        let mut removed = Vec::new();
        let be = &*shared.backend;
        for first in list_segments(be, &shared.dir)?.into_iter().filter(|&f| f < purged_until) {
            let file = shared.dir.join(segment_file_name(first));
            worm::remove_segment(be, &file)?;
            removed.push(file);
        }
        if !removed.is_empty() {
            // DIRECTORY FSYNC: the interrupted purge is finished only once the names are gone.
            sync_dir(be, &shared.dir)?;
        }
        r.purge_leftovers_removed = removed;
    }
    Ok(())
}

/// Every system record the state claims must be in the log with the same leaf hash: the state
/// file cannot invent, alter or move a hold, extension or purge without the tree disagreeing.
fn cross_check(shared: &Shared, st: &PolicyState, len: u64) -> Result<(), LogError> {
    let path = state_path(&shared.dir);
    let tree_len = shared.tree.as_ref().map_or(0, |t| t.len());
    for e in &st.entries {
        let bad = |detail: &str| LogError::TamperDetected {
            file: path.clone(),
            offset: None,
            index: Some(e.index),
            level: None,
            detail: detail.to_string(),
        };
        if e.index >= len {
            return Err(bad("retention state names a system record past the end of the log"));
        }
        let leaf = shared.alg.leaf_hash_parts(&[&e.timestamp.to_bytes(), &e.payload]);
        if let Some(tree) = shared.tree.as_ref().filter(|_| e.index < tree_len) {
            if tree.leaf_hash(e.index)? != leaf {
                return Err(bad("retention state's copy of a system record differs from the tree"));
            }
        } else if e.index >= st.policy.purged_until {
            // A read-only handle whose tree lags: compare with the record itself.
            let r = shared.read(e.index)?;
            if r.leaf_hash(shared.alg) != leaf {
                return Err(bad("retention state's copy of a system record differs from the log"));
            }
        }
    }
    Ok(())
}

/// Looks for the in-flight system record among the records written since the state was saved
/// (few: the state is saved right before the append it announces).
fn find_pending(
    shared: &Shared,
    pending: &[u8],
    from: u64,
    len: u64,
) -> Result<Option<SystemEntry>, LogError> {
    for index in from..len {
        let r = shared.read(index)?;
        if r.payload == pending {
            return Ok(Some(SystemEntry { index, timestamp: r.timestamp, payload: r.payload }));
        }
    }
    Ok(None)
}
