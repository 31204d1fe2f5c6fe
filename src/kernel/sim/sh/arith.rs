//! `$(( ... ))`: integer arithmetic as ash evaluates it (64-bit, C
//! precedence, variables by name, assignment operators, `?:`, `,`).

pub trait Vars {
    fn get(&mut self, name: &str) -> String;
    fn set(&mut self, name: &str, v: i64);
}

#[derive(Debug, Clone, PartialEq)]
enum T {
    Num(i64),
    Name(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=",
    "%=", "&=", "|=", "^=", "++", "--", "+", "-", "*", "/", "%", "<", ">", "=", "!", "~", "&", "|",
    "^", "(", ")", "?", ":", ",",
];

const SYNTAX: &str = "arithmetic syntax error";

fn tokens(s: &str) -> Result<Vec<T>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_ascii_digit() {
            let st = i;
            while i < c.len() && c[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let w: String = c[st..i].iter().collect();
            out.push(T::Num(parse_num(&w).ok_or_else(|| SYNTAX.to_string())?));
        } else if c[i].is_ascii_alphabetic() || c[i] == '_' {
            let st = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(T::Name(c[st..i].iter().collect()));
        } else {
            let rest: String = c[i..].iter().take(3).collect();
            let op = OPS
                .iter()
                .find(|o| rest.starts_with(*o))
                .ok_or_else(|| SYNTAX.to_string())?;
            i += op.len();
            out.push(T::Op(op));
        }
    }
    Ok(out)
}

/// A number as ash reads one: decimal, 0x hex, leading-0 octal.
pub fn parse_num(w: &str) -> Option<i64> {
    let w = w.trim();
    let (neg, w) = match w.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let v = if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if w.len() > 1 && w.starts_with('0') {
        i64::from_str_radix(&w[1..], 8).ok()?
    } else {
        w.parse().ok()?
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

struct E<'a> {
    t: Vec<T>,
    p: usize,
    vars: &'a mut dyn Vars,
}

pub fn eval(expr: &str, vars: &mut dyn Vars) -> Result<i64, String> {
    let t = tokens(expr)?;
    if t.is_empty() {
        return Ok(0);
    }
    let mut e = E { t, p: 0, vars };
    let v = e.comma(false)?;
    if e.p != e.t.len() {
        return Err(SYNTAX.into());
    }
    Ok(v)
}

fn prec(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "==" | "!=" => 6,
        "<" | ">" | "<=" | ">=" => 7,
        "<<" | ">>" => 8,
        "+" | "-" => 9,
        "*" | "/" | "%" => 10,
        "**" => 11,
        _ => return None,
    })
}

impl E<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.t.get(self.p) {
            Some(T::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn var(&mut self, name: &str) -> Result<i64, String> {
        let v = self.vars.get(name);
        if v.trim().is_empty() {
            return Ok(0);
        }
        match parse_num(&v) {
            Some(n) => Ok(n),
            None => eval(&v, self.vars),
        }
    }

    fn comma(&mut self, skip: bool) -> Result<i64, String> {
        let mut v = self.assign(skip)?;
        while self.peek_op() == Some(",") {
            self.p += 1;
            v = self.assign(skip)?;
        }
        Ok(v)
    }

    fn assign(&mut self, skip: bool) -> Result<i64, String> {
        if let (Some(T::Name(n)), Some(T::Op(op))) = (self.t.get(self.p), self.t.get(self.p + 1)) {
            if matches!(
                *op,
                "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "<<=" | ">>=" | "&=" | "|=" | "^="
            ) {
                let (n, op) = (n.clone(), *op);
                self.p += 2;
                let rhs = self.assign(skip)?;
                if skip {
                    return Ok(0);
                }
                let v = if op == "=" {
                    rhs
                } else {
                    let cur = self.var(&n)?;
                    binop(&op[..op.len() - 1], cur, rhs)?
                };
                self.vars.set(&n, v);
                return Ok(v);
            }
        }
        self.ternary(skip)
    }

    fn ternary(&mut self, skip: bool) -> Result<i64, String> {
        let c = self.binary(0, skip)?;
        if self.peek_op() != Some("?") {
            return Ok(c);
        }
        self.p += 1;
        let a = self.comma(skip || c == 0)?;
        if self.peek_op() != Some(":") {
            return Err(SYNTAX.into());
        }
        self.p += 1;
        let b = self.ternary(skip || c != 0)?;
        Ok(if c != 0 { a } else { b })
    }

    fn binary(&mut self, min: u8, skip: bool) -> Result<i64, String> {
        let mut l = self.unary(skip)?;
        while let Some(op) = self.peek_op() {
            let Some(p) = prec(op) else { break };
            if p <= min {
                break;
            }
            self.p += 1;
            let short = match op {
                "&&" => l == 0,
                "||" => l != 0,
                _ => false,
            };
            let next_min = if op == "**" { p - 1 } else { p };
            let r = self.binary(next_min, skip || short)?;
            l = if skip {
                0
            } else {
                match op {
                    "&&" => (l != 0 && r != 0) as i64,
                    "||" => (l != 0 || r != 0) as i64,
                    _ => binop(op, l, r)?,
                }
            };
        }
        Ok(l)
    }

    fn unary(&mut self, skip: bool) -> Result<i64, String> {
        match self.t.get(self.p).cloned() {
            Some(T::Op(op @ ("-" | "+" | "!" | "~"))) => {
                self.p += 1;
                let v = self.unary(skip)?;
                Ok(match op {
                    "-" => v.wrapping_neg(),
                    "+" => v,
                    "!" => (v == 0) as i64,
                    _ => !v,
                })
            }
            Some(T::Op(op @ ("++" | "--"))) => {
                self.p += 1;
                let Some(T::Name(n)) = self.t.get(self.p).cloned() else {
                    return Err(SYNTAX.into());
                };
                self.p += 1;
                let v = self.var(&n)? + if op == "++" { 1 } else { -1 };
                if !skip {
                    self.vars.set(&n, v);
                }
                Ok(v)
            }
            Some(T::Op("(")) => {
                self.p += 1;
                let v = self.comma(skip)?;
                if self.peek_op() != Some(")") {
                    return Err(SYNTAX.into());
                }
                self.p += 1;
                Ok(v)
            }
            Some(T::Num(n)) => {
                self.p += 1;
                Ok(n)
            }
            Some(T::Name(n)) => {
                self.p += 1;
                let v = self.var(&n)?;
                if let Some(op @ ("++" | "--")) = self.peek_op() {
                    self.p += 1;
                    if !skip {
                        self.vars.set(&n, v + if op == "++" { 1 } else { -1 });
                    }
                }
                Ok(v)
            }
            _ => Err(SYNTAX.into()),
        }
    }
}

fn binop(op: &str, l: i64, r: i64) -> Result<i64, String> {
    Ok(match op {
        "+" => l.wrapping_add(r),
        "-" => l.wrapping_sub(r),
        "*" => l.wrapping_mul(r),
        "/" | "%" if r == 0 => return Err("divide by zero".into()),
        "/" => l.wrapping_div(r),
        "%" => l.wrapping_rem(r),
        "**" => {
            if r < 0 {
                return Err("exponent less than 0".into());
            }
            l.wrapping_pow(r.min(u32::MAX as i64) as u32)
        }
        "<<" => l.wrapping_shl(r as u32),
        ">>" => l.wrapping_shr(r as u32),
        "<" => (l < r) as i64,
        ">" => (l > r) as i64,
        "<=" => (l <= r) as i64,
        ">=" => (l >= r) as i64,
        "==" => (l == r) as i64,
        "!=" => (l != r) as i64,
        "&" => l & r,
        "|" => l | r,
        "^" => l ^ r,
        _ => return Err(SYNTAX.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct M(HashMap<String, String>);
    impl Vars for M {
        fn get(&mut self, n: &str) -> String {
            self.0.get(n).cloned().unwrap_or_default()
        }
        fn set(&mut self, n: &str, v: i64) {
            self.0.insert(n.into(), v.to_string());
        }
    }

    fn ev(s: &str) -> Result<i64, String> {
        let mut m = M(HashMap::from([("x".to_string(), "7".to_string())]));
        eval(s, &mut m)
    }

    #[test]
    fn precedence_and_operators() {
        assert_eq!(ev("1 + 2 * 3"), Ok(7));
        assert_eq!(ev("(1 + 2) * 3"), Ok(9));
        assert_eq!(ev("x % 4 + x / 2"), Ok(6));
        assert_eq!(ev("x > 3 && x < 10"), Ok(1));
        assert_eq!(ev("0 || x == 7"), Ok(1));
        assert_eq!(ev("-x + 010 + 0x10"), Ok(17));
        assert_eq!(ev("x > 5 ? 1 : 2"), Ok(1));
        assert_eq!(ev("2 ** 10"), Ok(1024));
        assert_eq!(ev("10 - 2 - 3"), Ok(5));
        assert_eq!(ev("nope + 1"), Ok(1));
        assert_eq!(ev("1 / 0"), Err("divide by zero".into()));
        assert_eq!(ev("1 +"), Err(SYNTAX.into()));
        assert_eq!(ev("0 && 1 / 0"), Ok(0));
    }

    #[test]
    fn assignments() {
        let mut m = M(HashMap::new());
        assert_eq!(eval("i = 5, i += 2, i++", &mut m), Ok(7));
        assert_eq!(m.0["i"], "8");
    }
}
