use clap::Parser;

// mimalloc: the model allocates many small objects (VMAs, chains, maps);
// the system allocator would add its own noise to every measurement.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = rmap_bench::cli::Cli::parse();
    std::process::exit(rmap_bench::cli::run(cli));
}
