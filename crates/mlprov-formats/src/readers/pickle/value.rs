//! The data a pickle becomes: values, arena objects, the allow-listed globals, and why a
//! pickle was refused.

use std::rc::Rc;

use crate::dtype::DType;
use crate::error::ErrorKind;

/// Why a pickle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PickleError {
    /// Offset of the opcode that failed.
    pub pos: usize,
    /// What was wrong.
    pub msg: String,
    /// Set when the pickle names code to run: a security finding, not a damaged file.
    pub finding: Option<Finding>,
}

/// A global outside the allow-list that loading the pickle would import and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// `module.name` (or `copyreg extension N` for an EXT opcode).
    pub global: String,
    /// The opcode that would call it (`REDUCE`, `INST`, `OBJ`, `NEWOBJ`…), or the one
    /// that named it (`GLOBAL`, `STACK_GLOBAL`) when nothing calls it.
    pub opcode: &'static str,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pickle byte {})", self.msg, self.pos)
    }
}

/// Index of an object in [`Unpickled::objs`].
pub(crate) type ObjId = usize;

/// A pickled value. Containers and records are [`Value::Ref`]s into the arena.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits (its value is never needed).
    BigInt,
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// An allow-listed global, not yet applied.
    Global(Global),
    /// A `torch.<dtype>` object.
    DType(DType),
    Ref(ObjId),
}

/// The globals we accept, each standing for plain data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    /// `_rebuild_tensor_v3`: an untyped (byte) storage plus an explicit dtype.
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// `torch.Tensor` / `torch.nn.Parameter` as a type argument.
    TensorType,
    /// A storage class: `torch.FloatStorage` and friends.
    StorageType(DType),
    /// `torch.jit._pickle.restore_type_tag(value, type)`: the value.
    RestoreTypeTag,
    /// `torch.jit._pickle.build_*list(list)`: the list.
    BuildList,
    /// `torch.device(...)`: its text.
    Device,
    /// `_codecs.encode(text, "latin1")`: how protocol 2 pickles `bytes`.
    CodecsEncode,
    /// A TorchScript class (`__torch__.…`), instantiated into a record.
    TorchClass(Rc<str>),
    /// Any other global (`module.name`), with the opcode that named it. Never resolved or
    /// called: calling it is a security finding, and so is a pickle that names one at all.
    Foreign(Rc<str>, &'static str),
}

/// A storage named by a persistent id `('storage', type, key, location, numel)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageRef {
    pub dtype: DType,
    pub key: String,
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` would build it: a window onto a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// An arena object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Storage(StorageRef),
    Tensor(TensorRef),
    /// An instance of a TorchScript class: its constructor arguments and its BUILD state
    /// (for modules, a dict of attributes).
    Object {
        class: Rc<str>,
        args: Value,
        state: Value,
    },
}

/// Which globals a pickle may name beyond the state-dict ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Accept any `__torch__.*` class (TorchScript archives).
    pub torchscript_classes: bool,
}

/// The result of unpickling: the arena and the root value.
#[derive(Debug)]
pub(crate) struct Unpickled {
    pub objs: Vec<Obj>,
    pub root: Value,
}

impl Unpickled {
    /// The object `v` refers to, if it is a reference.
    pub fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Ref(id) => self.objs.get(*id),
            _ => None,
        }
    }
}

/// A short description of a value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Global(Global::TorchClass(c)) => format!("class `{c}`"),
        Value::Global(Global::Foreign(g, _)) => format!("global `{g}`"),
        Value::Global(g) => format!("global {g:?}"),
        Value::Ref(_) => "a container".to_string(),
        other => format!("{other:?}"),
    }
}

/// A refused pickle as an error of `format`, with `context` (the member) in front; a
/// security finding stays one.
pub(crate) fn error_kind(e: PickleError, format: &'static str, context: &str) -> ErrorKind {
    match e.finding {
        Some(Finding { global, opcode }) => ErrorKind::CodeExecution { global, opcode },
        None => ErrorKind::InvalidHeader {
            format,
            detail: if context.is_empty() {
                e.to_string()
            } else {
                format!("{context}: {e}")
            },
        },
    }
}

/// LONG1/LONG4 bytes: little-endian two's complement.
pub(crate) fn long_value(b: &[u8]) -> Value {
    if b.len() > 8 {
        return Value::BigInt;
    }
    let negative = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut a = if negative { [0xffu8; 8] } else { [0u8; 8] };
    a[..b.len()].copy_from_slice(b);
    Value::Int(i64::from_le_bytes(a))
}
