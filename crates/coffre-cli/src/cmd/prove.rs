//! `coffre prove`: inclusion and consistency proofs, checked before they are printed.

use crate::cli::ProveArgs;
use crate::error::CliError;
use crate::output;
use crate::vault::open_read;
use coffre_log::merkle::{ConsistencyProof, InclusionProof};
use coffre_log::tree_store::TreeStore;
use coffre_log::{Hash, Log};
use serde_json::Value;

/// Prints the proof asked for.
pub fn run(args: &ProveArgs, json: bool) -> Result<(), CliError> {
    let log = open_read(&args.dir)?;
    match (args.index, args.from, args.to) {
        (Some(index), _, _) => inclusion(&log, index, args.size.unwrap_or(log.len()), json),
        (None, Some(from), Some(to)) => consistency(&log, from, to, json),
        _ => Err(CliError::usage("prove", "give --index N, or --from A --to B")),
    }
}

fn tree(log: &Log) -> Result<TreeStore, CliError> {
    TreeStore::open_read_only(log.dir(), log.hash_algorithm())
        .map_err(|e| CliError::from_log(format!("vault {}", log.dir().display()), e.into()))
}

fn inclusion(log: &Log, index: u64, size: u64, json: bool) -> Result<(), CliError> {
    let len = log.len();
    if size > len {
        return Err(CliError::usage("--size", format!("{size} exceeds the log's {len} records")));
    }
    if index >= size {
        return Err(CliError::usage("--index", format!("{index} is not below tree size {size}")));
    }
    let tree = tree(log)?;
    let at = format!("record {index}");
    let leaf_hash = tree.leaf_hash(index).map_err(|e| CliError::from_log(&at, e.into()))?;
    let path = tree.inclusion_path(index, size).map_err(|e| CliError::from_log(&at, e.into()))?;
    let root = log.root(size).map_err(|e| CliError::from_log(&at, e))?;
    let proof = InclusionProof {
        algorithm: log.hash_algorithm(),
        leaf_index: index,
        tree_size: size,
        leaf_hash,
        path,
    };
    proof
        .verify(&root)
        .map_err(|e| CliError::failed(format!("inclusion proof of {at} in tree {size}"), e))?;
    if json {
        let mut value = serde_json::to_value(&proof).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert("root".into(), root.to_base64().into());
        }
        return output::json_pretty(&value);
    }
    output::line(&format!(
        "inclusion of leaf {index} in tree {size}\nleaf_hash {}\nroot {}\nproof{}",
        proof.leaf_hash.to_base64(),
        root.to_base64(),
        list(&proof.path)
    ))
}

fn consistency(log: &Log, size1: u64, size2: u64, json: bool) -> Result<(), CliError> {
    let len = log.len();
    if size2 > len {
        return Err(CliError::usage("--to", format!("{size2} exceeds the log's {len} records")));
    }
    if size1 == 0 || size1 > size2 {
        return Err(CliError::usage(
            "--from",
            format!("must be in 1..={size2} (a consistency proof from an empty tree is empty)"),
        ));
    }
    let tree = tree(log)?;
    let at = format!("trees {size1} and {size2}");
    let path = tree.consistency_path(size1, size2).map_err(|e| CliError::from_log(&at, e.into()))?;
    let root1 = log.root(size1).map_err(|e| CliError::from_log(&at, e))?;
    let root2 = log.root(size2).map_err(|e| CliError::from_log(&at, e))?;
    let proof = ConsistencyProof { algorithm: log.hash_algorithm(), size1, size2, path };
    proof
        .verify(&root1, &root2)
        .map_err(|e| CliError::failed(format!("consistency proof of {at}"), e))?;
    if json {
        let mut value = serde_json::to_value(&proof).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert("root1".into(), root1.to_base64().into());
            object.insert("root2".into(), root2.to_base64().into());
        }
        return output::json_pretty(&value);
    }
    output::line(&format!(
        "consistency of tree {size1} with tree {size2}\nroot1 {}\nroot2 {}\nproof{}",
        root1.to_base64(),
        root2.to_base64(),
        list(&proof.path)
    ))
}

fn list(hashes: &[Hash]) -> String {
    hashes.iter().map(|h| format!("\n  {}", h.to_base64())).collect()
}
