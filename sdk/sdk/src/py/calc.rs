//! The τ² `calculate` tool (airline and retail share it):
//!
//! ```python
//! if not all(char in "0123456789+-*/(). " for char in expression):
//!     raise ValueError("Invalid characters in expression")
//! return str(round(float(eval(expression, {"__builtins__": None}, {})), 2))
//! ```
//!
//! [`calculate`] is the whole tool on the raw JSON argument; [`eval_float`] is the
//! `float(eval(...))` part for a string that passed the filter. Values and exception texts are
//! CPython 3.12's: compile errors (`invalid syntax (<string>, line 1)`, the comma hint inside
//! brackets, unclosed / unmatched brackets, leading zeros), then evaluation with Python's `int`
//! and `float` semantics (exact integers, floor division, `ZeroDivisionError`s, `OverflowError`,
//! `()` tuples, complex results of negative bases raised to fractional powers, calls of
//! non-callables). Integers beyond `i128` continue as their nearest float (still typed `int`).

use super::{float_repr, iterate, round2, type_name};
use serde_json::Value;

/// The characters the reference admits.
pub const ALLOWED: &str = "0123456789+-*/(). ";

/// A Python value the grammar can produce.
#[derive(Clone, Copy, Debug)]
enum V {
    Int(i128),
    /// An `int` outside `i128`, approximated by its float value (infinite beyond `f64`).
    BigInt(f64),
    Float(f64),
    /// `()` (or any tuple: only its type matters).
    Tuple,
    /// A complex number (only its type matters: `float()` rejects it).
    Complex,
}

impl V {
    fn tname(&self) -> &'static str {
        match self {
            V::Int(_) | V::BigInt(_) => "int",
            V::Float(_) => "float",
            V::Tuple => "tuple",
            V::Complex => "complex",
        }
    }
}

/// An integer result: exact when it fits `i128`.
fn int_of(f: f64) -> V {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38 {
        V::Int(f as i128)
    } else {
        V::BigInt(f)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(V),
    Float(f64),
    Op(&'static str),
    LParen,
    RParen,
}

fn syntax(msg: &str, line: u32) -> String {
    format!("{msg} (<string>, line {line})")
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Int(a), V::Int(b)) => a == b,
            (V::BigInt(a), V::BigInt(b)) | (V::Float(a), V::Float(b)) => a.to_bits() == b.to_bits(),
            (V::Tuple, V::Tuple) | (V::Complex, V::Complex) => true,
            _ => false,
        }
    }
}

/// Tokens with their bracket depth.
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
            b'0'..=b'9' | b'.' => {
                // number: digits [. digits*] | . digits+
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let int_end = i;
                if i < b.len() && b[i] == b'.' {
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
                    let v = match digits.parse::<i128>() {
                        Ok(n) => V::Int(n),
                        Err(_) => V::BigInt(digits.parse::<f64>().unwrap_or(f64::INFINITY)),
                    };
                    out.push((Tok::Int(v), depth));
                }
            }
            _ => return Err(syntax("invalid syntax", 1)),
        }
    }
    if depth > 0 {
        return Err(syntax("'(' was never closed", 1));
    }
    Ok(out)
}

// ------------------------------------------------------------------ parse to a tree

enum E {
    Num(V),
    Unary(&'static str, Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    Tuple,
    Call(Box<E>, Option<Box<E>>),
}

struct P<'a> {
    t: &'a [(Tok, usize)],
    i: usize,
    /// Set when a syntax error is "invalid syntax. Perhaps you forgot a comma?".
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
            Tok::Int(v) => {
                self.i += 1;
                Some(E::Num(v))
            }
            Tok::Float(f) => {
                self.i += 1;
                Some(E::Num(V::Float(f)))
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
    /// An expression directly followed by another one inside brackets: the comma hint.
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

/// The float value of a number; `int too large to convert to float` for an `int` beyond `f64`.
fn as_f(v: V) -> Result<f64, String> {
    match v {
        V::Int(i) => Ok(i as f64),
        V::BigInt(f) if f.is_infinite() => Err("int too large to convert to float".into()),
        V::BigInt(f) | V::Float(f) => Ok(f),
        V::Tuple | V::Complex => Ok(f64::NAN),
    }
}

/// CPython's `float_floor_div` (divmod-based, signed zero).
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

fn float_pow(a: f64, b: f64) -> Result<V, String> {
    if a == 0.0 && b < 0.0 {
        return Err("0.0 cannot be raised to a negative power".into());
    }
    if a < 0.0 && b.fract() != 0.0 && b.is_finite() {
        return Ok(V::Complex);
    }
    let r = a.powf(b);
    if r.is_infinite() && a.is_finite() && b.is_finite() {
        return Err("(34, 'Numerical result out of range')".into());
    }
    Ok(V::Float(r))
}

/// `int op int` where at least one side is beyond `i128` (or the exact result is): in floats.
fn big_int_op(o: &str, x: f64, y: f64) -> Result<V, String> {
    match o {
        "+" => Ok(int_of(x + y)),
        "-" => Ok(int_of(x - y)),
        "*" => Ok(int_of(x * y)),
        "/" => {
            if y == 0.0 {
                return Err("division by zero".into());
            }
            if x.is_infinite() {
                return Err("integer division result too large for a float".into());
            }
            Ok(V::Float(x / y))
        }
        "//" => {
            if y == 0.0 {
                return Err("integer division or modulo by zero".into());
            }
            Ok(int_of(py_floor_div(x, y)))
        }
        _ => {
            if y < 0.0 {
                if x.is_infinite() || y.is_infinite() {
                    return Err("int too large to convert to float".into());
                }
                float_pow(x, y)
            } else {
                Ok(int_of(x.powf(y)))
            }
        }
    }
}

fn binop(o: &'static str, a: V, b: V) -> Result<V, String> {
    use V::*;
    let unsupported = |sym: &str| Err(format!("unsupported operand type(s) for {sym}: '{}' and '{}'", a.tname(), b.tname()));
    match (a, b) {
        (Tuple, Tuple) if o == "+" => Ok(Tuple),
        (Tuple, Int(_) | BigInt(_)) | (Int(_) | BigInt(_), Tuple) if o == "*" => Ok(Tuple),
        (Tuple, _) | (_, Tuple) => {
            if o == "**" {
                unsupported("** or pow()")
            } else {
                unsupported(o)
            }
        }
        (Complex, _) | (_, Complex) => Ok(Complex),
        (Int(x), Int(y)) => match o {
            "+" => Ok(x.checked_add(y).map(Int).unwrap_or_else(|| int_of(x as f64 + y as f64))),
            "-" => Ok(x.checked_sub(y).map(Int).unwrap_or_else(|| int_of(x as f64 - y as f64))),
            "*" => Ok(x.checked_mul(y).map(Int).unwrap_or_else(|| int_of(x as f64 * y as f64))),
            "/" => {
                if y == 0 {
                    Err("division by zero".into())
                } else {
                    Ok(Float(x as f64 / y as f64))
                }
            }
            "//" => {
                if y == 0 {
                    return Err("integer division or modulo by zero".into());
                }
                match (x.checked_div(y), x.checked_rem(y)) {
                    (Some(q), Some(r)) => Ok(Int(if r != 0 && ((x < 0) != (y < 0)) { q - 1 } else { q })),
                    _ => big_int_op(o, x as f64, y as f64),
                }
            }
            _ => {
                if y < 0 {
                    float_pow(x as f64, y as f64)
                } else if let Some(r) = u32::try_from(y).ok().and_then(|e| x.checked_pow(e)) {
                    Ok(Int(r))
                } else {
                    big_int_op(o, x as f64, y as f64)
                }
            }
        },
        (Int(_) | BigInt(_), Int(_) | BigInt(_)) => big_int_op(o, as_f(a).unwrap_or(f64::INFINITY), as_f(b).unwrap_or(f64::INFINITY)),
        _ => {
            let (x, y) = (as_f(a)?, as_f(b)?);
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
        E::Num(v) => Ok(*v),
        E::Tuple => Ok(V::Tuple),
        E::Unary(o, x) => {
            let v = eval(x)?;
            match v {
                V::Int(i) if *o == "-" => Ok(i.checked_neg().map(V::Int).unwrap_or_else(|| int_of(-(i as f64)))),
                V::BigInt(f) if *o == "-" => Ok(V::BigInt(-f)),
                V::Float(f) if *o == "-" => Ok(V::Float(-f)),
                V::Tuple => Err(format!("bad operand type for unary {o}: 'tuple'")),
                _ => Ok(v),
            }
        }
        E::Bin(o, a, b) => {
            let x = eval(a)?;
            let y = eval(b)?;
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

/// `float(eval(s, {"__builtins__": None}, {}))` for a string made of [`ALLOWED`] characters;
/// `Err` is the exception's text (`str(e)`).
pub fn eval_float(s: &str) -> Result<f64, String> {
    let s = s.trim_start_matches([' ', '\t']);
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(syntax("invalid syntax", 0));
    }
    let mut p = P { t: &toks, i: 0, comma_hint: false };
    let e = match p.expr() {
        Some(e) if p.i == toks.len() => e,
        _ => {
            if !p.comma_hint && toks.get(p.i).is_some_and(|t| t.1 > 0) {
                p.juxtaposed();
            }
            return Err(syntax(
                if p.comma_hint { "invalid syntax. Perhaps you forgot a comma?" } else { "invalid syntax" },
                1,
            ));
        }
    };
    match eval(&e)? {
        v @ (V::Int(_) | V::BigInt(_) | V::Float(_)) => as_f(v),
        v => Err(format!("float() argument must be a string or a real number, not '{}'", v.tname())),
    }
}

/// The whole tool on its raw argument: the character filter (which iterates the argument,
/// so lists and dicts reach `eval()` and fail there), then `str(round(float(eval(..)), 2))`.
/// `Err` is the exception's text.
pub fn calculate(expression: &Value) -> Result<String, String> {
    match expression {
        Value::String(s) => {
            if !s.chars().all(|c| ALLOWED.contains(c)) {
                return Err("Invalid characters in expression".into());
            }
            Ok(float_repr(round2(eval_float(s)?)))
        }
        _ => {
            for x in iterate(expression).map_err(|e| e.message)?.iter() {
                match &x {
                    Value::String(s) => {
                        if !ALLOWED.contains(s.as_str()) {
                            return Err("Invalid characters in expression".into());
                        }
                    }
                    other => {
                        return Err(format!(
                            "'in <string>' requires string as left operand, not {}",
                            type_name(other)
                        ))
                    }
                }
            }
            Err("eval() arg 1 must be a string, bytes or code object".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::calculate;
    use serde_json::json;

    /// Recorded with CPython 3.12.1 (`str(round(float(eval(e, {"__builtins__": None}, {})), 2))`).
    #[test]
    fn cpython_vectors() {
        for (e, want) in [
            ("2 * ((350 - 122) + (499 - 127))", Ok("1200.0")),
            ("2**2**3", Ok("256.0")),
            ("-2**2", Ok("-4.0")),
            ("1.", Ok("1.0")),
            ("10 / 3", Ok("3.33")),
            ("7 // -2", Ok("-4.0")),
            ("-0.0//1", Ok("-0.0")),
            ("2**200", Ok("1.6069380442589903e+60")),
            ("10**40/10**39", Ok("10.0")),
            ("99999999999999999999999999999999999999999", Ok("1e+41")),
            ("1/(10**400)", Ok("0.0")),
            ("-(-(2**126)*2)", Ok("1.7014118346046923e+38")),
            ("(-(2**126)*2)//-1", Ok("1.7014118346046923e+38")),
            ("()+()", Err("float() argument must be a string or a real number, not 'tuple'")),
            ("(-1)**0.5+1", Err("float() argument must be a string or a real number, not 'complex'")),
            ("(1 2)", Err("invalid syntax. Perhaps you forgot a comma? (<string>, line 1)")),
            ("2 3", Err("invalid syntax (<string>, line 1)")),
            ("", Err("invalid syntax (<string>, line 0)")),
            ("(1", Err("'(' was never closed (<string>, line 1)")),
            ("1)", Err("unmatched ')' (<string>, line 1)")),
            ("10**400*1.5", Err("int too large to convert to float")),
            ("99999999999999999999999999999999999999999 // 0", Err("integer division or modulo by zero")),
            ("(10**40)/0", Err("division by zero")),
            ("3(4)", Err("'int' object is not callable")),
            ("1e5", Err("Invalid characters in expression")),
        ] {
            let got = calculate(&json!(e));
            assert_eq!(got.as_deref(), want.map_err(String::from).as_deref(), "{e:?}");
        }
        assert_eq!(calculate(&json!(7)).unwrap_err(), "'int' object is not iterable");
        assert_eq!(calculate(&json!(["1"])).unwrap_err(), "eval() arg 1 must be a string, bytes or code object");
    }
}
