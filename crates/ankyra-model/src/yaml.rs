//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Built from yaml-rust2's event stream with an explicit stack, so hostile
//! input (deep nesting, aliases) ends in an error, never a stack overflow.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::span::Span;

/// Deeper nesting than this is refused; a record needs about six levels.
pub const MAX_DEPTH: usize = 32;

/// One YAML node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the node starts.
    pub span: Span,
    /// What it holds.
    pub kind: NodeKind,
}

/// The shapes a node can have.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar and whether it was quoted (quoted scalars are always strings).
    Scalar { text: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order; keys are scalars.
    Map(Vec<(Node, Node)>),
}

impl NodeKind {
    /// A short name of the shape, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Scalar { text, quoted } => {
                if *quoted {
                    "a string"
                } else if text.is_empty() || text == "~" || text == "null" {
                    "nothing (null)"
                } else {
                    "a scalar"
                }
            }
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Why a YAML text could not be read as one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where it went wrong.
    pub span: Span,
    /// What went wrong.
    pub message: String,
}

enum Frame {
    Seq(Span, Vec<Node>),
    Map(Span, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    error: Option<SyntaxError>,
}

fn span_of(mark: &Marker) -> Span {
    Span {
        line: mark.line().max(1),
        col: mark.col() + 1,
        len: 0,
    }
}

impl Builder {
    fn fail(&mut self, span: Span, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                span,
                message: message.into(),
            });
        }
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        let span = node.span;
                        self.fail(
                            span,
                            "a mapping key must be a plain word, not a list or mapping",
                        );
                        return;
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let span = span_of(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                if anchor != 0 {
                    self.fail(span, "anchors (&name) are not supported in records");
                    return;
                }
                let len = text.chars().count();
                self.push_node(Node {
                    span: Span { len, ..span },
                    kind: NodeKind::Scalar {
                        text,
                        quoted: style != TScalarStyle::Plain,
                    },
                });
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                self.fail(span, "anchors (&name) are not supported in records");
            }
            Event::SequenceStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(span, format!("nested deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Seq(span, Vec::new()));
            }
            Event::MappingStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(span, format!("nested deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Map(span, Vec::new(), None));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(start, items)) = self.stack.pop() {
                    self.push_node(Node {
                        span: start,
                        kind: NodeKind::Seq(items),
                    });
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(start, entries, _)) = self.stack.pop() {
                    self.push_node(Node {
                        span: start,
                        kind: NodeKind::Map(entries),
                    });
                }
            }
            Event::Alias(_) => self.fail(span, "aliases (*name) are not supported in records"),
            _ => {}
        }
    }
}

/// Parses exactly one YAML document into a node tree.
pub fn parse_document(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            span: span_of(e.marker()),
            message: e.info().to_string(),
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    let mut docs = builder.docs.into_iter();
    let first = docs.next().ok_or(SyntaxError {
        span: Span {
            line: 1,
            col: 1,
            len: 0,
        },
        message: "the file is empty; a record starts with `apiVersion: ankyra/v1`".into(),
    })?;
    if let Some(second) = docs.next() {
        return Err(SyntaxError {
            span: second.span,
            message: "a record file holds one YAML document; found a second one".into(),
        });
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(parse_document(&text).is_err());
        let text = "a:\n".to_string() + &"  ".repeat(10) + "b: 1";
        assert!(parse_document(&text).is_ok());
    }

    #[test]
    fn spans_are_one_based() {
        let node = parse_document("a: 1\nbb:\n  c: x\n").expect("valid yaml");
        let NodeKind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        assert_eq!(entries[1].0.span.line, 2);
        assert_eq!(entries[1].0.span.col, 1);
        let NodeKind::Map(inner) = &entries[1].1.kind else {
            panic!("expected a map")
        };
        assert_eq!((inner[0].0.span.line, inner[0].0.span.col), (3, 3));
    }

    #[test]
    fn aliases_are_refused() {
        assert!(parse_document("a: &x 1\nb: *x\n").is_err());
    }
}
