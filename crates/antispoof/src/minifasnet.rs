//! MiniFASNetV2 and MiniFASNetV1SE (Silent-Face-Anti-Spoofing), built as ONNX graphs in our own code from a
//! state dict. The layer sequence is the networks' (below); every width, kernel and block count is read from
//! the weights, and every weight must be used, so a checkpoint of another shape is refused instead of run
//! wrongly.
//!
//! ```text
//! conv1 (3x3/2, conv+bn+prelu) -> conv2_dw (3x3 depthwise) -> conv_23 (depth-wise block, /2)
//! -> conv_3 (residual blocks) -> conv_34 (/2) -> conv_4 (residual) -> conv_45 (/2) -> conv_5 (residual)
//! -> conv_6_sep (1x1) -> conv_6_dw (5x5 depthwise, conv+bn) -> flatten -> linear -> bn -> prob (3 logits)
//! depth-wise block: 1x1 conv+bn+prelu -> 3x3 depthwise conv+bn+prelu -> 1x1 project conv+bn
//!                   [-> squeeze-excitation on the last residual block of a stage, V1SE] [+ input if residual]
//! ```

use std::collections::BTreeSet;

use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{Tensor as TypeTensor, Value as TypeValue};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

use crate::pth::{StateDict, Tensor};

const BN_EPSILON: f32 = 1e-5;
/// The input side the published weights were trained at.
pub const INPUT_SIDE: usize = 80;

struct Builder<'a> {
    weights: &'a StateDict,
    used: BTreeSet<String>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: value, ..Default::default() }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f: value, ..Default::default() }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let shape = TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| Dimension { value: Some(dimension::Value::DimValue(d)), ..Default::default() })
            .collect(),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TypeTensor { elem_type: 1, shape: Some(shape) })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl<'a> Builder<'a> {
    fn has(&self, key: &str) -> bool {
        self.weights.contains_key(key)
    }

    fn tensor(&mut self, key: &str) -> Result<&'a Tensor, String> {
        let t = self.weights.get(key).ok_or_else(|| format!("missing tensor {key}"))?;
        self.used.insert(key.to_string());
        Ok(t)
    }

    fn constant(&mut self, name: &str, dims: &[usize], data: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: 1,
            float_data: data,
            ..Default::default()
        });
        name.to_string()
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        self.counter += 1;
        let output = format!("{}_{}", op.to_lowercase(), self.counter);
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name: output.clone(),
            input: inputs,
            output: vec![output.clone()],
            attribute,
            ..Default::default()
        });
        output
    }

    /// `prefix.weight` as a convolution (no bias); depthwise when the weight has one input channel per group.
    fn conv(&mut self, x: String, prefix: &str, stride: i64, pad: i64) -> Result<(String, usize), String> {
        let key = format!("{prefix}.weight");
        let w = self.tensor(&key)?;
        let [out_c, in_per_group, kh, kw] = w.shape[..] else { return Err(format!("{key} is not a 4-D kernel")) };
        let groups = if in_per_group == 1 && out_c > 1 && !prefix.ends_with("conv1.conv") { out_c } else { 1 };
        let name = self.constant(&key, &w.shape, w.data.clone());
        let attrs = vec![
            ints("kernel_shape", &[kh as i64, kw as i64]),
            ints("strides", &[stride, stride]),
            ints("pads", &[pad, pad, pad, pad]),
            int("group", groups as i64),
        ];
        Ok((self.node("Conv", vec![x, name], attrs), out_c))
    }

    fn batch_norm(&mut self, x: String, prefix: &str) -> Result<String, String> {
        let mut inputs = vec![x];
        for part in ["weight", "bias", "running_mean", "running_var"] {
            let key = format!("{prefix}.{part}");
            let t = self.tensor(&key)?;
            inputs.push(self.constant(&key, &t.shape, t.data.clone()));
        }
        let _ = self.weights.get(&format!("{prefix}.num_batches_tracked"));
        Ok(self.node("BatchNormalization", inputs, vec![float("epsilon", BN_EPSILON)]))
    }

    fn prelu(&mut self, x: String, prefix: &str, channels: usize) -> Result<String, String> {
        let key = format!("{prefix}.weight");
        let t = self.tensor(&key)?;
        if t.data.len() != channels {
            return Err(format!("{key} has {} slopes for {channels} channels", t.data.len()));
        }
        let slope = self.constant(&key, &[channels, 1, 1], t.data.clone());
        Ok(self.node("PRelu", vec![x, slope], vec![]))
    }

    /// conv + bn + prelu.
    fn conv_block(&mut self, x: String, prefix: &str, stride: i64, pad: i64) -> Result<String, String> {
        let (y, c) = self.conv(x, &format!("{prefix}.conv"), stride, pad)?;
        let y = self.batch_norm(y, &format!("{prefix}.bn"))?;
        self.prelu(y, &format!("{prefix}.prelu"), c)
    }

    /// conv + bn.
    fn linear_block(&mut self, x: String, prefix: &str, stride: i64, pad: i64) -> Result<String, String> {
        let (y, _) = self.conv(x, &format!("{prefix}.conv"), stride, pad)?;
        self.batch_norm(y, &format!("{prefix}.bn"))
    }

    fn squeeze_excite(&mut self, x: String, prefix: &str) -> Result<String, String> {
        let s = self.node("GlobalAveragePool", vec![x.clone()], vec![]);
        let (s, _) = self.conv(s, &format!("{prefix}.fc1"), 1, 0)?;
        let s = self.batch_norm(s, &format!("{prefix}.bn1"))?;
        let s = self.node("Relu", vec![s], vec![]);
        let (s, _) = self.conv(s, &format!("{prefix}.fc2"), 1, 0)?;
        let s = self.batch_norm(s, &format!("{prefix}.bn2"))?;
        let s = self.node("Sigmoid", vec![s], vec![]);
        Ok(self.node("Mul", vec![x, s], vec![]))
    }

    fn depth_wise(&mut self, x: String, prefix: &str, stride: i64, residual: bool) -> Result<String, String> {
        let y = self.conv_block(x.clone(), &format!("{prefix}.conv"), 1, 0)?;
        let y = self.conv_block(y, &format!("{prefix}.conv_dw"), stride, 1)?;
        let mut y = self.linear_block(y, &format!("{prefix}.project"), 1, 0)?;
        let se = format!("{prefix}.se_module");
        if self.has(&format!("{se}.fc1.weight")) {
            if !residual {
                return Err(format!("{se} on a block without a shortcut"));
            }
            y = self.squeeze_excite(y, &se)?;
        }
        Ok(if residual { self.node("Add", vec![x, y], vec![]) } else { y })
    }

    fn residual_stage(&mut self, mut x: String, prefix: &str) -> Result<String, String> {
        let mut i = 0;
        while self.has(&format!("{prefix}.model.{i}.conv.conv.weight")) {
            x = self.depth_wise(x, &format!("{prefix}.model.{i}"), 1, true)?;
            i += 1;
        }
        if i == 0 {
            return Err(format!("stage {prefix} has no blocks"));
        }
        Ok(x)
    }

    /// `x @ weight.T` for a `[out, in]` linear weight.
    fn linear(&mut self, x: String, key: &str) -> Result<String, String> {
        let w = self.tensor(key)?;
        let [out, inp] = w.shape[..] else { return Err(format!("{key} is not 2-D")) };
        let mut t = vec![0f32; out * inp];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = w.data[o * inp + i];
            }
        }
        let name = self.constant(&format!("{key}.t"), &[inp, out], t);
        Ok(self.node("MatMul", vec![x, name], vec![]))
    }

    /// A 1-D batch norm folded into `x * a + b`.
    fn batch_norm_1d(&mut self, x: String, prefix: &str) -> Result<String, String> {
        let w = self.tensor(&format!("{prefix}.weight"))?.data.clone();
        let b = self.tensor(&format!("{prefix}.bias"))?.data.clone();
        let mean = self.tensor(&format!("{prefix}.running_mean"))?.data.clone();
        let var = self.tensor(&format!("{prefix}.running_var"))?.data.clone();
        if [b.len(), mean.len(), var.len()].iter().any(|&n| n != w.len()) {
            return Err(format!("{prefix}: parameters of different lengths"));
        }
        let a: Vec<f32> = w.iter().zip(&var).map(|(w, v)| w / (v + BN_EPSILON).sqrt()).collect();
        let c: Vec<f32> = b.iter().zip(&mean).zip(&a).map(|((b, m), a)| b - m * a).collect();
        let n = w.len();
        let a = self.constant(&format!("{prefix}.scale"), &[n], a);
        let c = self.constant(&format!("{prefix}.shift"), &[n], c);
        let y = self.node("Mul", vec![x, a], vec![]);
        Ok(self.node("Add", vec![y, c], vec![]))
    }
}

/// The ONNX model (input `input` 1x3x80x80 BGR 0..255, output `logits` 1x3) of a MiniFASNet state dict.
pub fn to_onnx(weights: &StateDict) -> Result<Vec<u8>, String> {
    // Checkpoints saved from `nn.DataParallel` prefix every name with `module.`.
    let stripped: StateDict =
        weights.iter().map(|(k, v)| (k.strip_prefix("module.").unwrap_or(k).to_string(), v.clone())).collect();
    let mut b =
        Builder { weights: &stripped, used: BTreeSet::new(), nodes: Vec::new(), initializers: Vec::new(), counter: 0 };
    let x = "input".to_string();
    let x = b.conv_block(x, "conv1", 2, 1)?;
    let x = b.conv_block(x, "conv2_dw", 1, 1)?;
    let x = b.depth_wise(x, "conv_23", 2, false)?;
    let x = b.residual_stage(x, "conv_3")?;
    let x = b.depth_wise(x, "conv_34", 2, false)?;
    let x = b.residual_stage(x, "conv_4")?;
    let x = b.depth_wise(x, "conv_45", 2, false)?;
    let x = b.residual_stage(x, "conv_5")?;
    let x = b.conv_block(x, "conv_6_sep", 1, 0)?;
    let x = b.linear_block(x, "conv_6_dw", 1, 0)?;
    let x = b.node("Flatten", vec![x], vec![int("axis", 1)]);
    let x = if b.has("linear.weight") { b.linear(x, "linear.weight")? } else { x };
    let x = b.batch_norm_1d(x, "bn")?;
    // The last node (the class projection) is renamed `logits` below.
    b.linear(x, "prob.weight")?;
    let unused: Vec<&String> = stripped.keys().filter(|k| !b.used.contains(*k)).collect();
    if !unused.is_empty() {
        return Err(format!("weights not used by the network: {unused:?}"));
    }
    let classes = stripped.get("prob.weight").map_or(3, |w| w.shape[0]) as i64;
    let mut nodes = b.nodes;
    if let Some(last) = nodes.last_mut() {
        last.output = vec!["logits".into()];
    }
    let graph = GraphProto {
        name: "minifasnet".into(),
        node: nodes,
        initializer: b.initializers,
        input: vec![value_info("input", &[1, 3, INPUT_SIDE as i64, INPUT_SIDE as i64])],
        output: vec![value_info("logits", &[1, classes])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "facegate-antispoof".into(),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}
