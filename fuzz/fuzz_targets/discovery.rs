//! libFuzzer on the `discovery` property of `agora-fuzzing` (its docs state the property; the same
//! check runs bounded in the test suite and for a time budget in `agora bench fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agora_fuzzing::discovery::check(data));
