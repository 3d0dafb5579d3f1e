fn main() {
    std::process::exit(kneeclip::cli::main());
}
