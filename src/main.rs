fn main() {
    kneeclip::allocator::keep_freed_memory();
    std::process::exit(kneeclip::cli::main());
}
