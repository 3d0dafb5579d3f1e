fn main() {
    kneeclip::denormals::flush_denormals();
    kneeclip::allocator::keep_freed_memory();
    std::process::exit(kneeclip::cli::main());
}
