//! [`SimBackend`]: an in-memory disk for crash and fault tests (docs/TESTING.md, "Power loss
//! and I/O faults").
//!
//! Each file keeps its *written* bytes (what reads see) apart from its *durable* bytes (as of
//! its last completed `sync_data`/`sync_all`), plus the list of writes and `set_len`s issued
//! since. Each directory keeps its current names apart from its durable names (as of its last
//! `sync_dir`). A [power loss](SimBackend::power_loss) keeps, for every file, its durable
//! bytes plus a random prefix of its pending operations, the last one of which may be torn at
//! any byte; every name created, renamed or removed since its directory's last sync reverts.
//!
//! Faults: [`SimBackend::inject`] makes the Nth write, sync (file or directory), file creation
//! or rename fail with EIO or ENOSPC; [`SimBackend::crash_after_ops`] freezes the disk after
//! N mutating operations (every later operation fails with EIO, as on a machine that lost
//! power) until [`SimBackend::power_loss`] reboots it. Deterministic for a given seed and
//! operation sequence. Directory permissions and the immutable attribute are not modelled
//! (`set_immutable` fails with `PermissionDenied`, like an unprivileged process).

use super::{LockGuard, OpenMode, StorageBackend, StorageFile};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The kind of operation an injected fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultOp {
    /// `write_all_at`.
    Write,
    /// `sync_data`, `sync_all` or `sync_dir`.
    Sync,
    /// Opening a name that does not exist yet with a creating mode.
    Create,
    /// `rename`.
    Rename,
}

/// The error an injected fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultError {
    /// EIO (5).
    Eio,
    /// ENOSPC (28).
    Enospc,
}

impl FaultError {
    fn to_io(self) -> io::Error {
        match self {
            FaultError::Eio => io::Error::from_raw_os_error(5),
            FaultError::Enospc => io::Error::from_raw_os_error(28),
        }
    }
}

/// What the simulated disk counted since it was created (or last reset by a power loss).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimCounters {
    /// Mutating operations (writes, syncs, set_len, creations, renames, removals).
    pub mutations: u64,
    /// Injected faults that fired.
    pub faults_fired: u64,
}

#[derive(Clone, Debug)]
enum PendingOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<PendingOp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Debug)]
struct Fault {
    op: FaultOp,
    remaining: u64,
    error: FaultError,
}

#[derive(Debug, Default)]
struct Disk {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<PathBuf, Entry>,
    durable_names: BTreeMap<PathBuf, Entry>,
    locks: HashSet<PathBuf>,
    /// Bumped by each power loss: handles from before it fail.
    generation: u64,
    frozen: bool,
    crash_after: Option<u64>,
    fault: Option<Fault>,
    counters: SimCounters,
    rng: SplitMix64,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("sim: {what}"))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(ErrorKind::NotFound, format!("sim: no such file {}", path.display()))
}

/// splitmix64: a small, seedable generator, good enough to choose crash outcomes and random
/// workloads. Shared by the simulated disk and the crash tests so a seed means one thing.
#[derive(Clone, Debug, Default)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

impl Disk {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// Counts a mutating operation of `kind`; fails it if the disk is frozen, the crash point
    /// is reached or an injected fault fires.
    fn mutate(&mut self, kind: Option<FaultOp>, generation: u64) -> io::Result<()> {
        self.check_alive(generation)?;
        if let Some(limit) = self.crash_after {
            if self.counters.mutations >= limit {
                self.frozen = true;
                return Err(eio("power lost"));
            }
        }
        self.counters.mutations += 1;
        if let (Some(kind), Some(fault)) = (kind, self.fault.as_mut()) {
            if fault.op == kind {
                if fault.remaining <= 1 {
                    let error = fault.error;
                    self.fault = None;
                    self.counters.faults_fired += 1;
                    return Err(error.to_io());
                }
                fault.remaining -= 1;
            }
        }
        Ok(())
    }

    fn check_alive(&self, generation: u64) -> io::Result<()> {
        if self.frozen {
            return Err(eio("power lost"));
        }
        if generation != self.generation {
            return Err(eio("handle opened before a power loss"));
        }
        Ok(())
    }

    fn parent_is_dir(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(p) if p.as_os_str().is_empty() || p == Path::new("/") => true,
            Some(p) => self.names.get(p) == Some(&Entry::Dir),
        }
    }

    fn inode(&mut self, id: u64) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&id).ok_or_else(|| eio("inode vanished"))
    }

    /// What a power loss leaves: durable names, durable bytes plus a random prefix of each
    /// file's pending operations (the last one possibly torn).
    fn lose_power(&mut self) {
        let mut names = self.durable_names.clone();
        // A name whose directory is not durably there is gone with it.
        let dirs: HashSet<PathBuf> =
            names.iter().filter(|(_, e)| **e == Entry::Dir).map(|(p, _)| p.clone()).collect();
        names.retain(|p, _| match p.parent() {
            None => true,
            Some(d) if d.as_os_str().is_empty() || d == Path::new("/") => true,
            Some(d) => dirs.contains(d),
        });
        let live: HashSet<u64> = names
            .values()
            .filter_map(|e| match e {
                Entry::File(i) => Some(*i),
                Entry::Dir => None,
            })
            .collect();
        let mut ids: Vec<u64> = live.into_iter().collect();
        ids.sort_unstable();
        let mut inodes = HashMap::new();
        for id in ids {
            let Some(old) = self.inodes.remove(&id) else { continue };
            let mut data = old.durable.clone();
            let n = old.pending.len() as u64;
            let kept = self.below(n + 1);
            for (k, op) in old.pending.iter().enumerate().take(kept as usize) {
                let last = k as u64 + 1 == kept;
                match op {
                    PendingOp::Write { offset, bytes } => {
                        let len = if last && self.below(2) == 0 {
                            self.below(bytes.len() as u64 + 1) as usize
                        } else {
                            bytes.len()
                        };
                        apply_write(&mut data, *offset, bytes.get(..len).unwrap_or(bytes));
                    }
                    PendingOp::SetLen(l) => data.resize(*l as usize, 0),
                }
            }
            inodes.insert(id, Inode { durable: data.clone(), data, pending: Vec::new() });
        }
        self.inodes = inodes;
        self.durable_names = names.clone();
        self.names = names;
        self.locks.clear();
        self.generation += 1;
        self.frozen = false;
        self.crash_after = None;
        self.fault = None;
    }
}

fn apply_write(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    let end = start + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[start..end].copy_from_slice(bytes);
}

/// An in-memory disk with power loss and fault injection. Cheap to clone: clones share the
/// disk. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct SimBackend {
    disk: Arc<Mutex<Disk>>,
}

impl SimBackend {
    /// An empty disk whose random choices (what a power loss keeps) follow `seed`.
    pub fn new(seed: u64) -> SimBackend {
        let disk = Disk { rng: SplitMix64(seed), ..Disk::default() };
        SimBackend { disk: Arc::new(Mutex::new(disk)) }
    }

    /// Creates directory `path` and its parents, durably (the disk as it was before the test).
    pub fn mkdir_durable(&self, path: &Path) {
        let mut d = self.disk.lock();
        for a in path.ancestors().filter(|a| !a.as_os_str().is_empty() && *a != Path::new("/")) {
            d.names.insert(a.to_path_buf(), Entry::Dir);
            d.durable_names.insert(a.to_path_buf(), Entry::Dir);
        }
    }

    /// Freezes the disk after `n` more mutating operations: the next ones fail with EIO.
    pub fn crash_after_ops(&self, n: u64) {
        let mut d = self.disk.lock();
        d.crash_after = Some(d.counters.mutations + n);
    }

    /// Whether the disk is frozen by [`SimBackend::crash_after_ops`].
    pub fn is_frozen(&self) -> bool {
        self.disk.lock().frozen
    }

    /// Makes the `nth` (1-based) next operation of kind `op` fail with `error`, once.
    pub fn inject(&self, op: FaultOp, nth: u64, error: FaultError) {
        self.disk.lock().fault = Some(Fault { op, remaining: nth.max(1), error });
    }

    /// Drops an injected fault that has not fired yet.
    pub fn clear_fault(&self) {
        self.disk.lock().fault = None;
    }

    /// Counters since creation.
    pub fn counters(&self) -> SimCounters {
        self.disk.lock().counters
    }

    /// Power loss and reboot: keeps what was durable (and a random, possibly torn, part of
    /// what was not), reverts unsynced directory changes, drops locks, unfreezes the disk,
    /// clears any pending fault. Handles opened before fail from now on.
    pub fn power_loss(&self) {
        self.disk.lock().lose_power();
    }

    /// The current (written) bytes of file `path`, for tests that damage files.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let d = self.disk.lock();
        match d.names.get(path) {
            Some(Entry::File(id)) => d.inodes.get(id).map(|i| i.data.clone()),
            _ => None,
        }
    }

    fn open_impl(&self, path: &Path, mode: OpenMode) -> io::Result<SimFile> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        d.check_alive(generation)?;
        let id = match d.names.get(path).copied() {
            Some(Entry::Dir) => {
                return Err(io::Error::new(ErrorKind::IsADirectory, "sim: is a directory"))
            }
            Some(Entry::File(_)) if mode == OpenMode::CreateNew => {
                return Err(io::Error::new(ErrorKind::AlreadyExists, "sim: file exists"))
            }
            Some(Entry::File(id)) => {
                if mode == OpenMode::CreateTruncate {
                    d.mutate(None, generation)?;
                    let inode = d.inode(id)?;
                    inode.data.clear();
                    inode.pending.push(PendingOp::SetLen(0));
                }
                id
            }
            None if mode.creates() => {
                if !d.parent_is_dir(path) {
                    return Err(not_found(path));
                }
                d.mutate(Some(FaultOp::Create), generation)?;
                let id = d.next_inode;
                d.next_inode += 1;
                d.inodes.insert(id, Inode::default());
                d.names.insert(path.to_path_buf(), Entry::File(id));
                id
            }
            None => return Err(not_found(path)),
        };
        Ok(SimFile {
            disk: Arc::clone(&self.disk),
            inode: id,
            generation,
            writable: mode != OpenMode::Read,
            path: path.to_path_buf(),
        })
    }
}

/// A file of a [`SimBackend`].
#[derive(Debug)]
pub struct SimFile {
    disk: Arc<Mutex<Disk>>,
    inode: u64,
    generation: u64,
    writable: bool,
    path: PathBuf,
}

impl SimFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(ErrorKind::PermissionDenied, "sim: file opened read-only"))
        }
    }

    fn sync(&self) -> io::Result<()> {
        let mut d = self.disk.lock();
        if let Err(e) = d.mutate(Some(FaultOp::Sync), self.generation) {
            if !d.frozen {
                // Linux may drop the dirty pages of a file whose writeback failed.
                let inode = d.inode(self.inode)?;
                inode.data = inode.durable.clone();
                inode.pending.clear();
            }
            return Err(e);
        }
        let inode = d.inode(self.inode)?;
        inode.durable = inode.data.clone();
        inode.pending.clear();
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut d = self.disk.lock();
        d.check_alive(self.generation)?;
        let data = &d.inode(self.inode)?.data;
        let start =
            usize::try_from(offset).map_err(|_| io::Error::from(ErrorKind::UnexpectedEof))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "sim: read past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut d = self.disk.lock();
        if let Err(e) = d.mutate(Some(FaultOp::Write), self.generation) {
            if !d.frozen && !buf.is_empty() {
                // A failed write may have reached the page cache in part.
                let n = d.below(buf.len() as u64) as usize;
                let part = buf[..n].to_vec();
                let inode = d.inode(self.inode)?;
                apply_write(&mut inode.data, offset, &part);
                inode.pending.push(PendingOp::Write { offset, bytes: part });
            }
            return Err(e);
        }
        let inode = d.inode(self.inode)?;
        apply_write(&mut inode.data, offset, buf);
        inode.pending.push(PendingOp::Write { offset, bytes: buf.to_vec() });
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.check_writable()?;
        let len = usize::try_from(len_bytes).map_err(|_| eio("file too large"))?;
        let mut d = self.disk.lock();
        d.mutate(None, self.generation)?;
        let inode = d.inode(self.inode)?;
        inode.data.resize(len, 0);
        inode.pending.push(PendingOp::SetLen(len_bytes));
        Ok(())
    }

    fn len_bytes(&self) -> io::Result<u64> {
        let mut d = self.disk.lock();
        d.check_alive(self.generation)?;
        Ok(d.inode(self.inode)?.data.len() as u64)
    }
}

impl SimFile {
    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock of a [`SimBackend`] directory; released on drop.
#[derive(Debug)]
struct SimLock {
    disk: Arc<Mutex<Disk>>,
    path: PathBuf,
    generation: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut d = self.disk.lock();
        if d.generation == self.generation {
            d.locks.remove(&self.path);
        }
    }
}

impl StorageBackend for SimBackend {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(self.open_impl(path, mode)?))
    }

    fn exists(&self, path: &Path) -> bool {
        let d = self.disk.lock();
        path == Path::new("/") || d.names.contains_key(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        d.check_alive(generation)?;
        let mut missing: Vec<PathBuf> = Vec::new();
        for a in path.ancestors().filter(|a| !a.as_os_str().is_empty() && *a != Path::new("/")) {
            match d.names.get(a) {
                Some(Entry::Dir) => break,
                Some(Entry::File(_)) => {
                    return Err(io::Error::new(ErrorKind::AlreadyExists, "sim: a file is there"))
                }
                None => missing.push(a.to_path_buf()),
            }
        }
        for a in missing.into_iter().rev() {
            d.mutate(None, generation)?;
            d.names.insert(a, Entry::Dir);
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        if d.names.get(path) != Some(&Entry::Dir) {
            d.check_alive(generation)?;
            return Err(not_found(path));
        }
        d.mutate(Some(FaultOp::Sync), generation)?;
        let in_dir = |p: &Path| p.parent() == Some(path);
        let current: Vec<(PathBuf, Entry)> =
            d.names.iter().filter(|(p, _)| in_dir(p)).map(|(p, e)| (p.clone(), *e)).collect();
        d.durable_names.retain(|p, _| !in_dir(p));
        d.durable_names.extend(current);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        d.check_alive(generation)?;
        let entry = match d.names.get(from).copied() {
            Some(e @ Entry::File(_)) => e,
            Some(Entry::Dir) => return Err(eio("renaming directories is not simulated")),
            None => return Err(not_found(from)),
        };
        if !d.parent_is_dir(to) {
            return Err(not_found(to));
        }
        d.mutate(Some(FaultOp::Rename), generation)?;
        d.names.remove(from);
        d.names.insert(to.to_path_buf(), entry);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        d.check_alive(generation)?;
        match d.names.get(path) {
            Some(Entry::File(_)) => {}
            Some(Entry::Dir) => return Err(io::Error::new(ErrorKind::IsADirectory, "sim: dir")),
            None => return Err(not_found(path)),
        }
        d.mutate(None, generation)?;
        d.names.remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk.lock();
        let generation = d.generation;
        d.check_alive(generation)?;
        if d.names.get(path) != Some(&Entry::Dir) {
            return Err(not_found(path));
        }
        d.mutate(None, generation)?;
        d.names.retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let d = self.disk.lock();
        d.check_alive(d.generation)?;
        if path != Path::new("/") && d.names.get(path) != Some(&Entry::Dir) {
            return Err(not_found(path));
        }
        Ok(d.names
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
            .collect())
    }

    fn set_read_only(&self, path: &Path) -> io::Result<()> {
        let d = self.disk.lock();
        d.check_alive(d.generation)?;
        if d.names.contains_key(path) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }

    fn set_immutable(&self, _path: &Path, _on: bool) -> io::Result<()> {
        Err(io::Error::new(ErrorKind::PermissionDenied, "sim: no CAP_LINUX_IMMUTABLE"))
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        drop(self.open_impl(path, OpenMode::CreateOrOpen)?);
        let mut d = self.disk.lock();
        if !d.locks.insert(path.to_path_buf()) {
            return Ok(None);
        }
        let guard = SimLock {
            disk: Arc::clone(&self.disk),
            path: path.to_path_buf(),
            generation: d.generation,
        };
        Ok(Some(Box::new(guard)))
    }
}
