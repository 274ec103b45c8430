//! A 2x2 stride-2 max pooling, put in place of tract's own where it applies.
//!
//! tract 0.23 vectorises 2x2 max pooling at stride 1 only; at stride 2 — YuNet's four poolings, the ones that
//! halve its feature maps — it walks every output element through a bounds-checked four-tap loop: 1.8 of
//! YuNet's 8.2 ms at long side 320 and 4.4 of 22 ms at 640 (`facegate bench --profile`). Here each output row
//! is the element-wise maximum of its two input rows folded pairwise, a loop the compiler vectorises.
//!
//! The replacement is exact: the same maximum of the same four values (tract's loop and this one both use
//! `f32::max`). It is made on the typed model after decluttering, only on a pooling this op computes the same
//! output shape for (no padding, no dilation, NCHW, `f32`), so any other pooling keeps tract's operator.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Max pooling over 2x2 windows at stride 2 of an NCHW `f32` tensor, no padding (a last odd row or column
/// is dropped, as ONNX's floor rounding does).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct MaxPool2x2Stride2;

impl Op for MaxPool2x2Stride2 {
    fn name(&self) -> StaticName {
        "MaxPool2x2Stride2".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2x2Stride2 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let &[n, c, h, w] = input.shape() else { bail!("MaxPool2x2Stride2 takes NCHW, got {:?}", input.shape()) };
        let (oh, ow) = (h / 2, w / 2);
        let plain = input.try_as_plain_ram()?;
        let src = plain.as_slice::<f32>()?;
        let mut out = vec![0f32; n * c * oh * ow];
        if oh > 0 && ow > 0 {
            for (plane, plane_out) in src.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
                for (oy, row_out) in plane_out.chunks_exact_mut(ow).enumerate() {
                    let top = &plane[2 * oy * w..][..2 * ow];
                    let bottom = &plane[(2 * oy + 1) * w..][..2 * ow];
                    pool_row(top, bottom, row_out);
                }
            }
        }
        let tensor = tract_ndarray::Array4::from_shape_vec((n, c, oh, ow), out)?.into_tensor();
        Ok(tvec!(tensor.into_tvalue()))
    }
}

/// One output row: the maximum of each 2x2 window of two input rows.
#[inline]
fn pool_row(top: &[f32], bottom: &[f32], out: &mut [f32]) {
    for ((o, t), b) in out.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
        *o = t[0].max(t[1]).max(b[0].max(b[1]));
    }
}

impl TypedOp for MaxPool2x2Stride2 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "MaxPool2x2Stride2 takes NCHW");
        let half = |d: &TDim| d.clone() / 2u64;
        let out: TVec<TDim> = tvec![shape[0].clone(), shape[1].clone(), half(&shape[2]), half(&shape[3])];
        Ok(tvec!(inputs[0].datum_type.fact(out)))
    }

    as_op!();
}

/// Whether a tract pooling is one [`MaxPool2x2Stride2`] computes.
fn replaceable(pool: &MaxPool, input: &TypedFact) -> bool {
    let spec = &pool.pool_spec;
    let unit = |v: &Option<TVec<usize>>, k: usize| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == k));
    let no_padding = match &spec.padding {
        PaddingSpec::Valid => true,
        PaddingSpec::Explicit(before, after) | PaddingSpec::ExplicitOnnxPool(before, after, false) => {
            before.iter().chain(after).all(|&p| p == 0)
        }
        _ => false,
    };
    pool.with_index_outputs.is_none()
        && spec.data_format == DataFormat::NCHW
        && spec.kernel_shape[..] == [2, 2]
        && spec.strides.as_ref().is_some_and(|s| s[..] == [2, 2])
        && unit(&spec.dilations, 1)
        && no_padding
        && input.datum_type == f32::datum_type()
        && input.shape.rank() == 4
}

/// Puts [`MaxPool2x2Stride2`] in place of every tract pooling it computes; returns how many. Run it on a
/// decluttered model, before optimisation turns poolings into tract's planned operator.
pub fn substitute(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(pool) = node.op_as::<MaxPool>() else { continue };
        let input = model.outlet_fact(node.inputs[0])?;
        if !replaceable(pool, input) {
            continue;
        }
        // Only where the shapes agree: the output must be what tract's pooling declared.
        let ours = MaxPool2x2Stride2.output_facts(&[input])?;
        if ours[0].shape != model.outlet_fact(OutletId::new(id, 0))?.shape {
            continue;
        }
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, MaxPool2x2Stride2)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract's own pooling and ours on the same input, through a one-node model each.
    fn both(shape: [usize; 4], padding: PaddingSpec) -> (Tensor, Tensor, usize) {
        let len: usize = shape.iter().product();
        // Values in no order, with repeats and negatives, so that every tap of a window wins somewhere.
        let data: Vec<f32> = (0..len).map(|i| ((i * 7919 % 1009) as f32 - 500.0) / 7.0).collect();
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), data).unwrap().into_tensor();
        let spec = tract_onnx::tract_core::ops::cnn::PoolSpec::new(
            DataFormat::NCHW,
            tvec![2, 2],
            padding,
            None,
            Some(tvec![2, 2]),
            shape[1],
            shape[1],
        );
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(shape)).unwrap();
        let pooled = model.wire_node("pool", MaxPool::new(spec, None), &[source]).unwrap();
        model.select_output_outlets(&pooled).unwrap();
        let run = |m: TypedModel| {
            let plan = m.into_optimized().unwrap().into_runnable().unwrap();
            plan.run(tvec![input.clone().into()]).unwrap().remove(0).into_tensor()
        };
        let theirs = run(model.clone());
        let replaced = substitute(&mut model).unwrap();
        (theirs, run(model), replaced)
    }

    #[test]
    fn the_pooling_is_tracts_own_value_for_value() {
        // Even and odd sizes (a last odd row and column are dropped), one and several images and channels.
        for shape in [[1, 3, 8, 8], [2, 5, 7, 9], [1, 16, 80, 60], [1, 1, 2, 2], [1, 2, 3, 5]] {
            let (theirs, ours, replaced) = both(shape, PaddingSpec::Valid);
            assert_eq!(replaced, 1, "{shape:?}");
            assert_eq!(theirs.shape(), ours.shape(), "{shape:?}");
            assert_eq!(
                theirs.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                ours.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn a_padded_pooling_keeps_tracts_operator() {
        let (theirs, ours, replaced) = both([1, 2, 6, 6], PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]));
        assert_eq!(replaced, 0);
        assert_eq!(theirs, ours);
    }
}
