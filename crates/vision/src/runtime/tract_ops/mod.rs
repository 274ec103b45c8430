//! Our own tract operators, for what our models lean on and tract runs slowly. Each computes exactly what
//! the operator it replaces computes (tests set the two side by side, and whole models before and after), and
//! each was found with `facegate bench --profile`:
//!
//! - [`prelu`]: ONNX `PRelu` with per-channel slopes, one in-place pass instead of three operators (SFace, the
//!   face mesh).
//! - [`max_pool`]: 2x2 stride-2 max pooling, vectorised where tract walks a generic loop (YuNet, both meshes).
//!
//! Tried and dropped (bench/README.md): a 2x2 stride-2 max pooling as a stride-1 pooling read at every second
//! row and column (exact, but the strided copy cost more than it saved).

pub mod max_pool;
pub mod prelu;

use tract_onnx::prelude::*;

/// tract's ONNX front end with our operators registered in place of its own.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("PRelu", prelu::parse);
    onnx.with_ignore_value_info(true)
}

/// A parsed model (its input shape fixed) made into the plan tract runs: decluttered, our operators put in
/// where they apply, then optimised.
pub fn into_runnable(model: InferenceModel) -> TractResult<std::sync::Arc<TypedRunnableModel>> {
    let mut typed = model.into_typed()?.into_decluttered()?;
    max_pool::substitute(&mut typed)?;
    typed.into_optimized()?.into_runnable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelRepository, MANIFEST};

    fn embedded(id: &str) -> Vec<u8> {
        let spec = MANIFEST.iter().find(|s| s.id == id).expect("a manifest model");
        ModelRepository::new(None).load(spec).expect("embedded model").bytes.to_vec()
    }

    fn values(t: &TValue) -> Vec<f32> {
        t.to_plain_array_view::<f32>().expect("f32").iter().copied().collect()
    }

    /// The same pseudo-random input in -1..1 every time.
    fn input(shape: &[usize]) -> Tensor {
        let mut seed = 0x9e37_79b9_u32;
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect();
        tract_ndarray::ArrayD::from_shape_vec(shape, values).expect("input").into_tensor()
    }

    #[test]
    fn our_operators_compute_what_tracts_own_compute_on_the_shipped_models() {
        // (model, input shape, an operator of ours the plan must hold); the input is scaled to the model's range.
        let cases: [(&str, Vec<usize>, &str, f32); 5] = [
            ("sface", vec![1, 3, 112, 112], "PreluPerAxis", 128.0),
            ("yunet", vec![1, 3, 256, 320], "MaxPool2x2Stride2", 128.0),
            ("face_mesh", vec![1, 192, 192, 3], "PreluPerAxis", 1.0),
            ("face_mesh", vec![1, 192, 192, 3], "MaxPool2x2Stride2", 1.0),
            ("face_mesh_attention", vec![1, 192, 192, 3], "MaxPool2x2Stride2", 1.0),
        ];
        for (id, shape, ours, scale) in cases {
            let bytes = embedded(id);
            let fact = InferenceFact::dt_shape(f32::datum_type(), shape.clone());
            let theirs = tract_onnx::onnx()
                .with_ignore_value_info(true)
                .model_for_read(&mut &*bytes)
                .and_then(|m| m.with_input_fact(0, fact.clone()))
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .expect("tract's plan");
            let mine = onnx()
                .model_for_read(&mut &*bytes)
                .and_then(|m| m.with_input_fact(0, fact))
                .and_then(into_runnable)
                .expect("our plan");
            let held = mine.model().nodes().iter().filter(|n| n.op.name() == ours).count();
            assert!(held > 0, "{id}: no {ours} in the plan");
            let x = (input(&shape).to_plain_array_view::<f32>().unwrap().to_owned() * scale).into_tensor();
            let want = theirs.run(tvec!(x.clone().into_tvalue())).expect("tract's run");
            let got = mine.run(tvec!(x.into_tvalue())).expect("our run");
            assert_eq!(want.len(), got.len(), "{id}");
            for (w, g) in want.iter().zip(&got) {
                assert_eq!(w.shape(), g.shape(), "{id}");
                let (w, g) = (values(w), values(g));
                let worst = w.iter().zip(g).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0f32, f32::max);
                assert!(worst <= 1e-5, "{id}: outputs differ by {worst} ({held} x {ours})");
            }
        }
    }
}
