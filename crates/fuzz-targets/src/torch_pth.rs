//! The PyTorch checkpoint reader (zip + pickle + tensor storage) behind the anti-spoofing weights: any bytes
//! give a state dict or a typed error, never a panic or a huge allocation.

/// One input: no panic, and the properties above.
pub fn check(data: &[u8]) {
    let _ = antispoof::pickle::load(data);
    if let Ok(dict) = antispoof::pth::read_state_dict(data) {
        for tensor in dict.values() {
            assert_eq!(tensor.data.len(), tensor.shape.iter().product::<usize>(), "a tensor's data fits its shape");
        }
    }
}
