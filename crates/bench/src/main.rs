//! Amity's benchmark tool (being written).

fn main() {}
