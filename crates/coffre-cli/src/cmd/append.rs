//! `coffre append`: one record per input line (or the whole input with `--raw`).
//!
//! Streams: a reader thread feeds lines into a bounded channel; the appender takes whatever
//! lines are waiting (at least one, at most [`BATCH_RECORDS_MAX`]) and commits them as one
//! group, then prints and flushes their receipts before taking the next group. So a record
//! that arrives alone is acknowledged as soon as it is durable, and a fast producer gets one
//! fsync per group rather than per line.

use crate::cli::AppendArgs;
use crate::error::CliError;
use crate::keys::{load_signer, refuse_key_inside};
use crate::output;
use crate::vault::{open_write, payload_limit_for};
use coffre_log::{Log, Receipt, SYSTEM_RECORD_PREFIX};
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};

/// Most records committed in one group (and lines buffered ahead of the appender).
const BATCH_RECORDS_MAX: usize = 4096;

/// What the reader thread hands over.
enum Item {
    /// One line's payload, with its 1-based line number.
    Record(u64, Vec<u8>),
    /// Reading stopped on this error (after the records already sent).
    Error(CliError),
}

/// Appends the input and prints one receipt per record.
pub fn run(args: &AppendArgs, json: bool) -> Result<(), CliError> {
    if let Some(key) = &args.key {
        refuse_key_inside(&args.dir, key)?;
    }
    let signer = args.key.as_deref().map(load_signer).transpose()?;
    let (input, name): (Box<dyn Read + Send>, String) = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| CliError::usage(format!("input {}", path.display()), e))?;
            (Box::new(file), path.display().to_string())
        }
        None => (Box::new(std::io::stdin()), "stdin".to_string()),
    };
    let log = open_write(&args.dir)?;
    // A wrong key must fail before the append, not after it: records appended by a command
    // that then exits 2 would be appended again by the operator's retry.
    if let Some(signer) = &signer {
        super::sign::check_signer(&log, signer)?;
    }
    let limit = payload_limit_for(log.manifest().segment_size_bytes) as usize;
    if args.raw {
        append_raw(&log, input, &name, limit, json)?;
    } else {
        append_lines(&log, input, name, limit, json)?;
    }
    if let Some(signer) = signer {
        super::sign::checkpoint_after_append(&log, &signer, &args.dir)?;
    }
    Ok(())
}

fn append_raw(
    log: &Log,
    input: Box<dyn Read + Send>,
    name: &str,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let mut payload = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(|e| CliError::usage(format!("input {name}"), e))?;
    if payload.len() > limit {
        return Err(CliError::usage(
            format!("input {name}"),
            format!("longer than the payload limit of {limit} bytes"),
        ));
    }
    check_not_reserved(&payload).map_err(|e| CliError::usage(format!("input {name}"), e))?;
    let receipt =
        log.append(&payload).map_err(|e| CliError::from_log(format!("input {name}"), e))?;
    print_receipt(&receipt, json)
}

fn append_lines(
    log: &Log,
    input: Box<dyn Read + Send>,
    name: String,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let (tx, rx) = sync_channel(BATCH_RECORDS_MAX);
    // Detached on purpose: on an error we return while it may still block on stdin, and
    // process exit ends it.
    std::thread::Builder::new()
        .name("coffre-append-reader".into())
        .spawn(move || read_lines(BufReader::new(input), &tx, limit, &name))
        .map_err(|e| CliError::usage("reader thread", e))?;
    while let Some((lines, error)) = next_batch(&rx) {
        if let (Some(first), Some(last)) = (lines.first(), lines.last()) {
            let payloads: Vec<&[u8]> = lines.iter().map(|(_, p)| p.as_slice()).collect();
            let receipts = log.append_batch(&payloads).map_err(|e| {
                CliError::from_log(format!("input lines {}..={}", first.0, last.0), e)
            })?;
            for receipt in &receipts {
                print_receipt(receipt, json).map_err(|e| undelivered(e, receipt, &receipts))?;
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
    }
    Ok(())
}

/// A receipt that could not be written (stdout closed: the reader of the pipe is gone). The
/// records are durable all the same; say which ones went unacknowledged, then stop reading.
fn undelivered(e: CliError, receipt: &Receipt, group: &[Receipt]) -> CliError {
    let last = group.last().map_or(receipt.index, |r| r.index);
    CliError::Usage(format!(
        "{e}; records {}..={last} are appended but their receipts were not delivered; \
         stopped reading the input",
        receipt.index
    ))
}

/// Lines (number, payload) to commit together, and the error reading stopped on, if any.
type Batch = (Vec<(u64, Vec<u8>)>, Option<CliError>);

/// Blocks for one item, then takes whatever else is already waiting. `None` at end of input.
fn next_batch(rx: &Receiver<Item>) -> Option<Batch> {
    let mut lines = Vec::new();
    let mut item = rx.recv().ok()?;
    loop {
        match item {
            Item::Record(n, payload) => lines.push((n, payload)),
            Item::Error(e) => return Some((lines, Some(e))),
        }
        if lines.len() >= BATCH_RECORDS_MAX {
            break;
        }
        item = match rx.try_recv() {
            Ok(next) => next,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        };
    }
    Some((lines, None))
}

fn read_lines(mut input: impl BufRead, tx: &SyncSender<Item>, limit: usize, name: &str) {
    let mut line_number = 0u64;
    loop {
        line_number += 1;
        let item = match read_line_bounded(&mut input, limit) {
            Ok(None) => return,
            Ok(Some(payload)) => Item::Record(line_number, payload),
            Err(e) => Item::Error(CliError::usage(format!("{name} line {line_number}"), e)),
        };
        let stop = matches!(item, Item::Error(_));
        if tx.send(item).is_err() || stop {
            return;
        }
    }
}

/// One line without its `\n` (or `\r\n`), at most `limit` bytes; `None` at end of input. A
/// last line without a newline is a line; nothing after the last newline is not.
fn read_line_bounded(input: &mut impl BufRead, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        if buf.is_empty() {
            return if line.is_empty() { Ok(None) } else { finish_line(line, limit).map(Some) };
        }
        if let Some(at) = buf.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..at]);
            input.consume(at + 1);
            return finish_line(line, limit).map(Some);
        }
        let taken = buf.len();
        line.extend_from_slice(buf);
        input.consume(taken);
        // +1: a '\r' before the newline is not part of the payload.
        if line.len() > limit + 1 {
            return Err(format!("line longer than the payload limit of {limit} bytes"));
        }
    }
}

fn finish_line(mut line: Vec<u8>, limit: usize) -> Result<Vec<u8>, String> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > limit {
        return Err(format!("line longer than the payload limit of {limit} bytes"));
    }
    check_not_reserved(&line)?;
    Ok(line)
}

/// Refuses a payload the log would take for one of its own system records (the log refuses
/// it too, but per batch; checking here names the line).
fn check_not_reserved(payload: &[u8]) -> Result<(), String> {
    if payload.starts_with(&SYSTEM_RECORD_PREFIX) {
        return Err("starts with the prefix reserved for the log's system records".into());
    }
    Ok(())
}

fn print_receipt(receipt: &Receipt, json: bool) -> Result<(), CliError> {
    if json {
        output::json_line(&json!({
            "index": receipt.index,
            "leaf_hash": receipt.leaf_hash.to_base64(),
            "timestamp": output::timestamp_json(&receipt.timestamp),
        }))
    } else {
        output::line(&format!(
            "{} {} {}",
            receipt.index,
            receipt.leaf_hash.to_base64(),
            output::timestamp_text(&receipt.timestamp)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_on_newlines_with_crlf_and_a_final_partial_line() {
        let mut input: &[u8] = b"a\r\n\nbc\nlast";
        let mut lines = Vec::new();
        while let Some(line) = read_line_bounded(&mut input, 10).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, vec![b"a".to_vec(), b"".to_vec(), b"bc".to_vec(), b"last".to_vec()]);
    }

    #[test]
    fn a_line_over_the_limit_is_refused() {
        let mut input: &[u8] = b"12345\n";
        assert!(read_line_bounded(&mut input, 4).is_err());
        let mut input: &[u8] = b"1234\r\n";
        assert_eq!(read_line_bounded(&mut input, 4).unwrap(), Some(b"1234".to_vec()));
    }
}
