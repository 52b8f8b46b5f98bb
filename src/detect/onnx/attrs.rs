//! Typed access to ONNX node attributes and constant tensors, with errors that say which
//! attribute is wrong. Used by the ONNX-ML operators (`tree`, `ops`) and the graph passes
//! (`fold`); tract's own helpers return untyped errors.

use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType};
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// Why a node cannot be used: its attributes ask for something vigil does not implement,
/// or they are inconsistent. Wrapped into an `OnnxError` (with the model file, the node
/// name and the operator) by the caller.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeError {
    /// A valid attribute value that vigil does not implement.
    Unsupported(String),
    /// An attribute that is missing, of the wrong type, or inconsistent with the others.
    Invalid(String),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Unsupported(s) | NodeError::Invalid(s) => f.write_str(s),
        }
    }
}

pub(crate) fn invalid(detail: impl Into<String>) -> NodeError {
    NodeError::Invalid(detail.into())
}

pub(crate) fn unsupported(detail: impl Into<String>) -> NodeError {
    NodeError::Unsupported(detail.into())
}

/// The attributes of one node.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a>(pub &'a NodeProto);

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    fn typed(
        &self,
        name: &str,
        ty: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, NodeError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == ty as i32 => Ok(Some(a)),
            Some(a) => Err(invalid(format!(
                "attribute `{name}` has type {:?}, expected {:?}",
                AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined),
                ty
            ))),
        }
    }

    /// Whether the node carries the attribute at all.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, NodeError> {
        Ok(self.typed(name, AttributeType::Int)?.map(|a| a.i))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, NodeError> {
        Ok(self.typed(name, AttributeType::Float)?.map(|a| a.f))
    }

    pub fn string(&self, name: &str) -> Result<Option<&'a str>, NodeError> {
        match self.typed(name, AttributeType::String)? {
            None => Ok(None),
            Some(a) => std::str::from_utf8(&a.s)
                .map(Some)
                .map_err(|_| invalid(format!("attribute `{name}` is not UTF-8"))),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, NodeError> {
        Ok(self.typed(name, AttributeType::Ints)?.map(|a| &a.ints[..]))
    }

    pub fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, NodeError> {
        Ok(self
            .typed(name, AttributeType::Floats)?
            .map(|a| &a.floats[..]))
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>, NodeError> {
        match self.typed(name, AttributeType::Strings)? {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| std::str::from_utf8(s))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
                .map_err(|_| {
                    invalid(format!(
                        "attribute `{name}` holds a string that is not UTF-8"
                    ))
                }),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, NodeError> {
        Ok(self
            .typed(name, AttributeType::Tensor)?
            .and_then(|a| a.t.as_ref()))
    }

    /// A list of numbers given either as `floats` (`name`) or as a double tensor
    /// (`name_as_tensor`), as the ONNX-ML operators allow. Both at once is an error.
    pub fn floats_or_tensor(&self, name: &str) -> Result<Option<Vec<f64>>, NodeError> {
        let as_tensor = format!("{name}_as_tensor");
        match (self.floats(name)?, self.tensor(&as_tensor)?) {
            (Some(_), Some(_)) => Err(invalid(format!("both `{name}` and `{as_tensor}` are set"))),
            (Some(f), None) => Ok(Some(f.iter().map(|&x| x as f64).collect())),
            (None, Some(t)) => tensor_f64(t)
                .map(Some)
                .map_err(|e| invalid(format!("attribute `{as_tensor}`: {e}"))),
            (None, None) => Ok(None),
        }
    }
}

fn elem(t: &TensorProto) -> Result<DataType, String> {
    DataType::try_from(t.data_type).map_err(|_| format!("unknown element type {}", t.data_type))
}

/// Number of elements a tensor's dims declare.
pub(crate) fn tensor_len(t: &TensorProto) -> Option<usize> {
    t.dims.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
    })
}

fn raw_chunks<const N: usize>(t: &TensorProto) -> Result<Vec<[u8; N]>, String> {
    if t.raw_data.len() % N != 0 {
        return Err(format!(
            "raw data of {} bytes is not a multiple of {N}",
            t.raw_data.len()
        ));
    }
    Ok(t.raw_data
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            b
        })
        .collect())
}

fn checked<T>(t: &TensorProto, v: Vec<T>) -> Result<Vec<T>, String> {
    match tensor_len(t) {
        Some(n) if n == v.len() => Ok(v),
        _ => Err(format!("dims {:?} do not match {} values", t.dims, v.len())),
    }
}

/// The values of a float or double tensor (embedded data only), as f64.
pub(crate) fn tensor_f64(t: &TensorProto) -> Result<Vec<f64>, String> {
    let v = match elem(t)? {
        DataType::Float if t.raw_data.is_empty() => {
            t.float_data.iter().map(|&x| x as f64).collect()
        }
        DataType::Float => raw_chunks::<4>(t)?
            .into_iter()
            .map(|b| f32::from_le_bytes(b) as f64)
            .collect(),
        DataType::Double if t.raw_data.is_empty() => t.double_data.clone(),
        DataType::Double => raw_chunks::<8>(t)?
            .into_iter()
            .map(f64::from_le_bytes)
            .collect(),
        other => {
            return Err(format!(
                "expected a float or double tensor, found {other:?}"
            ))
        }
    };
    checked(t, v)
}

/// The values of an int64 or int32 tensor (embedded data only).
pub(crate) fn tensor_i64(t: &TensorProto) -> Result<Vec<i64>, String> {
    let v = match elem(t)? {
        DataType::Int64 if t.raw_data.is_empty() => t.int64_data.clone(),
        DataType::Int64 => raw_chunks::<8>(t)?
            .into_iter()
            .map(i64::from_le_bytes)
            .collect(),
        DataType::Int32 if t.raw_data.is_empty() => {
            t.int32_data.iter().map(|&x| x as i64).collect()
        }
        DataType::Int32 => raw_chunks::<4>(t)?
            .into_iter()
            .map(|b| i32::from_le_bytes(b) as i64)
            .collect(),
        other => {
            return Err(format!(
                "expected an int64 or int32 tensor, found {other:?}"
            ))
        }
    };
    checked(t, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_typed_tensor_data_decode_alike() {
        let mut t = TensorProto {
            dims: vec![2],
            data_type: DataType::Float as i32,
            float_data: vec![1.5, -2.0],
            ..Default::default()
        };
        assert_eq!(tensor_f64(&t).unwrap(), vec![1.5, -2.0]);
        t.float_data.clear();
        t.raw_data = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(tensor_f64(&t).unwrap(), vec![1.5, -2.0]);
        t.dims = vec![3];
        assert!(tensor_f64(&t).is_err());
        let i = TensorProto {
            dims: vec![2],
            data_type: DataType::Int64 as i32,
            raw_data: [-1i64, 1].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        };
        assert_eq!(tensor_i64(&i).unwrap(), vec![-1, 1]);
        assert!(tensor_f64(&i).is_err());
    }
}
