//! The tokenizer both schema languages share.

use super::{ErrorKind, SchemaError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// One of `{ } ( ) [ ] : | # * = + & , . -` or `->`.
    Punct(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
}

const PUNCT: [&str; 17] = [
    "->", "{", "}", "(", ")", "[", "]", ":", "|", "#", "*", "=", "+", "&", ",", ".", "-",
];

/// Splits `src` into tokens. `dash_in_names` lets identifiers contain `-` (OpenFGA names may;
/// in SpiceDB `-` is always the exclusion operator). `//` and `/* */` comments are skipped.
pub(crate) fn tokenize(src: &str, dash_in_names: bool) -> Result<Vec<Token>, SchemaError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
            continue;
        }
        let name_char = |c: char, first: bool| {
            c.is_alphanumeric()
                || c == '_'
                || (!first && c == '/')
                || (!first && dash_in_names && c == '-')
        };
        if name_char(c, true) {
            let start = i;
            while i < chars.len() && name_char(chars[i], false) {
                // `a-` followed by `>` is an arrow, never part of a name.
                if chars[i] == '-' && chars.get(i + 1) == Some(&'>') {
                    break;
                }
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line,
            });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match PUNCT.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                out.push(Token {
                    tok: Tok::Punct(p),
                    line,
                });
                i += p.chars().count();
            }
            None => {
                return Err(SchemaError::new(
                    ErrorKind::Syntax,
                    format!("unexpected character `{c}`"),
                )
                .at(line));
            }
        }
    }
    Ok(out)
}

/// A cursor over tokens with the helpers recursive-descent parsers need.
pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
}

impl Cursor {
    pub fn new(toks: Vec<Token>) -> Self {
        Self { toks, pos: 0 }
    }

    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.toks.get(self.pos + ahead).map(|t| &t.tok)
    }

    pub fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.line)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    pub fn is_keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == k)
    }

    pub fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn eat_keyword(&mut self, k: &str) -> bool {
        if self.is_keyword(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn error(&self, msg: impl Into<String>) -> SchemaError {
        let found = match self.peek() {
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
            None => "the end of the schema".to_owned(),
        };
        SchemaError::new(ErrorKind::Syntax, format!("{}, found {found}", msg.into()))
            .at(self.line())
    }

    pub fn expect_punct(&mut self, p: &str) -> Result<(), SchemaError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{p}`")))
        }
    }

    pub fn expect_keyword(&mut self, k: &str) -> Result<(), SchemaError> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{k}`")))
        }
    }

    pub fn ident(&mut self, what: &str) -> Result<String, SchemaError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error(format!("expected {what}"))),
        }
    }
}
