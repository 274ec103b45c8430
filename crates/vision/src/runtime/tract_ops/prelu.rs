//! ONNX `PRelu` with constant slopes along one axis, as one operator.
//!
//! tract's ONNX front end runs `PRelu(x, slope)` as three element-wise operators over the whole activation —
//! `slope * x`, `0 > x`, a select — each reading what the one before wrote. Our embedding networks put a
//! PReLU with one slope per channel after nearly every convolution (27 in SFace), so that was a third of
//! SFace's time. Here the slopes are read once, when the model is wired, and each value is rewritten in place:
//! `x < 0 ? slope * x : x`, ONNX's definition, for any slope.
//!
//! A `PRelu` whose slope is not a constant varying along at most one axis of `x` (ONNX allows any
//! unidirectional broadcast) is wired as tract wires it.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::logic::{comp_gt, Iff};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::expand;

/// The ONNX op builder registered for `PRelu` (see [`super::onnx`]).
pub fn parse(_ctx: &ParsingContext, _node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(PreluExpansion), vec![]))
}

/// `PRelu` as the ONNX front end sees it, before the slopes are known.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct PreluExpansion;

impl Expansion for PreluExpansion {
    fn name(&self) -> StaticName {
        "PRelu".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(&self, name: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let (x, slope) = (model.outlet_fact(inputs[0])?, model.outlet_fact(inputs[1])?);
        if let Some(op) = PreluPerAxis::for_facts(x, slope)? {
            return model.wire_node(name, op, &inputs[..1]);
        }
        wire_generic(name, model, inputs)
    }
}

/// Any other `PRelu`, as select(0 > x, slope * x, x) with the slope broadcast to x's rank.
fn wire_generic(name: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
    let x = inputs[0];
    let fact = model.outlet_fact(x)?.clone();
    let mut slope = inputs[1];
    while model.outlet_fact(slope)?.rank() < fact.rank() {
        let axis = model.outlet_fact(slope)?.rank();
        slope = model.wire_node(format!("{name}.add-axis-{axis}"), AxisOp::Add(0), &[slope])?[0];
    }
    let zero = tensor0(0f32).cast_to_dt(fact.datum_type)?.into_owned().broadcast_into_rank(fact.rank())?;
    let zero = model.add_const(format!("{name}.zero"), zero)?;
    let scaled = model.wire_node(format!("{name}.mul"), tract_onnx::tract_hir::ops::math::mul(), &[x, slope])?[0];
    let negative = model.wire_node(format!("{name}.test"), TypedBinOp(comp_gt(), None), &[zero, x])?[0];
    model.wire_node(format!("{name}.iff"), Iff, &[negative, scaled, x])
}

/// `x < 0 ? slope[i] * x : x` where `i` is the index of each value along `axis` (or one slope for all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreluPerAxis {
    /// The axis of `x` the slopes run along, `None` for a single slope.
    axis: Option<usize>,
    /// The slopes' bits (`f32::to_bits`), so that the op can be hashed and compared as tract requires.
    slopes: Arc<[u32]>,
}

impl PreluPerAxis {
    /// The operator for an `f32` input `x` and a constant `slope` that varies along at most one of x's axes
    /// with one value per index of it; `None` for anything else.
    fn for_facts(x: &TypedFact, slope: &TypedFact) -> TractResult<Option<PreluPerAxis>> {
        let Some(konst) = slope.konst.as_ref() else { return Ok(None) };
        let Some(x_shape) = x.shape.as_concrete() else { return Ok(None) };
        if x.datum_type != f32::datum_type() || konst.datum_type() != f32::datum_type() || konst.rank() > x_shape.len()
        {
            return Ok(None);
        }
        // ONNX broadcasts the slope unidirectionally: its dimensions line up with x's last ones.
        let offset = x_shape.len() - konst.rank();
        let varying: Vec<usize> = (0..konst.rank()).filter(|&d| konst.shape()[d] != 1).collect();
        let axis = match varying[..] {
            [] => None,
            [d] if konst.shape()[d] == x_shape[offset + d] => Some(offset + d),
            _ => return Ok(None),
        };
        let plain = konst.try_as_plain_ram()?;
        let slopes = plain.as_slice::<f32>()?.iter().map(|s| s.to_bits()).collect();
        Ok(Some(PreluPerAxis { axis, slopes }))
    }
}

impl Op for PreluPerAxis {
    fn name(&self) -> StaticName {
        "PreluPerAxis".into()
    }

    op_as_typed_op!();
}

impl EvalOp for PreluPerAxis {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape: TVec<usize> = input.shape().into();
        // In place when this op holds the only reference to its input (tract then hands the buffer over).
        let mut tensor = input.into_tensor();
        self.apply(tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, &shape)?;
        Ok(tvec!(tensor.into_tvalue()))
    }
}

impl PreluPerAxis {
    fn apply(&self, data: &mut [f32], shape: &[usize]) -> TractResult<()> {
        if data.is_empty() || self.slopes.is_empty() {
            return Ok(());
        }
        let slopes: Vec<f32> = self.slopes.iter().map(|&b| f32::from_bits(b)).collect();
        // A select rather than a branch, so that the loops vectorise (signs are as good as random).
        let prelu = |v: &mut f32, s: f32| *v = if *v < 0.0 { *v * s } else { *v };
        match self.axis {
            None => {
                let s = slopes[0];
                data.iter_mut().for_each(|v| prelu(v, s));
            }
            Some(axis) => {
                ensure!(
                    shape.get(axis) == Some(&slopes.len()),
                    "PreluPerAxis: {shape:?} has no axis {axis} of {}",
                    slopes.len()
                );
                let inner: usize = shape[axis + 1..].iter().product();
                if inner == 1 {
                    for row in data.chunks_exact_mut(slopes.len()) {
                        row.iter_mut().zip(&slopes).for_each(|(v, &s)| prelu(v, s));
                    }
                } else {
                    for (run, &s) in data.chunks_exact_mut(inner).zip(slopes.iter().cycle()) {
                        run.iter_mut().for_each(|v| prelu(v, s));
                    }
                }
            }
        }
        Ok(())
    }
}

impl TypedOp for PreluPerAxis {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prelu(x: f32, s: f32) -> f32 {
        if x < 0.0 {
            s * x
        } else {
            x
        }
    }

    /// PRelu wired from facts and run as a one-node model.
    fn run(x: &tract_ndarray::ArrayD<f32>, slope: tract_ndarray::ArrayD<f32>) -> (tract_ndarray::ArrayD<f32>, bool) {
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(x.shape())).unwrap();
        let slope = model.add_const("slope", slope.into_tensor()).unwrap();
        let out = PreluExpansion.wire("prelu", &mut model, &[source, slope]).unwrap();
        model.select_output_outlets(&out).unwrap();
        let fused = model.nodes().iter().any(|n| n.op_is::<PreluPerAxis>());
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        let y = plan.run(tvec![x.clone().into_tensor().into()]).unwrap().remove(0);
        (y.to_plain_array_view::<f32>().unwrap().to_owned(), fused)
    }

    fn input(shape: &[usize]) -> tract_ndarray::ArrayD<f32> {
        let len: usize = shape.iter().product();
        tract_ndarray::ArrayD::from_shape_vec(shape, (0..len).map(|i| (i * 37 % 23) as f32 - 11.5).collect()).unwrap()
    }

    #[test]
    fn slopes_per_channel_follow_the_onnx_definition_in_either_layout() {
        use tract_ndarray::{ArrayD, IxDyn};
        // NCHW with slopes [C, 1, 1] (PyTorch's export), NHWC with slopes [C] (TensorFlow's), one slope, and
        // slopes above 1 and below 0.
        let cases: Vec<(Vec<usize>, ArrayD<f32>, usize)> = vec![
            (vec![2, 3, 4, 5], ArrayD::from_shape_vec(IxDyn(&[3, 1, 1]), vec![0.25, 1.5, -0.5]).unwrap(), 1),
            (vec![2, 4, 5, 3], ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.1, 2.0, 0.0]).unwrap(), 3),
            (vec![1, 3, 2, 2], ArrayD::from_shape_vec(IxDyn(&[1]), vec![0.3]).unwrap(), 0),
        ];
        for (shape, slope, axis) in cases {
            let x = input(&shape);
            let (y, fused) = run(&x, slope.clone());
            assert!(fused, "{shape:?}");
            for ((idx, &xv), &yv) in x.indexed_iter().zip(y.iter()) {
                let s = if slope.len() == 1 {
                    slope.iter().next().copied().unwrap()
                } else {
                    slope.as_slice().unwrap()[idx[axis]]
                };
                assert_eq!(yv, prelu(xv, s), "{shape:?} at {idx:?}");
            }
        }
    }

    #[test]
    fn other_broadcasts_are_wired_as_tract_wires_them() {
        // A slope varying along two axes: not one this operator takes, still computed by the definition.
        let x = input(&[1, 2, 3, 2]);
        let slope = tract_ndarray::ArrayD::from_shape_vec(vec![3, 2], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
        let (y, fused) = run(&x, slope.clone());
        assert!(!fused);
        for ((idx, &xv), &yv) in x.indexed_iter().zip(y.iter()) {
            assert_eq!(yv, prelu(xv, slope[[idx[2], idx[3]]]), "at {idx:?}");
        }
    }
}
