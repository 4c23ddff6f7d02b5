//! `RetailTools.calculate`: `str(round(float(eval(expression, {"__builtins__": None}, {})), 2))`
//! for the expressions that pass the character filter (`0-9 + - * / ( ) . ` and spaces), with
//! CPython 3.12's values and error messages.

use crate::py;

#[derive(Clone, Copy, Debug)]
enum V {
    Int(i128),
    Float(f64),
    Tuple,
    Complex,
}

impl V {
    fn tname(&self) -> &'static str {
        match self {
            V::Int(_) => "int",
            V::Float(_) => "float",
            V::Tuple => "tuple",
            V::Complex => "complex",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128, bool), // value, overflowed (then the float value is used)
    Float(f64),
    Op(&'static str),
    LParen,
    RParen,
}

fn syntax(msg: &str, line: u32) -> String {
    format!("{msg} (<string>, line {line})")
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => i += 1,
            b'(' => {
                depth += 1;
                out.push((Tok::LParen, depth));
                i += 1;
            }
            b')' => {
                if depth == 0 {
                    return Err(syntax("unmatched ')'", 1));
                }
                out.push((Tok::RParen, depth));
                depth -= 1;
                i += 1;
            }
            b'+' | b'-' => {
                out.push((Tok::Op(if c == b'+' { "+" } else { "-" }), depth));
                i += 1;
            }
            b'*' => {
                if b.get(i + 1) == Some(&b'*') {
                    out.push((Tok::Op("**"), depth));
                    i += 2;
                } else {
                    out.push((Tok::Op("*"), depth));
                    i += 1;
                }
            }
            b'/' => {
                if b.get(i + 1) == Some(&b'/') {
                    out.push((Tok::Op("//"), depth));
                    i += 2;
                } else {
                    out.push((Tok::Op("/"), depth));
                    i += 1;
                }
            }
            b'.' if !b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                out.push((Tok::Op("."), depth));
                i += 1;
            }
            _ => {
                // number: digits [. digits*] | . digits+
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let int_end = i;
                let is_float = i < b.len() && b[i] == b'.';
                if is_float {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    let f: f64 = s[start..i].parse().map_err(|_| syntax("invalid syntax", 1))?;
                    out.push((Tok::Float(f), depth));
                } else {
                    let digits = &s[start..int_end];
                    if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|d| d != b'0') {
                        return Err(syntax(
                            "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
                            1,
                        ));
                    }
                    match digits.parse::<i128>() {
                        Ok(n) => out.push((Tok::Int(n, false), depth)),
                        Err(_) => out.push((Tok::Int(0, true), depth)),
                    }
                }
            }
        }
    }
    if depth > 0 {
        return Err(syntax("'(' was never closed", 1));
    }
    Ok(out)
}

// ------------------------------------------------------------------ parse to a tree

enum E {
    Num(Tok),
    Unary(&'static str, Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    Tuple,
    Call(Box<E>, Option<Box<E>>),
}

struct P<'a> {
    t: &'a [(Tok, usize)],
    i: usize,
    comma_hint: bool,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|x| &x.0)
    }
    fn op(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }
    fn expr(&mut self) -> Option<E> {
        let mut l = self.term()?;
        while let Some(o @ ("+" | "-")) = self.op() {
            self.i += 1;
            let r = self.term()?;
            l = E::Bin(o, Box::new(l), Box::new(r));
        }
        Some(l)
    }
    fn term(&mut self) -> Option<E> {
        let mut l = self.factor()?;
        while let Some(o @ ("*" | "/" | "//")) = self.op() {
            self.i += 1;
            let r = self.factor()?;
            l = E::Bin(o, Box::new(l), Box::new(r));
        }
        Some(l)
    }
    fn factor(&mut self) -> Option<E> {
        if let Some(o @ ("+" | "-")) = self.op() {
            self.i += 1;
            let f = self.factor()?;
            return Some(E::Unary(o, Box::new(f)));
        }
        self.power()
    }
    fn power(&mut self) -> Option<E> {
        let a = self.primary()?;
        if self.op() == Some("**") {
            self.i += 1;
            let f = self.factor()?;
            return Some(E::Bin("**", Box::new(a), Box::new(f)));
        }
        Some(a)
    }
    fn primary(&mut self) -> Option<E> {
        let mut a = self.atom()?;
        while self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            if self.peek() == Some(&Tok::RParen) {
                self.i += 1;
                a = E::Call(Box::new(a), None);
                continue;
            }
            let arg = self.expr()?;
            if self.peek() != Some(&Tok::RParen) {
                self.juxtaposed();
                return None;
            }
            self.i += 1;
            a = E::Call(Box::new(a), Some(Box::new(arg)));
        }
        Some(a)
    }
    fn atom(&mut self) -> Option<E> {
        match self.peek()?.clone() {
            t @ (Tok::Int(..) | Tok::Float(_)) => {
                self.i += 1;
                Some(E::Num(t))
            }
            Tok::LParen => {
                self.i += 1;
                if self.peek() == Some(&Tok::RParen) {
                    self.i += 1;
                    return Some(E::Tuple);
                }
                let e = self.expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    self.juxtaposed();
                    return None;
                }
                self.i += 1;
                Some(e)
            }
            _ => None,
        }
    }
    /// An expression directly followed by another one inside brackets.
    fn juxtaposed(&mut self) {
        let inside = self.t.get(self.i).map(|x| x.1).unwrap_or(0) > 0;
        if inside && matches!(self.peek(), Some(Tok::Int(..) | Tok::Float(_))) {
            let save = self.i;
            if self.expr().is_some() {
                self.comma_hint = true;
            }
            self.i = save;
        }
    }
}

// ------------------------------------------------------------------ evaluate

fn as_f(v: V) -> f64 {
    match v {
        V::Int(i) => i as f64,
        V::Float(f) => f,
        _ => f64::NAN,
    }
}

fn py_floor_div(vx: f64, wx: f64) -> f64 {
    let m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 && ((wx < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut fd = div.floor();
        if div - fd > 0.5 {
            fd += 1.0;
        }
        fd
    } else {
        0.0f64.copysign(vx / wx)
    }
}

fn overflow() -> String {
    "(34, 'Numerical result out of range')".to_string()
}

fn float_pow(a: f64, b: f64) -> Result<V, String> {
    if a == 0.0 && b < 0.0 {
        return Err("0.0 cannot be raised to a negative power".into());
    }
    if a < 0.0 && b.fract() != 0.0 && b.is_finite() {
        return Ok(V::Complex);
    }
    let r = a.powf(b);
    if r.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(overflow());
    }
    Ok(V::Float(r))
}

fn binop(o: &str, a: V, b: V) -> Result<V, String> {
    use V::*;
    let unsupported = || {
        let sym = o;
        Err(format!("unsupported operand type(s) for {sym}: '{}' and '{}'", a.tname(), b.tname()))
    };
    match (a, b) {
        (Tuple, Tuple) if o == "+" => Ok(Tuple),
        (Tuple, Int(_)) | (Int(_), Tuple) if o == "*" => Ok(Tuple),
        (Tuple, _) | (_, Tuple) => {
            if o == "**" {
                Err(format!("unsupported operand type(s) for ** or pow(): '{}' and '{}'", a.tname(), b.tname()))
            } else {
                unsupported()
            }
        }
        (Complex, _) | (_, Complex) => Ok(Complex),
        (Int(x), Int(y)) => match o {
            "+" => Ok(x.checked_add(y).map(Int).unwrap_or(Float(x as f64 + y as f64))),
            "-" => Ok(x.checked_sub(y).map(Int).unwrap_or(Float(x as f64 - y as f64))),
            "*" => Ok(x.checked_mul(y).map(Int).unwrap_or(Float(x as f64 * y as f64))),
            "/" => {
                if y == 0 {
                    Err("division by zero".into())
                } else {
                    Ok(Float(x as f64 / y as f64))
                }
            }
            "//" => {
                if y == 0 {
                    Err("integer division or modulo by zero".into())
                } else {
                    let q = x / y;
                    Ok(Int(if x % y != 0 && ((x < 0) != (y < 0)) { q - 1 } else { q }))
                }
            }
            _ => {
                if y < 0 {
                    float_pow(x as f64, y as f64)
                } else if let Some(r) = u32::try_from(y).ok().and_then(|e| x.checked_pow(e)) {
                    Ok(Int(r))
                } else {
                    // Too large for the exact integer; Python would fail converting it.
                    Err("int too large to convert to float".into())
                }
            }
        },
        _ => {
            let (x, y) = (as_f(a), as_f(b));
            match o {
                "+" => Ok(Float(x + y)),
                "-" => Ok(Float(x - y)),
                "*" => Ok(Float(x * y)),
                "/" => {
                    if y == 0.0 {
                        Err("float division by zero".into())
                    } else {
                        Ok(Float(x / y))
                    }
                }
                "//" => {
                    if y == 0.0 {
                        Err("float floor division by zero".into())
                    } else {
                        Ok(Float(py_floor_div(x, y)))
                    }
                }
                _ => float_pow(x, y),
            }
        }
    }
}

fn eval(e: &E) -> Result<V, String> {
    match e {
        E::Num(Tok::Int(n, false)) => Ok(V::Int(*n)),
        E::Num(Tok::Int(_, true)) => Err("int too large to convert to float".into()),
        E::Num(Tok::Float(f)) => Ok(V::Float(*f)),
        E::Num(_) => unreachable!(),
        E::Tuple => Ok(V::Tuple),
        E::Unary(o, x) => {
            let v = eval(x)?;
            match v {
                V::Int(i) => Ok(if *o == "-" { V::Int(-i) } else { v }),
                V::Float(f) => Ok(if *o == "-" { V::Float(-f) } else { v }),
                V::Complex => Ok(v),
                V::Tuple => Err(format!("bad operand type for unary {o}: 'tuple'")),
            }
        }
        E::Bin(o, a, b) => {
            let x = eval(a)?;
            let y = eval(b)?;
            // Python's int ** int stays exact; here the pow's `Int(x)` base keeps sign.
            binop(o, x, y)
        }
        E::Call(f, arg) => {
            let fv = eval(f)?;
            if let Some(a) = arg {
                eval(a)?;
            }
            Err(format!("'{}' object is not callable", fv.tname()))
        }
    }
}

/// `eval` of a string that passed the character filter, then `float()`.
fn eval_str(s: &str) -> Result<f64, String> {
    let s = s.trim_start_matches([' ', '\t']);
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(syntax("invalid syntax", 0));
    }
    let mut p = P { t: &toks, i: 0, comma_hint: false };
    let e = p.expr();
    let e = match e {
        Some(e) if p.i == toks.len() => e,
        _ => {
            if !p.comma_hint && p.i < toks.len() && toks[p.i].1 > 0 {
                p.juxtaposed();
            }
            return Err(syntax(
                if p.comma_hint { "invalid syntax. Perhaps you forgot a comma?" } else { "invalid syntax" },
                1,
            ));
        }
    };
    match eval(&e)? {
        V::Int(i) => {
            let f = i as f64;
            Ok(f)
        }
        V::Float(f) => Ok(f),
        v => Err(format!("float() argument must be a string or a real number, not '{}'", v.tname())),
    }
}

const ALLOWED: &str = "0123456789+-*/(). ";

/// The whole tool.
pub fn calculate(expression: &serde_json::Value) -> Result<String, String> {
    use serde_json::Value;
    match expression {
        Value::String(s) => {
            if !s.chars().all(|c| ALLOWED.contains(c)) {
                return Err("Invalid characters in expression".into());
            }
            let f = eval_str(s)?;
            Ok(py::float_repr(py::round2(f)))
        }
        Value::Array(_) | Value::Object(_) => {
            for x in py::iterate(expression).map_err(|e| e.message)? {
                match &x {
                    Value::String(s) => {
                        if !ALLOWED.contains(s.as_str()) {
                            return Err("Invalid characters in expression".into());
                        }
                    }
                    other => {
                        return Err(format!(
                            "'in <string>' requires string as left operand, not {}",
                            py::type_name(other)
                        ))
                    }
                }
            }
            Err("eval() arg 1 must be a string, bytes or code object".into())
        }
        other => Err(format!("'{}' object is not iterable", py::type_name(other))),
    }
}
