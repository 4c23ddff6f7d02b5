//! `calculate`: `str(round(float(eval(expression, {"__builtins__": None}, {})), 2))` for the
//! characters the tool admits (`0123456789+-*/(). `), with Python's number semantics and
//! exception texts.

use eigenbox_sdk::pyjson;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    Plus,
    Minus,
    Star,
    Pow,
    Slash,
    FloorDiv,
    LParen,
    RParen,
}

#[derive(Clone, Copy, Debug)]
enum V {
    I(i128),
    F(f64),
    /// `()`, the empty tuple.
    Tuple,
}

fn syntax(msg: &str, line: u32) -> String {
    format!("{msg} (<string>, line {line})")
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth: i32 = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => {
                i += 1;
            }
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let mut is_float = false;
                if i < b.len() && b[i] == b'.' {
                    is_float = true;
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let text = &s[start..i];
                if text == "." {
                    return Err(syntax("invalid syntax", 1));
                }
                if is_float {
                    let t = if text.ends_with('.') { format!("{text}0") } else { text.to_string() };
                    let t = if t.starts_with('.') { format!("0{t}") } else { t };
                    out.push(Tok::Float(t.parse::<f64>().map_err(|_| syntax("invalid syntax", 1))?));
                } else {
                    if text.len() > 1 && text.starts_with('0') && text.bytes().any(|d| d != b'0') {
                        return Err(syntax(
                            "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
                            1,
                        ));
                    }
                    match text.parse::<i128>() {
                        Ok(n) => out.push(Tok::Int(n)),
                        Err(_) => out.push(Tok::Float(text.parse::<f64>().unwrap_or(f64::INFINITY))),
                    }
                }
            }
            b'+' => {
                out.push(Tok::Plus);
                i += 1;
            }
            b'-' => {
                out.push(Tok::Minus);
                i += 1;
            }
            b'*' => {
                if b.get(i + 1) == Some(&b'*') {
                    out.push(Tok::Pow);
                    i += 2;
                } else {
                    out.push(Tok::Star);
                    i += 1;
                }
            }
            b'/' => {
                if b.get(i + 1) == Some(&b'/') {
                    out.push(Tok::FloorDiv);
                    i += 2;
                } else {
                    out.push(Tok::Slash);
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(syntax("unmatched ')'", 1));
                }
                out.push(Tok::RParen);
                i += 1;
            }
            _ => return Err(syntax("invalid syntax", 1)),
        }
    }
    if depth > 0 {
        return Err(syntax("'(' was never closed", 1));
    }
    Ok(out)
}

fn tname(v: V) -> &'static str {
    match v {
        V::I(_) => "int",
        V::F(_) => "float",
        V::Tuple => "tuple",
    }
}

fn f(v: V) -> f64 {
    match v {
        V::I(i) => i as f64,
        V::F(x) => x,
        V::Tuple => f64::NAN,
    }
}

fn unsupported(op: &str, a: V, b: V) -> String {
    format!("unsupported operand type(s) for {op}: '{}' and '{}'", tname(a), tname(b))
}

fn binop(op: Tok, a: V, b: V) -> Result<V, String> {
    let sym = match op {
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::FloorDiv => "//",
        _ => "** or pow()",
    };
    if matches!(a, V::Tuple) || matches!(b, V::Tuple) {
        return Err(unsupported(sym, a, b));
    }
    Ok(match (op, a, b) {
        (Tok::Plus, V::I(x), V::I(y)) => x.checked_add(y).map(V::I).unwrap_or(V::F(x as f64 + y as f64)),
        (Tok::Minus, V::I(x), V::I(y)) => x.checked_sub(y).map(V::I).unwrap_or(V::F(x as f64 - y as f64)),
        (Tok::Star, V::I(x), V::I(y)) => x.checked_mul(y).map(V::I).unwrap_or(V::F(x as f64 * y as f64)),
        (Tok::Plus, _, _) => V::F(f(a) + f(b)),
        (Tok::Minus, _, _) => V::F(f(a) - f(b)),
        (Tok::Star, _, _) => V::F(f(a) * f(b)),
        (Tok::Slash, _, _) => {
            if f(b) == 0.0 {
                return Err(match (a, b) {
                    (V::I(_), V::I(_)) => "division by zero".into(),
                    _ => "float division by zero".into(),
                });
            }
            match (a, b) {
                // Python's int / int is correctly rounded; exact for the magnitudes at hand.
                (V::I(x), V::I(y)) if x.unsigned_abs() < (1u128 << 53) && y.unsigned_abs() < (1u128 << 53) => {
                    V::F(x as f64 / y as f64)
                }
                _ => V::F(f(a) / f(b)),
            }
        }
        (Tok::FloorDiv, V::I(x), V::I(y)) => {
            if y == 0 {
                return Err("integer division or modulo by zero".into());
            }
            V::I(x.div_euclid(y) - if (x.rem_euclid(y) != 0) && y < 0 { 1 } else { 0 })
        }
        (Tok::FloorDiv, _, _) => {
            let (x, y) = (f(a), f(b));
            if y == 0.0 {
                return Err("float floor division by zero".into());
            }
            // CPython's float floor division: divmod-based.
            let m = x % y;
            let mut div = (x - m) / y;
            if m != 0.0 && ((y < 0.0) != (m < 0.0)) {
                div -= 1.0;
            }
            let fl = div.floor();
            V::F(if div - fl > 0.5 { fl + 1.0 } else { fl })
        }
        (_, V::I(x), V::I(y)) => {
            if y >= 0 {
                let acc: Option<i128>;
                if y <= u32::MAX as i128 {
                    acc = x.checked_pow(y as u32);
                } else if x != 0 && x != 1 && x != -1 {
                    acc = None;
                } else if x == -1 {
                    acc = Some(if y % 2 == 0 { 1 } else { -1 });
                } else {
                    acc = Some(x);
                }
                match acc {
                    Some(v) => V::I(v),
                    None => V::F((x as f64).powf(y as f64)),
                }
            } else {
                if x == 0 {
                    return Err("0.0 cannot be raised to a negative power".into());
                }
                V::F((x as f64).powf(y as f64))
            }
        }
        (_, _, _) => {
            let (x, y) = (f(a), f(b));
            if x == 0.0 && y < 0.0 {
                return Err("0.0 cannot be raised to a negative power".into());
            }
            if x < 0.0 && y.fract() != 0.0 {
                return Err("float() argument must be a string or a real number, not 'complex'".into());
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return Err("(34, 'Numerical result out of range')".into());
            }
            V::F(r)
        }
    })
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<Tok> {
        self.t.get(self.i).copied()
    }
    fn expr(&mut self) -> Result<V, String> {
        let mut a = self.term()?;
        while let Some(op @ (Tok::Plus | Tok::Minus)) = self.peek() {
            self.i += 1;
            let b = self.term()?;
            a = binop(op, a, b)?;
        }
        Ok(a)
    }
    fn term(&mut self) -> Result<V, String> {
        let mut a = self.factor()?;
        while let Some(op @ (Tok::Star | Tok::Slash | Tok::FloorDiv)) = self.peek() {
            self.i += 1;
            let b = self.factor()?;
            a = binop(op, a, b)?;
        }
        Ok(a)
    }
    fn factor(&mut self) -> Result<V, String> {
        match self.peek() {
            Some(Tok::Plus) => {
                self.i += 1;
                let v = self.factor()?;
                match v {
                    V::Tuple => Err("bad operand type for unary +: 'tuple'".into()),
                    v => Ok(v),
                }
            }
            Some(Tok::Minus) => {
                self.i += 1;
                match self.factor()? {
                    V::I(x) => Ok(V::I(-x)),
                    V::F(x) => Ok(V::F(-x)),
                    V::Tuple => Err("bad operand type for unary -: 'tuple'".into()),
                }
            }
            _ => self.power(),
        }
    }
    fn power(&mut self) -> Result<V, String> {
        let a = self.call()?;
        if self.peek() == Some(Tok::Pow) {
            self.i += 1;
            let b = self.factor()?;
            return binop(Tok::Pow, a, b);
        }
        Ok(a)
    }
    fn call(&mut self) -> Result<V, String> {
        let a = self.atom()?;
        if self.peek() == Some(Tok::LParen) {
            // `3(4)`: evaluate the arguments, then fail the call.
            self.i += 1;
            if self.peek() != Some(Tok::RParen) {
                self.expr()?;
            }
            self.i += 1;
            return Err(format!("'{}' object is not callable", tname(a)));
        }
        Ok(a)
    }
    fn atom(&mut self) -> Result<V, String> {
        match self.peek() {
            Some(Tok::Int(n)) => {
                self.i += 1;
                Ok(V::I(n))
            }
            Some(Tok::Float(x)) => {
                self.i += 1;
                Ok(V::F(x))
            }
            Some(Tok::LParen) => {
                self.i += 1;
                if self.peek() == Some(Tok::RParen) {
                    self.i += 1;
                    return Ok(V::Tuple);
                }
                let v = self.expr()?;
                if self.peek() != Some(Tok::RParen) {
                    return Err(syntax("invalid syntax", 1));
                }
                self.i += 1;
                Ok(v)
            }
            _ => Err(syntax("invalid syntax", 1)),
        }
    }
}

/// Syntax check: the grammar without evaluating (Python compiles before it runs).
fn check_syntax(t: &[Tok]) -> Result<(), String> {
    // operand expected / operator expected state machine
    let mut expect_operand = true;
    for (k, tok) in t.iter().enumerate() {
        match tok {
            Tok::Int(_) | Tok::Float(_) => {
                if !expect_operand {
                    return Err(syntax("invalid syntax", 1));
                }
                expect_operand = false;
            }
            Tok::Plus | Tok::Minus => {
                expect_operand = true;
            }
            Tok::Star | Tok::Pow | Tok::Slash | Tok::FloorDiv => {
                if expect_operand {
                    return Err(syntax("invalid syntax", 1));
                }
                expect_operand = true;
            }
            Tok::LParen => {
                // after an operand this is a call; fine syntactically
                if !expect_operand && k > 0 {
                    // call
                }
                expect_operand = true;
                if t.get(k + 1) == Some(&Tok::RParen) {
                    expect_operand = false;
                }
            }
            Tok::RParen => {
                if expect_operand && !(k > 0 && t[k - 1] == Tok::LParen) {
                    return Err(syntax("invalid syntax", 1));
                }
                expect_operand = false;
            }
        }
    }
    if expect_operand {
        return Err(syntax("invalid syntax", 1));
    }
    Ok(())
}

/// Python `round(x, 2)` (exact decimal value, ties to even).
fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let s = format!("{:.2}", x);
    s.parse::<f64>().unwrap_or(x)
}

/// Evaluate a checked expression the way the reference does; `Err` is the exception text.
pub fn calculate(expr: &str) -> Result<String, String> {
    let trimmed = expr.trim_start_matches([' ', '\t']);
    if trimmed.trim().is_empty() {
        return Err(syntax("invalid syntax", 0));
    }
    let toks = tokenize(trimmed)?;
    check_syntax(&toks)?;
    let mut p = P { t: toks, i: 0 };
    let v = p.expr()?;
    if p.i != p.t.len() {
        return Err(syntax("invalid syntax", 1));
    }
    let x = match v {
        V::I(i) => {
            let x = i as f64;
            if x.is_infinite() {
                return Err("int too large to convert to float".into());
            }
            x
        }
        V::F(x) => x,
        V::Tuple => return Err("float() argument must be a string or a real number, not 'tuple'".into()),
    };
    Ok(pyjson::float_repr(round2(x)))
}

#[cfg(test)]
mod tests {
    use super::calculate;
    #[test]
    fn python_semantics() {
        let ok = |e: &str, r: &str| assert_eq!(calculate(e).as_deref(), Ok(r), "{e}");
        let err = |e: &str, r: &str| assert_eq!(calculate(e), Err(r.to_string()), "{e}");
        ok("2 * ((350 - 122) + (499 - 127))", "1200.0");
        ok("2**2**3", "256.0");
        ok("-2**2", "-4.0");
        ok("1.", "1.0");
        ok("10 / 3", "3.33");
        ok("7 // -2", "-4.0");
        ok(" 1+1", "2.0");
        err("", "invalid syntax (<string>, line 0)");
        err("   ", "invalid syntax (<string>, line 0)");
        err("2 +", "invalid syntax (<string>, line 1)");
        err("(1", "'(' was never closed (<string>, line 1)");
        err("1)", "unmatched ')' (<string>, line 1)");
        err("2 3", "invalid syntax (<string>, line 1)");
        err("1/0", "division by zero");
        err("1.0/0", "float division by zero");
        err("1//0", "integer division or modulo by zero");
        err("0**-1", "0.0 cannot be raised to a negative power");
        err("()", "float() argument must be a string or a real number, not 'tuple'");
        err("3(4)", "'int' object is not callable");
        err("1.5.5", "invalid syntax (<string>, line 1)");
    }
}
