//! PyTorch checkpoints (`torch.save` of a state dict), read without Python: the legacy format the official
//! Silent-Face weights use (a magic-number pickle, the protocol version, system info, the state-dict pickle,
//! the list of storage keys, then each storage as a little-endian element count and its raw bytes). Tensors
//! are rebuilt from their storage, offset, size and stride; float32 tensors are kept, others (such as
//! `num_batches_tracked`) are skipped.

use std::collections::BTreeMap;

use crate::error::PthError;
use crate::pickle::{self, Value};

/// The magic number of the legacy format (`0x1950a86a20f9469cfc6c`; the pickle reader keeps its low 8 bytes).
const LEGACY_MAGIC_LOW: i64 = i64::from_le_bytes([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]);

/// A float32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub type StateDict = BTreeMap<String, Tensor>;

/// A tensor as the pickle describes it, before its storage is read.
struct TensorRef {
    storage_key: String,
    storage_type: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

fn element_size(storage_type: &str) -> Option<usize> {
    Some(match storage_type {
        "FloatStorage" | "IntStorage" => 4,
        "DoubleStorage" | "LongStorage" => 8,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

fn ints(v: &Value, what: &str, name: &str) -> Result<Vec<usize>, PthError> {
    let err = || PthError::Tensor { name: name.to_string(), message: format!("{what} is not a tuple of sizes") };
    match v {
        Value::Tuple(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) => usize::try_from(*n).map_err(|_| err()),
                _ => Err(err()),
            })
            .collect(),
        _ => Err(err()),
    }
}

/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with a persistent storage id
/// `('storage', torch.FloatStorage, key, location, numel)`.
fn tensor_ref(name: &str, v: &Value) -> Result<Option<TensorRef>, PthError> {
    let err = |m: &str| PthError::Tensor { name: name.to_string(), message: m.to_string() };
    let Value::Call(func, args) = v else { return Ok(None) };
    match func.as_ref() {
        Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_tensor_v2" => {}
        _ => return Ok(None),
    }
    let Value::Tuple(args) = args.as_ref() else { return Err(err("arguments are not a tuple")) };
    if args.len() < 4 {
        return Err(err("too few arguments"));
    }
    let Value::Persistent(pid) = &args[0] else { return Err(err("the storage is not a persistent id")) };
    let Value::Tuple(pid) = pid.as_ref() else { return Err(err("the storage id is not a tuple")) };
    let (storage_type, storage_key) = match (pid.get(1), pid.get(2)) {
        (Some(Value::Global(_, t)), Some(Value::Str(k))) => (t.clone(), k.clone()),
        _ => return Err(err("the storage id has no type and key")),
    };
    let offset = match &args[1] {
        Value::Int(o) => usize::try_from(*o).map_err(|_| err("negative offset"))?,
        _ => return Err(err("the offset is not an integer")),
    };
    Ok(Some(TensorRef {
        storage_key,
        storage_type,
        offset,
        size: ints(&args[2], "size", name)?,
        stride: ints(&args[3], "stride", name)?,
    }))
}

/// Reads a checkpoint's float32 tensors by name.
pub fn read_state_dict(data: &[u8]) -> Result<StateDict, PthError> {
    if data.starts_with(b"PK\x03\x04") {
        return Err(PthError::Format(
            "zip-format checkpoints (torch >= 1.6) are not read yet; the official Silent-Face weights use the legacy format".into(),
        ));
    }
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value, PthError> {
        let (v, used) = pickle::load(&data[pos..]).map_err(|e| PthError::Format(format!("{what}: {e}")))?;
        pos += used;
        Ok(v)
    };
    match next("magic number")? {
        Value::Int(m) if m == LEGACY_MAGIC_LOW => {}
        _ => return Err(PthError::Format("no PyTorch magic number".into())),
    }
    match next("protocol version")? {
        Value::Int(1001) => {}
        v => return Err(PthError::Format(format!("unknown protocol version {v:?}"))),
    }
    let _system_info = next("system info")?;
    let state = next("state dict")?;
    let Value::List(keys) = next("storage keys")? else {
        return Err(PthError::Format("the storage keys are not a list".into()));
    };
    let Value::Dict(entries) = state else {
        return Err(PthError::Format("the checkpoint does not hold a state dict".into()));
    };
    let mut refs = Vec::new();
    for (k, v) in &entries {
        let Value::Str(name) = k else { continue };
        if let Some(r) = tensor_ref(name, v)? {
            refs.push((name.clone(), r));
        }
    }
    // Storages follow in the order of the keys list, each one's size (elements) first.
    let mut storages: BTreeMap<String, &[u8]> = BTreeMap::new();
    let mut types: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, r) in &refs {
        types.insert(&r.storage_key, &r.storage_type);
    }
    let mut at = pos;
    for key in &keys {
        let Value::Str(key) = key else { return Err(PthError::Format("a storage key is not a string".into())) };
        let count_bytes = data.get(at..at + 8).ok_or(PthError::Truncated)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(count_bytes);
        let count = usize::try_from(u64::from_le_bytes(b)).map_err(|_| PthError::Truncated)?;
        let storage_type = types.get(key.as_str()).copied().unwrap_or("FloatStorage");
        let size = element_size(storage_type)
            .ok_or_else(|| PthError::Format(format!("unknown storage type {storage_type}")))?;
        let len = count.checked_mul(size).ok_or(PthError::Truncated)?;
        let start = at + 8;
        let bytes = data.get(start..start.checked_add(len).ok_or(PthError::Truncated)?).ok_or(PthError::Truncated)?;
        storages.insert(key.clone(), bytes);
        at = start + len;
    }
    let mut out = StateDict::new();
    for (name, r) in refs {
        if r.storage_type != "FloatStorage" {
            continue;
        }
        let storage = storages.get(&r.storage_key).ok_or_else(|| PthError::Tensor {
            name: name.clone(),
            message: format!("storage {} is missing", r.storage_key),
        })?;
        out.insert(name.clone(), gather(&name, storage, &r)?);
    }
    Ok(out)
}

/// Copies a (possibly strided) view out of a float32 storage.
fn gather(name: &str, storage: &[u8], r: &TensorRef) -> Result<Tensor, PthError> {
    let err = |m: String| PthError::Tensor { name: name.to_string(), message: m };
    if r.size.len() != r.stride.len() {
        return Err(err("size and stride differ in rank".into()));
    }
    let numel = r.size.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| err("too large".into()))?;
    let elements = storage.len() / 4;
    // The furthest element the view reaches must lie inside the storage.
    let reach = r.size.iter().zip(&r.stride).try_fold(r.offset, |a, (&d, &s)| {
        if d == 0 {
            Some(a)
        } else {
            a.checked_add((d - 1).checked_mul(s)?)
        }
    });
    if numel > 0 && reach.is_none_or(|last| last >= elements) {
        return Err(err(format!("the view reaches beyond its storage of {elements} elements")));
    }
    let value =
        |i: usize| f32::from_le_bytes([storage[4 * i], storage[4 * i + 1], storage[4 * i + 2], storage[4 * i + 3]]);
    let mut data = Vec::with_capacity(numel);
    let mut index = vec![0usize; r.size.len()];
    for _ in 0..numel {
        let at = r.offset + index.iter().zip(&r.stride).map(|(i, s)| i * s).sum::<usize>();
        data.push(value(at));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < r.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor { shape: r.size.clone(), data })
}
