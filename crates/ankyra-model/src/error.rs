//! Record errors: they name the file, line, column and field path, show the
//! line, and say what would be valid.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::Span;

/// A record file's name and text, kept so later checks can point into it.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name as the user gave it.
    pub name: String,
    /// The file's text.
    pub text: String,
}

impl SourceFile {
    /// Byte offset of a 1-based line and column (columns count characters).
    pub fn offset(&self, span: Span) -> usize {
        let mut offset = 0;
        for (i, line) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == span.line {
                let col_bytes: usize = line
                    .chars()
                    .take(span.col.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return (offset + col_bytes).min(self.text.len());
            }
            offset += line.len();
        }
        self.text.len()
    }

    /// Length in bytes of `len` characters starting at `offset`.
    fn byte_len(&self, offset: usize, len: usize) -> usize {
        self.text
            .get(offset..)
            .map(|rest| rest.chars().take(len.max(1)).map(char::len_utf8).sum())
            .unwrap_or(0)
    }
}

/// One problem in a record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    /// The record file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field path, e.g. `spec.components.keystone.replicas`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What would be valid, or the near spelling.
    pub help: Option<String>,
    #[serde(skip)]
    source: Option<Arc<SourceFile>>,
    #[serde(skip)]
    len: usize,
}

impl RecordError {
    /// An error at `span` of `source`.
    pub fn new(
        source: Option<&Arc<SourceFile>>,
        span: Option<Span>,
        field: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let span = span.unwrap_or(Span {
            line: 1,
            col: 1,
            len: 0,
        });
        RecordError {
            file: source
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "<record>".into()),
            line: span.line,
            column: span.col,
            field: field.into(),
            message: message.into(),
            help,
            source: source.cloned(),
            len: span.len,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RecordError {}

impl Diagnostic for RecordError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("ankyra::record"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| &s.text as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let src = self.source.as_ref()?;
        let offset = src.offset(Span {
            line: self.line,
            col: self.column,
            len: self.len,
        });
        let len = src.byte_len(offset, self.len);
        let label = if self.field.is_empty() {
            "here".to_string()
        } else {
            self.field.clone()
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            offset,
            len,
        ))))
    }
}

/// Every problem found in one record (at least one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordErrors {
    /// The problems, in file order.
    pub errors: Vec<RecordError>,
}

impl RecordErrors {
    /// Wraps one error.
    pub fn one(e: RecordError) -> Self {
        RecordErrors { errors: vec![e] }
    }

    /// The first problem.
    pub fn first(&self) -> Option<&RecordError> {
        self.errors.first()
    }

    /// A version of `named` with the source file's name and text attached,
    /// for rendering with a snippet.
    pub fn with_source(mut self, src: &Arc<SourceFile>) -> Self {
        for e in &mut self.errors {
            e.source = Some(src.clone());
            e.file = src.name.clone();
        }
        self
    }
}

impl fmt::Display for RecordErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("invalid record"),
            [one] => one.fmt(f),
            [first, rest @ ..] => write!(f, "{first} (and {} more problems)", rest.len()),
        }
    }
}

impl std::error::Error for RecordErrors {}

impl Diagnostic for RecordErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.errors.first().and_then(|e| e.code())
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.errors.first().and_then(|e| e.help())
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.errors.first().and_then(|e| e.source_code())
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.errors.first().and_then(|e| e.labels())
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.errors.len() < 2 {
            return None;
        }
        Some(Box::new(
            self.errors[1..].iter().map(|e| e as &dyn Diagnostic),
        ))
    }
}

/// A named source for miette, when a caller wants one.
pub fn named_source(src: &SourceFile) -> NamedSource<String> {
    NamedSource::new(src.name.clone(), src.text.clone())
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
