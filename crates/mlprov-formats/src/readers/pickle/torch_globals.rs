//! The allow-list: which globals a PyTorch pickle may name, and what each becomes as data.
//! Nothing here runs code; every accepted name maps to a value, a tensor or a record.

use std::rc::Rc;

use super::machine::Machine;
use super::value::{describe, Finding, Global, Obj, PickleError, StorageRef, TensorRef, Value};
use crate::dtype::DType;

impl Machine<'_> {
    /// Maps a GLOBAL to plain data, or refuses it by name.
    pub(super) fn resolve(
        &mut self,
        module: &str,
        name: &str,
        opcode: &'static str,
    ) -> Result<Value, PickleError> {
        let g = match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
            ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
            ("torch" | "torch._tensor", "Tensor") | ("torch.nn.parameter", "Parameter") => {
                Global::TensorType
            }
            ("torch.jit._pickle", "restore_type_tag") => Global::RestoreTypeTag,
            (
                "torch.jit._pickle",
                "build_intlist" | "build_tensorlist" | "build_doublelist" | "build_boollist",
            ) => Global::BuildList,
            ("torch", "device") => Global::Device,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("torch" | "torch.storage", "UntypedStorage") => Global::StorageType(DType::U8),
            ("torch", n) if n.ends_with("Storage") => match storage_dtype(n) {
                Some(d) => Global::StorageType(d),
                None => return self.err(format!("unsupported storage type `torch.{n}`")),
            },
            ("torch", n) if torch_dtype(n).is_some() => {
                return Ok(Value::DType(torch_dtype(n).unwrap_or(DType::U8)));
            }
            ("torch", n) if UNSUPPORTED_DTYPES.contains(&n) => {
                return self.err(format!("tensors of dtype `torch.{n}` are not supported"));
            }
            (m, n) if self.policy.torchscript_classes && is_torchscript_class(m) => {
                Global::TorchClass(Rc::from(format!("{m}.{n}").as_str()))
            }
            (m, n) => {
                // Not data we know: importing and calling it is what a malicious pickle
                // does. Kept as a value so the opcode that calls it can be reported.
                let global = format!("{m}.{n}");
                if self.foreign.is_none() {
                    self.foreign = Some(Finding {
                        global: global.clone(),
                        opcode,
                    });
                }
                Global::Foreign(Rc::from(global.as_str()), opcode)
            }
        };
        Ok(Value::Global(g))
    }

    /// Applies an allow-listed callable to its arguments, as data.
    pub(super) fn reduce(&mut self, func: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Global(g) = func else {
            return self.err(format!("REDUCE of {}", describe(&func)));
        };
        let args = match self.obj_ref(&args) {
            Some(Obj::Tuple(a)) => a.clone(),
            _ => return self.err("REDUCE arguments are not a tuple"),
        };
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::None);
        match g {
            Global::OrderedDict => {
                let mut pairs = Vec::new();
                if let Some(Obj::List(items)) = self.obj_ref(&arg(0)) {
                    for it in items.clone() {
                        match self.obj_ref(&it) {
                            Some(Obj::Tuple(kv) | Obj::List(kv)) if kv.len() == 2 => {
                                pairs.push((kv[0].clone(), kv[1].clone()))
                            }
                            _ => return self.err("OrderedDict items are not pairs"),
                        }
                    }
                }
                self.alloc(Obj::Dict(pairs))
            }
            Global::RebuildTensor | Global::RebuildTensorV2 => {
                let t = self.tensor(&args)?;
                self.alloc(Obj::Tensor(t))
            }
            Global::RebuildTensorV3 => {
                // (storage, offset, size, stride, requires_grad, hooks, dtype): the
                // storage counts bytes; the offset counts elements of `dtype`.
                let mut t = self.tensor(&args)?;
                let Value::DType(dtype) = arg(6) else {
                    return self.err("_rebuild_tensor_v3 without a dtype");
                };
                if t.storage.dtype != DType::U8 {
                    return self.err("_rebuild_tensor_v3 over a typed storage");
                }
                t.storage.numel /= dtype.block().1 as u64;
                t.storage.dtype = dtype;
                self.alloc(Obj::Tensor(t))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => {
                let data = arg(0);
                match self.obj_ref(&data) {
                    Some(Obj::Tensor(_)) => Ok(data),
                    _ => self.err("parameter data is not a tensor"),
                }
            }
            Global::RebuildFromTypeV2 => {
                // (func, new_type, args, state): the type only wraps the tensor.
                if !matches!(arg(1), Value::Global(Global::TensorType)) {
                    return self.err(format!(
                        "tensor subclass {} is not supported",
                        describe(&arg(1))
                    ));
                }
                match arg(0) {
                    Value::Global(
                        Global::RebuildTensor
                        | Global::RebuildTensorV2
                        | Global::RebuildTensorV3
                        | Global::RebuildParameter
                        | Global::RebuildParameterWithState,
                    ) => self.reduce(arg(0), arg(2)),
                    other => self.err(format!("_rebuild_from_type_v2 of {}", describe(&other))),
                }
            }
            Global::RestoreTypeTag => Ok(arg(0)),
            Global::BuildList => match self.obj_ref(&arg(0)) {
                Some(Obj::List(_)) => Ok(arg(0)),
                _ => self.err("build_*list of something that is not a list"),
            },
            Global::Device => match arg(0) {
                Value::Str(s) => Ok(Value::Str(s)),
                other => self.err(format!("torch.device of {}", describe(&other))),
            },
            Global::CodecsEncode => match (arg(0), arg(1)) {
                (Value::Str(s), Value::Str(enc)) if enc.as_ref() == "latin1" => {
                    let mut b = Vec::with_capacity(s.len());
                    for c in s.chars() {
                        match u8::try_from(u32::from(c)) {
                            Ok(x) => b.push(x),
                            Err(_) => return self.err("latin1 text outside latin1"),
                        }
                    }
                    Ok(Value::Bytes(Rc::from(b)))
                }
                _ => self.err("_codecs.encode other than text to latin1"),
            },
            Global::TorchClass(class) => {
                let args = self.alloc(Obj::Tuple(args))?;
                self.alloc(Obj::Object {
                    class,
                    args,
                    state: Value::None,
                })
            }
            Global::Foreign(g, _) => self.finding(&g, "REDUCE"),
            Global::TensorType | Global::StorageType(_) => {
                self.err(format!("cannot call {}", describe(&Value::Global(g))))
            }
        }
    }

    fn obj_ref(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Ref(id) => self.objs.get(*id),
            _ => None,
        }
    }

    /// `_rebuild_tensor[_v2](storage, storage_offset, size, stride, …)`.
    fn tensor(&self, args: &[Value]) -> Result<TensorRef, PickleError> {
        let storage = match args.first().and_then(|a| self.obj_ref(a)) {
            Some(Obj::Storage(s)) => s.clone(),
            _ => return self.err("tensor storage is not a persistent storage"),
        };
        let offset = match args.get(1) {
            Some(Value::Int(o)) if *o >= 0 => *o as u64,
            _ => return self.err("tensor storage offset is not a non-negative integer"),
        };
        let shape = self.ints(args.get(2), "size")?;
        let stride = self.ints(args.get(3), "stride")?;
        if shape.len() != stride.len() {
            return self.err(format!(
                "tensor has {} dimensions but {} strides",
                shape.len(),
                stride.len()
            ));
        }
        Ok(TensorRef {
            storage,
            offset,
            shape,
            stride,
        })
    }

    fn ints(&self, v: Option<&Value>, what: &str) -> Result<Vec<u64>, PickleError> {
        let items = match v.and_then(|v| self.obj_ref(v)) {
            Some(Obj::Tuple(t) | Obj::List(t)) => t,
            _ => return self.err(format!("tensor {what} is not a tuple")),
        };
        items
            .iter()
            .map(|i| match i {
                Value::Int(x) if *x >= 0 => Ok(*x as u64),
                _ => self.err(format!(
                    "tensor {what} holds a non-integer or negative value"
                )),
            })
            .collect()
    }

    /// `('storage', storage_type, key, location, numel)` → a storage record.
    pub(super) fn persistent_load(&mut self, pid: &Value) -> Result<Value, PickleError> {
        let items = match self.obj_ref(pid) {
            Some(Obj::Tuple(t)) => t.clone(),
            _ => return self.err("persistent id is not a tuple"),
        };
        // Legacy (non-zip) torch.save adds a sixth item, the view metadata.
        if !(5..=6).contains(&items.len()) || items[0] != Value::Str(Rc::from("storage")) {
            return self.err("persistent id is not ('storage', type, key, location, numel)");
        }
        let dtype = match &items[1] {
            Value::Global(Global::StorageType(d)) => *d,
            other => {
                return self.err(format!(
                    "persistent id names {} as storage type",
                    describe(other)
                ))
            }
        };
        let key = match &items[2] {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return self.err("storage key is not a string"),
        };
        let numel = match &items[4] {
            Value::Int(n) if *n >= 0 => *n as u64,
            _ => return self.err("storage size is not a non-negative integer"),
        };
        self.alloc(Obj::Storage(StorageRef { dtype, key, numel }))
    }
}

fn is_torchscript_class(module: &str) -> bool {
    module == "__torch__" || module.starts_with("__torch__.")
}

/// The element type of a `torch.<Name>Storage` class.
fn storage_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" => DType::U8,
        "BoolStorage" => DType::Bool,
        "UInt16Storage" => DType::U16,
        "UInt32Storage" => DType::U32,
        "UInt64Storage" => DType::U64,
        "Float8_e4m3fnStorage" => DType::F8E4M3,
        "Float8_e5m2Storage" => DType::F8E5M2,
        "Float8_e8m0fnuStorage" => DType::F8E8M0,
        _ => return None,
    })
}

/// `torch.<dtype>` names with no [`DType`]: refused with a precise message.
const UNSUPPORTED_DTYPES: &[&str] = &[
    "complex32",
    "chalf",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float4_e2m1fn_x2",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
];

/// The element type of a `torch.<dtype>` object.
fn torch_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "bool" => DType::Bool,
        "float8_e4m3fn" => DType::F8E4M3,
        "float8_e5m2" => DType::F8E5M2,
        "float8_e8m0fnu" => DType::F8E8M0,
        _ => return None,
    })
}
