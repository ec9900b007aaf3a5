//! Output: stdout for data (text tables or `-o json`), stderr for errors.
//! Text reads right without colour; colour only on a terminal without NO_COLOR.

#![allow(clippy::print_stdout)]

use std::io::IsTerminal;

use ankyra_ops::OpsError;
use miette::Diagnostic;
use owo_colors::OwoColorize;
use serde::Serialize;

use crate::args::Output;

/// Prints results and errors in the chosen format.
pub struct Printer {
    json: bool,
    color: bool,
}

impl Printer {
    /// A printer for `output`; colour when stdout is a terminal, NO_COLOR is unset and not `--no-color`.
    pub fn new(output: Output, no_color: bool) -> Printer {
        Printer {
            json: output == Output::Json,
            color: !no_color
                && std::env::var_os("NO_COLOR").is_none()
                && std::io::stdout().is_terminal(),
        }
    }

    /// Whether the output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a value as pretty JSON.
    pub fn json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot write JSON: {e}"),
        }
    }

    /// Prints a line of text.
    pub fn line(&self, text: impl AsRef<str>) {
        println!("{}", text.as_ref());
    }

    /// Text in bold when colour is on.
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_string()
        }
    }

    /// Text in a colour that says "changes" when colour is on.
    pub fn changed(&self, text: &str) -> String {
        if self.color {
            text.yellow().to_string()
        } else {
            text.to_string()
        }
    }

    /// Text in a colour that says "added" when colour is on.
    pub fn added(&self, text: &str) -> String {
        if self.color {
            text.green().to_string()
        } else {
            text.to_string()
        }
    }

    /// Text in a colour that says "removed" when colour is on.
    pub fn removed(&self, text: &str) -> String {
        if self.color {
            text.red().to_string()
        } else {
            text.to_string()
        }
    }

    /// Text dimmed when colour is on.
    pub fn dim(&self, text: &str) -> String {
        if self.color {
            text.dimmed().to_string()
        } else {
            text.to_string()
        }
    }

    /// Prints rows aligned in columns; the first row is the header.
    /// Widths count characters of the plain text, so colour codes are added after padding.
    pub fn table(&self, rows: &[Vec<String>], style: impl Fn(usize, usize, &str) -> String) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (ri, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (ci, cell) in row.iter().enumerate() {
                let last = ci + 1 == row.len();
                let pad = if last {
                    String::new()
                } else {
                    " ".repeat(widths[ci].saturating_sub(cell.chars().count()) + 2)
                };
                let shown = if ri == 0 {
                    self.bold(cell)
                } else {
                    style(ri, ci, cell)
                };
                line.push_str(&shown);
                line.push_str(&pad);
            }
            println!("{}", line.trim_end());
        }
    }

    /// Prints an error: a miette report on stderr, or a JSON object on stdout with `-o json`.
    pub fn error(&self, err: OpsError) {
        if self.json {
            let problems = match &err {
                OpsError::Record(r) => serde_json::to_value(&r.errors).unwrap_or_default(),
                _ => serde_json::Value::Array(vec![]),
            };
            let value = serde_json::json!({
                "error": {
                    "code": err.code().map(|c| c.to_string()),
                    "message": err.to_string(),
                    "causes": causes(&err),
                    "help": err.help().map(|h| h.to_string()),
                    "exit_code": err.exit_code(),
                    "problems": problems,
                }
            });
            self.json(&value);
        } else {
            let report = miette::Report::new(err);
            eprintln!("{report:?}");
        }
    }
}

fn causes(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push(e.to_string());
        cur = e.source();
    }
    out
}
