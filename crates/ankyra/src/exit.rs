//! Exit codes, in one place:
//! 0 done; 1 failed and rolled back; 2 bad arguments or record; 3 failed, needs a person.

use ankyra_ops::OpsError;

use crate::printer::Printer;

/// Done.
pub const SUCCESS: i32 = 0;

/// Logs go to stderr; `-v` is ankyra=debug, `-vv` trace, RUST_LOG overrides.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "ankyra=debug,warn",
        _ => "ankyra=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints an error the way the output format asks and returns its exit code.
pub fn report(printer: &Printer, err: OpsError) -> i32 {
    let code = err.exit_code();
    printer.error(err);
    code
}
