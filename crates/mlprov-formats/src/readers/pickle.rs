//! A restricted pickle reader for PyTorch checkpoints and TorchScript archives.
//!
//! Written by hand because no crate both parses protocols 2-5 safely and exposes the
//! structure: `serde-pickle` rejects GLOBAL/REDUCE outright, which every state dict
//! needs (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`).
//!
//! Nothing is ever executed. GLOBAL resolves only against an allow-list, and each
//! allowed name becomes plain data: a call to a tensor-rebuild function becomes a
//! [`TensorRef`], a persistent id becomes a [`StorageRef`], a TorchScript class
//! instance becomes an [`Obj::Object`] record. Any other global is an error naming it.
//!
//! Containers live in an arena and values refer to them by index, so memoized objects
//! keep pickle's sharing semantics, clones are cheap, and dropping a deeply nested
//! structure recurses nowhere. Memo size, stack depth and the total number of items are
//! bounded; every length is checked against the remaining bytes before allocating.

use std::collections::HashMap;
use std::rc::Rc;

mod machine;
mod value;

use machine::Machine;

pub(crate) use value::{
    error_kind, Finding, Global, Obj, PickleError, Policy, TensorRef, Unpickled, Value,
};

use value::{describe, long_value};

/// At most this many memo entries.
const MAX_MEMO: usize = 1 << 22;
/// At most this many values on the stack (including marked ones).
const MAX_STACK: usize = 1 << 20;
/// At most this many arena objects plus container items in one pickle.
const MAX_ITEMS: usize = 1 << 24;
/// Longest GLOBAL/PERSID text line.
const MAX_LINE: usize = 1024;

/// Unpickles `data` under `policy`.
pub(crate) fn unpickle(data: &[u8], policy: Policy) -> Result<Unpickled, PickleError> {
    unpickle_prefix(data, policy).map(|(u, _)| u)
}

/// Unpickles the pickle at the start of `data` and returns where it stopped (the legacy
/// `torch.save` format writes several pickles back to back).
///
/// A pickle that names a global outside the allow-list fails with a [`Finding`] naming
/// it, whether or not the rest of it parses: the opcode that would call it if one does,
/// else the opcode that named it (importing a module runs its code too).
pub(crate) fn unpickle_prefix(
    data: &[u8],
    policy: Policy,
) -> Result<(Unpickled, usize), PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        op_pos: 0,
        policy,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        items: 0,
        foreign: None,
    };
    let result = m.run();
    match (result, m.foreign.take()) {
        (Err(e), _) if e.finding.is_some() => Err(e),
        (_, Some(finding)) => Err(PickleError {
            pos: m.op_pos,
            msg: format!("would run `{}` when loaded", finding.global),
            finding: Some(finding),
        }),
        (Err(e), None) => Err(e),
        (Ok(root), None) => Ok((Unpickled { objs: m.objs, root }, m.pos)),
    }
}

impl Machine<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            pos: self.op_pos,
            msg: msg.into(),
            finding: None,
        })
    }

    /// The security finding: `global` would be called by `opcode`.
    fn finding<T>(&self, global: &str, opcode: &'static str) -> Result<T, PickleError> {
        Err(PickleError {
            pos: self.op_pos,
            msg: format!("would run `{global}` when loaded ({opcode})"),
            finding: Some(Finding {
                global: global.to_string(),
                opcode,
            }),
        })
    }

    /// Fails with a finding if `v` is a global outside the allow-list that `opcode` calls.
    fn refuse_call(&self, v: &Value, opcode: &'static str) -> Result<(), PickleError> {
        match v {
            Value::Global(Global::Foreign(g, _)) => self.finding(g, opcode),
            _ => Ok(()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let remaining = self.data.len() - self.pos;
        if n > remaining {
            return self.err(format!(
                "needs {n} bytes but only {remaining} remain (truncated pickle)"
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length field followed by that many bytes; the length is checked first.
    fn counted(&mut self, len: u64) -> Result<&[u8], PickleError> {
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(n)
    }

    fn line(&mut self) -> Result<&str, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().take(MAX_LINE).position(|&b| b == b'\n') else {
            return self.err("text line is unterminated or longer than 1024 bytes");
        };
        self.pos += n + 1;
        match std::str::from_utf8(&rest[..n]) {
            Ok(s) => Ok(s),
            Err(_) => self.err("text line is not UTF-8"),
        }
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return self.err(format!("stack deeper than {MAX_STACK} values"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.err("stack underflow");
        }
        self.stack
            .pop()
            .map_or_else(|| self.err("stack underflow"), Ok)
    }

    fn top(&self) -> Result<&Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.err("stack underflow");
        }
        self.stack
            .last()
            .map_or_else(|| self.err("stack underflow"), Ok)
    }

    /// Pops everything above the last MARK, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.marks.pop() else {
            return self.err("no MARK on the stack");
        };
        Ok(self.stack.split_off(m))
    }

    fn count(&mut self, n: usize) -> Result<(), PickleError> {
        self.items = self.items.saturating_add(n);
        if self.items > MAX_ITEMS {
            return self.err(format!("more than {MAX_ITEMS} objects and items"));
        }
        Ok(())
    }

    fn alloc(&mut self, o: Obj) -> Result<Value, PickleError> {
        let n = match &o {
            Obj::List(v) | Obj::Tuple(v) => v.len(),
            Obj::Dict(v) => v.len(),
            _ => 0,
        };
        self.count(n + 1)?;
        self.objs.push(o);
        Ok(Value::Ref(self.objs.len() - 1))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return self.err(format!("memo larger than {MAX_MEMO} entries"));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(v) => {
                let v = v.clone();
                self.push(v)
            }
            None => self.err(format!(
                "memo index {key} is not set ({} entries)",
                self.memo.len()
            )),
        }
    }

    fn text(&self, b: &[u8]) -> Value {
        Value::Str(Rc::from(String::from_utf8_lossy(b).as_ref()))
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("pickle protocol {p} is newer than 5"));
                    }
                }
                0x95 => {
                    // FRAME: a hint; the framed bytes follow inline.
                    self.arr::<8>()?;
                }
                b'.' => {
                    // STOP
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => {
                    if self.marks.len() >= MAX_STACK {
                        return self.err("too many MARKs");
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.arr()?);
                    self.push(Value::Int(v.into()))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.arr()?);
                    self.push(Value::Int(v.into()))?;
                }
                0x8a | 0x8b => {
                    // LONG1 / LONG4: little-endian two's complement.
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        let n = i32::from_le_bytes(self.arr()?);
                        if n < 0 {
                            return self.err("LONG4 with a negative length");
                        }
                        n as u64
                    };
                    let b = self.counted(n)?;
                    let v = long_value(b);
                    self.push(v)?;
                }
                b'I' | b'L' => {
                    // Text INT/LONG (protocol 0); "I01"/"I00" are booleans.
                    let l = self.line()?.trim_end_matches('L').to_string();
                    let v = match l.as_str() {
                        "01" if op == b'I' => Value::Bool(true),
                        "00" if op == b'I' => Value::Bool(false),
                        s => match s.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            Err(_) => Value::BigInt,
                        },
                    };
                    self.push(v)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.arr()?);
                    self.push(Value::Float(v))?;
                }
                b'F' => {
                    let l = self.line()?;
                    let v = l.trim().parse::<f64>().ok();
                    match v {
                        Some(f) => self.push(Value::Float(f))?,
                        None => return self.err("malformed FLOAT"),
                    }
                }
                b'X' | 0x8c | 0x8d | b'U' | b'T' | b'V' => {
                    let n = match op {
                        b'X' => u64::from(u32::from_le_bytes(self.arr()?)),
                        0x8c | b'U' => u64::from(self.u8()?),
                        0x8d => u64::from_le_bytes(self.arr()?),
                        b'T' => {
                            let n = i32::from_le_bytes(self.arr()?);
                            if n < 0 {
                                return self.err("BINSTRING with a negative length");
                            }
                            n as u64
                        }
                        _ => {
                            let l = self.line()?.to_string();
                            let v = self.text(l.as_bytes());
                            self.push(v)?;
                            continue;
                        }
                    };
                    let b = self.counted(n)?;
                    let v = Value::Str(Rc::from(String::from_utf8_lossy(b).as_ref()));
                    self.push(v)?;
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => u64::from(u32::from_le_bytes(self.arr()?)),
                        b'C' => u64::from(self.u8()?),
                        _ => u64::from_le_bytes(self.arr()?),
                    };
                    let b = self.counted(n)?;
                    let v = Value::Bytes(Rc::from(b));
                    self.push(v)?;
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Vec::new()))?;
                    self.push(v)?;
                }
                b']' | 0x8f => {
                    let v = self.alloc(Obj::List(Vec::new()))?;
                    self.push(v)?;
                }
                b')' => {
                    let v = self.alloc(Obj::Tuple(Vec::new()))?;
                    self.push(v)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return self.err("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let v = self.alloc(Obj::Tuple(items))?;
                    self.push(v)?;
                }
                b't' | b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    let o = if op == b't' {
                        Obj::Tuple(items)
                    } else {
                        Obj::List(items)
                    };
                    let v = self.alloc(o)?;
                    self.push(v)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let v = self.alloc(Obj::Dict(pairs))?;
                    self.push(v)?;
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    let pairs = self.pairs(items)?;
                    self.count(pairs.len())?;
                    let target = self.top()?.clone();
                    match self.obj_mut(&target) {
                        Some(Obj::Dict(d)) => d.extend(pairs),
                        _ => return self.err("SETITEM(S) on something that is not a dict"),
                    }
                }
                b'a' | b'e' | 0x90 => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    self.count(items.len())?;
                    let target = self.top()?.clone();
                    match self.obj_mut(&target) {
                        Some(Obj::List(l)) => l.extend(items),
                        _ => return self.err("APPEND(S) on something that is not a list"),
                    }
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(k.into())?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.arr()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(k)?;
                }
                b'p' | b'g' => {
                    let k = self.line()?.trim().parse::<u32>().ok();
                    let Some(k) = k else {
                        return self.err("malformed PUT/GET index");
                    };
                    if op == b'p' {
                        self.memo_put(k)?;
                    } else {
                        self.memo_get(k)?;
                    }
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(k.into())?;
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.arr()?);
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let g = self.resolve(&module, &name, "GLOBAL")?;
                    self.push(g)?;
                }
                b'i' => {
                    // INST: module and name inline, arguments above the MARK; calls it.
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let g = self.resolve(&module, &name, "INST")?;
                    self.refuse_call(&g, "INST")?;
                    let args = self.pop_mark()?;
                    let v = self.instantiate(g, args)?;
                    self.push(v)?;
                }
                b'o' => {
                    // OBJ: class and arguments above the MARK; calls the class.
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return self.err("OBJ without a class");
                    }
                    let cls = items.remove(0);
                    self.refuse_call(&cls, "OBJ")?;
                    let v = self.instantiate(cls, items)?;
                    self.push(v)?;
                }
                0x82..=0x84 => {
                    // EXT1/2/4: a global from copyreg's extension registry, which this
                    // reader cannot see; PyTorch never writes them.
                    let (code, opcode) = match op {
                        0x82 => (u32::from(self.u8()?), "EXT1"),
                        0x83 => (u32::from(u16::from_le_bytes(self.arr()?)), "EXT2"),
                        _ => (u32::from_le_bytes(self.arr()?), "EXT4"),
                    };
                    return self.finding(&format!("copyreg extension {code}"), opcode);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return self.err("STACK_GLOBAL needs two strings");
                    };
                    let g = self.resolve(&module, &name, "STACK_GLOBAL")?;
                    self.push(g)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.refuse_call(&func, "REDUCE")?;
                    let v = self.reduce(func, args)?;
                    self.push(v)?;
                }
                0x81 | 0x92 => {
                    // NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args[, **kwargs])
                    if op == 0x92 {
                        self.pop()?;
                    }
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.refuse_call(&cls, if op == 0x81 { "NEWOBJ" } else { "NEWOBJ_EX" })?;
                    let v = match cls {
                        Value::Global(Global::TorchClass(class)) => self.alloc(Obj::Object {
                            class,
                            args,
                            state: Value::None,
                        })?,
                        Value::Global(Global::OrderedDict) => self.alloc(Obj::Dict(Vec::new()))?,
                        other => {
                            return self.err(format!("NEWOBJ of {}", describe(&other)));
                        }
                    };
                    self.push(v)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?.clone();
                    match self.obj_mut(&target) {
                        Some(Obj::Object { state: s, .. }) => *s = state,
                        // OrderedDict's __dict__ (torch's `_metadata`) and tensor
                        // attributes carry nothing we read.
                        Some(Obj::Dict(_) | Obj::Tensor(_)) => {}
                        _ => return self.err(format!("BUILD on {}", describe(&target))),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(&pid)?;
                    self.push(v)?;
                }
                b'P' => {
                    return self.err("text persistent ids (PERSID) are not used by PyTorch");
                }
                other => {
                    return self.err(format!("unsupported pickle opcode 0x{other:02x}"));
                }
            }
        }
    }

    /// INST/OBJ of an allow-listed class: only TorchScript classes become records.
    fn instantiate(&mut self, cls: Value, args: Vec<Value>) -> Result<Value, PickleError> {
        match cls {
            Value::Global(Global::TorchClass(class)) => {
                let args = self.alloc(Obj::Tuple(args))?;
                self.alloc(Obj::Object {
                    class,
                    args,
                    state: Value::None,
                })
            }
            other => self.err(format!("INST/OBJ of {}", describe(&other))),
        }
    }

    fn obj_mut(&mut self, v: &Value) -> Option<&mut Obj> {
        match v {
            Value::Ref(id) => self.objs.get_mut(*id),
            _ => None,
        }
    }

    fn pairs(&self, items: Vec<Value>) -> Result<Vec<(Value, Value)>, PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.err("odd number of items for a dict");
        }
        let mut it = items.into_iter();
        let mut out = Vec::with_capacity(it.len() / 2);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }
}

mod torch_globals;

#[cfg(test)]
mod tests;
