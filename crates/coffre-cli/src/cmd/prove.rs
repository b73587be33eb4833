//! `coffre prove`: inclusion and consistency proofs, checked before they are printed.

use crate::cli::ProveArgs;
use crate::error::CliError;
use crate::output;
use crate::vault::{latest_root, open_read};
use coffre_log::{Hash, Log};
use serde_json::Value;

/// Prints the proof asked for.
pub fn run(args: &ProveArgs, json: bool) -> Result<(), CliError> {
    let log = open_read(&args.dir)?;
    // With a writer appending, the tree on disk may stop short of the records (it is synced
    // later); proofs are only available up to the leaves it holds.
    let (tree_size, _) = latest_root(&log)
        .map_err(|e| CliError::from_log(format!("vault {}", args.dir.display()), e))?;
    match (args.index, args.from, args.to) {
        (Some(index), _, _) => {
            let size = args.size.unwrap_or(tree_size);
            check_tree_holds(&log, "--size", size, tree_size)?;
            inclusion(&log, index, size, json)
        }
        (None, Some(from), Some(to)) => {
            check_tree_holds(&log, "--to", to, tree_size)?;
            consistency(&log, from, to, json)
        }
        _ => Err(CliError::usage("prove", "give --index N, or --from A --to B")),
    }
}

/// Refuses a tree size the log holds records for but whose leaves a writer has not synced.
fn check_tree_holds(log: &Log, flag: &str, size: u64, tree_size: u64) -> Result<(), CliError> {
    if size > tree_size && size <= log.len() {
        return Err(CliError::usage(
            flag,
            format!(
                "{size}: the tree on disk holds the first {tree_size} records only (a writer is \
                 appending and syncs its tree later); ask for {tree_size} or less, or retry when \
                 it closes"
            ),
        ));
    }
    Ok(())
}

fn inclusion(log: &Log, index: u64, size: u64, json: bool) -> Result<(), CliError> {
    let len = log.len();
    if size > len {
        return Err(CliError::usage("--size", format!("{size} exceeds the log's {len} records")));
    }
    if index >= size {
        return Err(CliError::usage("--index", format!("{index} is not below tree size {size}")));
    }
    let at = format!("record {index}");
    let proof = log.prove_inclusion(index, size).map_err(|e| CliError::from_log(&at, e))?;
    let root = log.root(size).map_err(|e| CliError::from_log(&at, e))?;
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
    let at = format!("trees {size1} and {size2}");
    let proof = log.prove_consistency(size1, size2).map_err(|e| CliError::from_log(&at, e))?;
    let root1 = log.root(size1).map_err(|e| CliError::from_log(&at, e))?;
    let root2 = log.root(size2).map_err(|e| CliError::from_log(&at, e))?;
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
