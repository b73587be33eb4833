//! `coffre verify`: whole-log verification. Exit 1 naming the first fault.

use crate::cli::VerifyArgs;
use crate::error::CliError;
use crate::keys::load_verifier;
use crate::output;
use crate::vault::open_read;
use coffre_log::tree_store::TreeStore;
use serde_json::json;

/// Re-reads every record (checksums), re-hashes every leaf against the tree store, checks
/// every stored parent hash, and reports the root.
pub fn run(args: &VerifyArgs, json: bool) -> Result<(), CliError> {
    let _trusted = args.vkey.as_deref().map(load_verifier).transpose()?;
    let log = open_read(&args.dir)?;
    let at = format!("vault {}", args.dir.display());
    let alg = log.hash_algorithm();
    let tree = TreeStore::open_read_only(&args.dir, alg)
        .map_err(|e| CliError::failed(format!("{at}: tree store"), e))?;
    let len = log.len();
    if tree.len() != len {
        return Err(CliError::failed(
            format!("{at}: record {}", len.min(tree.len())),
            format!(
                "the segments hold {len} records but the Merkle tree has {} leaves",
                tree.len()
            ),
        ));
    }
    let bar = output::progress(len, "verifying");
    for index in 0..len {
        let record = log.read(index).map_err(|e| CliError::failed(format!("record {index}"), e))?;
        let stored = tree
            .leaf_hash(index)
            .map_err(|e| CliError::failed(format!("{at}: tree leaf {index}"), e))?;
        if record.leaf_hash(alg) != stored {
            return Err(CliError::failed(
                format!("record {index}"),
                "its leaf hash differs from the Merkle tree's",
            ));
        }
        if index % 4096 == 0 {
            bar.set_position(index);
        }
    }
    bar.finish_and_clear();
    tree.recompute_check(len).map_err(|e| CliError::failed(format!("{at}: tree"), e))?;
    let root = log.root(len).map_err(|e| CliError::from_log(&at, e))?;
    if json {
        output::json_pretty(&json!({
            "ok": true,
            "size": len,
            "root": root.to_base64(),
            "checkpoints_verified": 0,
        }))
    } else {
        output::line(&format!("ok: {len} records verified, root {}", root.to_base64()))
    }
}
