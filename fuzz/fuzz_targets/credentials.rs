//! libFuzzer's inputs to [`fuzz_targets::credentials`] (what it feeds and checks is documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_targets::credentials::check(data));
