//! Rewrites of an ONNX graph that give tract the same function in a form it runs faster. Each is exact (the
//! same values, not an approximation) and found with `facegate bench --profile`.
//!
//! - `PRelu(x, slope)` is `x` where `x > 0`, else `slope * x`. tract runs it as three element-wise operators (a
//!   comparison, a multiplication, a select over the whole activation): in SFace that was over half the
//!   model's time. Where every slope is at most 1 — as in every PReLU network we ship —
//!   `PRelu(x, slope) = Max(x, slope * x)` exactly (for x > 0, x >= slope * x; for x < 0, slope * x >= x),
//!   which is two operators, the multiplication in place.
//!
//! Tried and dropped (bench/README.md): a 2x2 stride-2 max pooling as a stride-1 pooling (tract's vectorised
//! path) read at every second row and column — exact, but YuNet took 2-3 ms longer, the strided copy costing
//! more than the generic loop it replaced.

use std::collections::HashMap;

use prost::Message;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

/// ONNX's FLOAT element type.
const ONNX_FLOAT: i32 = 1;

/// The model rewritten for tract, or `None` when no rewrite applies (or the bytes are not a model: tract then
/// reports that).
pub fn for_tract(onnx: &[u8]) -> Option<Vec<u8>> {
    let mut model = ModelProto::decode(onnx).ok()?;
    let graph = model.graph.as_mut()?;
    let rewritten = prelu_as_max(graph);
    (rewritten > 0).then(|| model.encode_to_vec())
}

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

/// Replaces every PRelu whose slopes are constants no greater than 1 by `Max(x, slope * x)`; returns how many.
fn prelu_as_max(graph: &mut GraphProto) -> usize {
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
    let count = replace.iter().filter(|&&r| r).count();
    if count == 0 {
        return 0;
    }
    let mut nodes = Vec::with_capacity(graph.node.len() + count);
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
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelRepository, MANIFEST};
    use tract_onnx::prelude::*;

    fn decode(bytes: &[u8]) -> GraphProto {
        ModelProto::decode(bytes).expect("a model").graph.expect("a graph")
    }

    fn count(g: &GraphProto, op: &str) -> usize {
        g.node.iter().filter(|n| n.op_type == op).count()
    }

    fn embedded(id: &str) -> Vec<u8> {
        let spec = MANIFEST.iter().find(|s| s.id == id).expect("a manifest model");
        ModelRepository::new(None).load(spec).expect("embedded model").bytes.to_vec()
    }

    #[test]
    fn every_prelu_with_slopes_up_to_one_becomes_a_max() {
        let mut rewritten_models = 0;
        for spec in MANIFEST.iter().filter(|s| s.embedded.is_some()) {
            let before = decode(&embedded(spec.id));
            let mut after = before.clone();
            let replaced = prelu_as_max(&mut after);
            assert_eq!(count(&before, "PRelu") - count(&after, "PRelu"), replaced, "{}", spec.id);
            if replaced == 0 {
                assert_eq!(count(&before, "PRelu"), 0, "{}: PRelu left alone", spec.id);
                continue;
            }
            rewritten_models += 1;
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

    fn values(t: &TValue) -> Vec<f32> {
        t.to_plain_array_view::<f32>().expect("f32").iter().copied().collect()
    }

    /// Runs a model on tract at one input shape with the same pseudo-random input every time.
    fn run(bytes: &[u8], shape: &[usize]) -> TVec<TValue> {
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut &*bytes)
            .and_then(|m| m.with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape)))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("a runnable model");
        let mut seed = 0x9e37_79b9_u32;
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect();
        let input = tract_ndarray::ArrayD::from_shape_vec(shape, values).expect("input").into_tensor();
        model.run(tvec!(input.into_tvalue())).expect("a run")
    }

    #[test]
    fn the_rewritten_models_compute_what_the_originals_do() {
        for (id, shape) in [("sface", vec![1, 3, 112, 112])] {
            let original = embedded(id);
            let rewritten = for_tract(&original).expect("something to rewrite");
            let (want, got) = (run(&original, &shape), run(&rewritten, &shape));
            assert_eq!(want.len(), got.len(), "{id}");
            for (w, g) in want.iter().zip(&got) {
                assert_eq!(w.shape(), g.shape(), "{id} {shape:?}");
                let (w, g) = (values(w), values(g));
                let worst = w.iter().zip(g).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0f32, f32::max);
                assert!(worst <= 1e-5, "{id} {shape:?}: outputs differ by {worst}");
            }
        }
    }

    #[test]
    fn bytes_that_are_not_a_model_are_left_to_the_engine() {
        assert!(for_tract(b"not a model").is_none());
    }
}
