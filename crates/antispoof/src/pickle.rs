//! A minimal, strict reader of Python pickles: enough for PyTorch checkpoints (protocols 2-4), nothing that
//! runs code. `GLOBAL` names are returned as data, never resolved; the caller interprets the few it knows.
//! Every read is bounds-checked and the memo and stack are limited, so hostile input is an error, not a panic.

use std::collections::HashMap;

use crate::error::PthError;

/// A pickled value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Key-value pairs in insertion order (dicts and `OrderedDict`s).
    Dict(Vec<(Value, Value)>),
    /// A `module.name` reference (not resolved).
    Global(String, String),
    /// `callable(*args)`, for callables other than those interpreted on the fly.
    Call(Box<Value>, Box<Value>),
    /// A persistent id (PyTorch: a storage reference).
    Persistent(Box<Value>),
}

const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PthError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(PthError::Truncated)?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, PthError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PthError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, PthError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, PthError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn line(&mut self) -> Result<String, PthError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or(PthError::Truncated)?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| PthError::Pickle("a GLOBAL name is not UTF-8".into()))?;
        self.pos += n + 1;
        Ok(s.to_string())
    }
    fn utf8(&mut self, n: usize) -> Result<String, PthError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| PthError::Pickle("a string is not UTF-8".into()))
    }
}

enum Slot {
    Mark,
    Value(Value),
}

/// Reads one pickle from the start of `data`; returns the value and how many bytes it took.
pub fn load(data: &[u8]) -> Result<(Value, usize), PthError> {
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let bad = |m: &str| PthError::Pickle(m.to_string());
    loop {
        if stack.len() > MAX_STACK || memo.len() > MAX_MEMO {
            return Err(bad("the pickle is too large"));
        }
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.u64()?; // FRAME: a length hint
            }
            b'.' => {
                let top = pop(&mut stack)?;
                return Ok((top, r.pos));
            }
            b'(' => stack.push(Slot::Mark),
            b'N' => stack.push(Slot::Value(Value::None)),
            0x88 => stack.push(Slot::Value(Value::Bool(true))),
            0x89 => stack.push(Slot::Value(Value::Bool(false))),
            b'}' => stack.push(Slot::Value(Value::Dict(Vec::new()))),
            b']' => stack.push(Slot::Value(Value::List(Vec::new()))),
            b')' => stack.push(Slot::Value(Value::Tuple(Vec::new()))),
            b'K' => stack.push(Slot::Value(Value::Int(i64::from(r.u8()?)))),
            b'M' => stack.push(Slot::Value(Value::Int(i64::from(r.u16()?)))),
            b'J' => stack.push(Slot::Value(Value::Int(i64::from(r.u32()? as i32)))),
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = usize::from(r.u8()?);
                let bytes = r.take(n)?;
                if n > 8 {
                    // Only the checkpoint's magic number is this long; keep its low 8 bytes.
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&bytes[..8]);
                    stack.push(Slot::Value(Value::Int(i64::from_le_bytes(b))));
                } else {
                    let mut b = if bytes.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0u8; 8] };
                    b[..n].copy_from_slice(bytes);
                    stack.push(Slot::Value(Value::Int(i64::from_le_bytes(b))));
                }
            }
            b'G' => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(Slot::Value(Value::Float(f64::from_be_bytes(a))));
            }
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Slot::Value(Value::Str(r.utf8(n)?)));
            }
            0x8c => {
                let n = usize::from(r.u8()?);
                stack.push(Slot::Value(Value::Str(r.utf8(n)?)));
            }
            b'T' | b'B' => {
                let n = r.u32()? as usize;
                stack.push(Slot::Value(Value::Bytes(r.take(n)?.to_vec())));
            }
            b'U' | b'C' => {
                let n = usize::from(r.u8()?);
                stack.push(Slot::Value(Value::Bytes(r.take(n)?.to_vec())));
            }
            b'q' => {
                let i = u32::from(r.u8()?);
                memo.insert(i, peek(&stack)?.clone());
            }
            b'r' => {
                let i = r.u32()?;
                memo.insert(i, peek(&stack)?.clone());
            }
            0x94 => {
                let i = memo.len() as u32;
                memo.insert(i, peek(&stack)?.clone());
            }
            b'h' => {
                let i = u32::from(r.u8()?);
                stack.push(Slot::Value(memo.get(&i).cloned().ok_or_else(|| bad("BINGET of an unset memo slot"))?));
            }
            b'j' => {
                let i = r.u32()?;
                stack.push(Slot::Value(memo.get(&i).cloned().ok_or_else(|| bad("LONG_BINGET of an unset memo slot"))?));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Slot::Value(Value::Tuple(items)));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if stack.len() < n {
                    return Err(bad("TUPLEn on a short stack"));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                stack.push(Slot::Value(Value::Tuple(items)));
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Slot::Value(Value::List(items)));
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match top_mut(&mut stack)? {
                    Value::List(l) => l.push(v),
                    _ => return Err(bad("APPEND to a non-list")),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match top_mut(&mut stack)? {
                    Value::List(l) => l.extend(items),
                    _ => return Err(bad("APPENDS to a non-list")),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match top_mut(&mut stack)? {
                    Value::Dict(d) => d.push((k, v)),
                    _ => return Err(bad("SETITEM on a non-dict")),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if items.len() % 2 != 0 {
                    return Err(bad("SETITEMS with an odd number of items"));
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                match top_mut(&mut stack)? {
                    Value::Dict(d) => d.extend(pairs),
                    _ => return Err(bad("SETITEMS on a non-dict")),
                }
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Slot::Value(Value::Global(module, name)));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Slot::Value(Value::Global(m, n))),
                    _ => return Err(bad("STACK_GLOBAL of non-strings")),
                }
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let func = pop(&mut stack)?;
                stack.push(Slot::Value(reduce(func, args)));
            }
            b'b' => {
                // BUILD: sets an object's state. The only object PyTorch builds here is the state dict's
                // `OrderedDict` (its `_metadata`), which carries nothing the networks need.
                pop(&mut stack)?;
                peek(&stack)?;
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(Slot::Value(Value::Persistent(Box::new(pid))));
            }
            other => return Err(PthError::Pickle(format!("unsupported pickle opcode 0x{other:02x}"))),
        }
    }
}

/// `collections.OrderedDict()` becomes an empty dict at once; other calls stay as data.
fn reduce(func: Value, args: Value) -> Value {
    match (&func, &args) {
        (Value::Global(m, n), Value::Tuple(a)) if m == "collections" && n == "OrderedDict" && a.is_empty() => {
            Value::Dict(Vec::new())
        }
        _ => Value::Call(Box::new(func), Box::new(args)),
    }
}

fn pop(stack: &mut Vec<Slot>) -> Result<Value, PthError> {
    match stack.pop() {
        Some(Slot::Value(v)) => Ok(v),
        Some(Slot::Mark) => Err(PthError::Pickle("a mark where a value was expected".into())),
        None => Err(PthError::Pickle("pop from an empty stack".into())),
    }
}

fn peek(stack: &[Slot]) -> Result<&Value, PthError> {
    match stack.last() {
        Some(Slot::Value(v)) => Ok(v),
        _ => Err(PthError::Pickle("no value on the stack".into())),
    }
}

fn top_mut(stack: &mut [Slot]) -> Result<&mut Value, PthError> {
    match stack.last_mut() {
        Some(Slot::Value(v)) => Ok(v),
        _ => Err(PthError::Pickle("no value on the stack".into())),
    }
}

fn pop_mark(stack: &mut Vec<Slot>) -> Result<Vec<Value>, PthError> {
    let mark = stack
        .iter()
        .rposition(|s| matches!(s, Slot::Mark))
        .ok_or_else(|| PthError::Pickle("no mark on the stack".into()))?;
    let items = stack
        .drain(mark + 1..)
        .map(|s| match s {
            Slot::Value(v) => v,
            Slot::Mark => Value::None,
        })
        .collect();
    stack.pop();
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_pickles() {
        // pickle.dumps({"a": [1, -2, 3.5], "b": (True, None, "é")}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03\x88NX\x02\x00\x00\x00\xc3\xa9q\x04\x87q\x05u.";
        let (v, used) = load(data).unwrap();
        assert_eq!(used, data.len());
        assert_eq!(
            v,
            Value::Dict(vec![
                (Value::Str("a".into()), Value::List(vec![Value::Int(1), Value::Int(-2), Value::Float(3.5)])),
                (Value::Str("b".into()), Value::Tuple(vec![Value::Bool(true), Value::None, Value::Str("é".into())])),
            ])
        );
    }

    #[test]
    fn hostile_pickles_are_errors() {
        for bad in [
            &b""[..],
            b"\x80\x02",
            b"\x80\x02h\x05.",
            b"\x80\x02X\xff\xff\xff\xff",
            b"\x80\x02u.",
            b"\x80\x02\xff.",
            b"\x80\x02a.",
        ] {
            assert!(load(bad).is_err(), "{bad:?}");
        }
    }
}
