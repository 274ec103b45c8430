//! Rewrites of an ONNX graph that give tract the same function in a form it runs faster.
//!
//! `PRelu(x, slope)` is `x` where `x > 0`, else `slope * x`. tract runs it as three element-wise operators (a
//! comparison, a multiplication, a select over the whole activation): in SFace that was over half the
//! model's time (`facegate bench --profile`). Where every slope is at most 1 — as in every PReLU network we
//! ship — `PRelu(x, slope) = Max(x, slope * x)` exactly (for x > 0, x >= slope * x; for x < 0,
//! slope * x >= x), which is two operators, the multiplication in place.

use std::collections::HashMap;

use prost::Message;
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};

/// ONNX's FLOAT element type.
const ONNX_FLOAT: i32 = 1;

/// The float values of an initializer, whether stored as `float_data` or little-endian `raw_data`.
fn floats(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != ONNX_FLOAT {
        return None;
    }
    if !t.float_data.is_empty() {
        return Some(t.float_data.clone());
    }
    t.raw_data
        .len()
        .is_multiple_of(4)
        .then(|| t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// The model with every PRelu whose slopes are constants no greater than 1 replaced by `Max(x, slope * x)`,
/// or `None` when there is nothing to replace (or the bytes are not a model: tract then reports that).
pub fn prelu_as_max(onnx: &[u8]) -> Option<Vec<u8>> {
    let mut model = ModelProto::decode(onnx).ok()?;
    let graph = model.graph.as_mut()?;
    let slopes: HashMap<&str, Vec<f32>> =
        graph.initializer.iter().filter_map(|t| Some((t.name.as_str(), floats(t)?))).collect();
    let replaceable = |node: &NodeProto| {
        node.op_type == "PRelu"
            && node.domain.is_empty()
            && node.input.len() == 2
            && node.output.len() == 1
            && slopes.get(node.input[1].as_str()).is_some_and(|s| !s.is_empty() && s.iter().all(|&a| a <= 1.0))
    };
    let replace: Vec<bool> = graph.node.iter().map(replaceable).collect();
    if !replace.contains(&true) {
        return None;
    }
    let mut nodes = Vec::with_capacity(graph.node.len() + replace.len());
    for (node, replace) in std::mem::take(&mut graph.node).into_iter().zip(replace) {
        if !replace {
            nodes.push(node);
            continue;
        }
        let scaled = format!("{}__prelu_scaled", node.output[0]);
        nodes.push(NodeProto {
            op_type: "Mul".into(),
            name: format!("{}__prelu_mul", node.name),
            input: node.input.clone(),
            output: vec![scaled.clone()],
            ..NodeProto::default()
        });
        nodes.push(NodeProto {
            op_type: "Max".into(),
            name: format!("{}__prelu_max", node.name),
            input: vec![node.input[0].clone(), scaled],
            output: node.output,
            ..NodeProto::default()
        });
    }
    graph.node = nodes;
    Some(model.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelRepository, MANIFEST};

    fn graph(bytes: &[u8]) -> tract_onnx::pb::GraphProto {
        ModelProto::decode(bytes).expect("a model").graph.expect("a graph")
    }

    fn count(g: &tract_onnx::pb::GraphProto, op: &str) -> usize {
        g.node.iter().filter(|n| n.op_type == op).count()
    }

    #[test]
    fn every_prelu_with_slopes_up_to_one_becomes_a_max() {
        let repo = ModelRepository::new(None);
        let mut rewritten_models = 0;
        for spec in MANIFEST.iter().filter(|s| s.embedded.is_some()) {
            let bytes = repo.load(spec).expect("embedded model").bytes;
            let before = graph(&bytes);
            let Some(rewritten) = prelu_as_max(&bytes) else {
                assert_eq!(count(&before, "PRelu"), 0, "{}: PRelu left alone", spec.id);
                continue;
            };
            rewritten_models += 1;
            let after = graph(&rewritten);
            let replaced = count(&before, "PRelu") - count(&after, "PRelu");
            assert!(replaced > 0, "{}", spec.id);
            assert_eq!(count(&after, "Max") - count(&before, "Max"), replaced, "{}", spec.id);
            assert_eq!(count(&after, "Mul") - count(&before, "Mul"), replaced, "{}", spec.id);
            // What stays a PRelu has a slope above 1, where the identity does not hold.
            let slopes: HashMap<&str, Vec<f32>> =
                after.initializer.iter().filter_map(|t| Some((t.name.as_str(), floats(t)?))).collect();
            for n in after.node.iter().filter(|n| n.op_type == "PRelu") {
                assert!(slopes[n.input[1].as_str()].iter().any(|&a| a > 1.0), "{}: {}", spec.id, n.name);
            }
        }
        assert!(rewritten_models >= 1, "SFace has PReLUs");
    }

    #[test]
    fn bytes_that_are_not_a_model_are_left_to_the_engine() {
        assert!(prelu_as_max(b"not a model").is_none());
    }
}
