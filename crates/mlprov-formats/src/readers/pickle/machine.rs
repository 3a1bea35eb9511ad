//! The state of the pickle machine. Its opcodes are interpreted in `pickle.rs` and the
//! allowed torch globals in `torch_globals.rs`; both import this type, neither imports the
//! other.

use std::collections::HashMap;

use super::value::{Finding, Obj, Policy, Value};

/// The stack machine that unpickles one pickle.
pub(super) struct Machine<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) op_pos: usize,
    pub(super) policy: Policy,
    pub(super) stack: Vec<Value>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u32, Value>,
    pub(super) objs: Vec<Obj>,
    pub(super) items: usize,
    /// The first global named outside the allow-list, and the opcode that named it.
    pub(super) foreign: Option<Finding>,
}
