//! The bayestrial command line.

fn main() {}
