//! The Reel balancer is not built yet.
fn main() {
    eprintln!("reel-balancer is not built yet");
    std::process::exit(2);
}
