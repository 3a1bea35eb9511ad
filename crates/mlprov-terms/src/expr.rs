//! SPDX licence expressions: `A`, `A AND B`, `A OR B`, `A WITH exception`, parentheses
//! (AND binds tighter than OR, as SPDX specifies).

use std::fmt;

/// A parsed licence expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// One licence id (`+` and any `WITH` exception kept in the text).
    Id(String),
    /// All must be complied with.
    And(Vec<Expr>),
    /// Any one may be chosen.
    Or(Vec<Expr>),
}

impl Expr {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("empty licence expression".into());
        }
        let mut p = Parser { tokens, pos: 0 };
        let e = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!(
                "unexpected `{}` in licence expression {text:?}",
                p.tokens[p.pos]
            ));
        }
        Ok(e)
    }

    /// Every licence id in the expression, in order.
    pub fn ids(&self) -> Vec<&str> {
        match self {
            Expr::Id(s) => vec![s.as_str()],
            Expr::And(v) | Expr::Or(v) => v.iter().flat_map(Expr::ids).collect(),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, v: &[Expr], op: &str| {
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                match e {
                    Expr::Id(_) => write!(f, "{e}")?,
                    _ => write!(f, "({e})")?,
                }
            }
            Ok(())
        };
        match self {
            Expr::Id(s) => f.write_str(s),
            Expr::And(v) => join(f, v, "AND"),
            Expr::Or(v) => join(f, v, "OR"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | ':') => cur.push(c),
            other => {
                return Err(format!(
                    "character {other:?} cannot appear in a licence expression"
                ))
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("OR")) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.atom()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("AND")) {
            self.pos += 1;
            v.push(self.atom()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().map(str::to_string) else {
            return Err("licence expression ends too early".into());
        };
        self.pos += 1;
        if t == "(" {
            let e = self.or()?;
            if self.peek() != Some(")") {
                return Err("missing `)` in licence expression".into());
            }
            self.pos += 1;
            return Ok(e);
        }
        if t == ")"
            || ["AND", "OR", "WITH"]
                .iter()
                .any(|k| t.eq_ignore_ascii_case(k))
        {
            return Err(format!("expected a licence id, found `{t}`"));
        }
        let mut id = t;
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("WITH")) {
            self.pos += 1;
            match self.peek().map(str::to_string) {
                Some(exc) if exc != "(" && exc != ")" => {
                    self.pos += 1;
                    id = format!("{id} WITH {exc}");
                }
                _ => return Err("WITH needs an exception id".into()),
            }
        }
        Ok(Expr::Id(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_display() {
        let e = Expr::parse("MIT OR Apache-2.0 AND CC-BY-4.0").unwrap();
        assert_eq!(e.to_string(), "MIT OR (Apache-2.0 AND CC-BY-4.0)");
        assert_eq!(e.ids(), ["MIT", "Apache-2.0", "CC-BY-4.0"]);
        let e = Expr::parse("(GPL-2.0-only WITH Classpath-exception-2.0)").unwrap();
        assert_eq!(
            e,
            Expr::Id("GPL-2.0-only WITH Classpath-exception-2.0".into())
        );
        assert!(Expr::parse("MIT AND").is_err());
        assert!(Expr::parse("(MIT").is_err());
        assert!(Expr::parse("MIT; rm").is_err());
        assert!(Expr::parse("").is_err());
    }
}
