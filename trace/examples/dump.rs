//! Prints every record of a trace, one per line: `cargo run -p gpuleak-trace --example dump FILE`.

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: dump FILE");
        std::process::exit(2);
    };
    let mut r = match gpuleak_trace::open(path.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dump: {}: {e}", path.to_string_lossy());
            std::process::exit(2);
        }
    };
    loop {
        match r.next_record() {
            Ok(Some(rec)) => println!("{rec:?}"),
            Ok(None) => break,
            Err(e) => {
                eprintln!("dump: {e}");
                std::process::exit(2);
            }
        }
    }
    if let Some((at, n)) = r.truncated() {
        eprintln!("dump: trace ends inside a record at byte {at} ({n} bytes present)");
    }
    if let Some(at) = r.unwritten() {
        eprintln!("dump: reserved space, unwritten from byte {at}");
    }
}
