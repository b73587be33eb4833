//! The `coffre` command line.

fn main() {
    println!("coffre: not yet implemented");
}
