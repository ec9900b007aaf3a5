//! The `ankyra` command: parse arguments, call one ankyra-ops function, print.

mod args;
mod commands;
mod exit;
mod printer;

use clap::Parser;

fn main() {
    let args = args::Cli::parse();
    exit::init_logging(args.global.verbose);
    let printer = printer::Printer::new(args.global.output, args.global.no_color);
    let code = match commands::run(&args, &printer) {
        Ok(()) => exit::SUCCESS,
        Err(err) => exit::report(&printer, err),
    };
    std::process::exit(code);
}
