//! libFuzzer's inputs to [`fuzz_targets::api_request`] (what it feeds and checks is documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_targets::api_request::check(data));
