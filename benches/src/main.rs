use clap::Parser;

fn main() {
    let cli = rmap_bench::cli::Cli::parse();
    std::process::exit(rmap_bench::cli::run(cli));
}
