//! Discovery's wire formats (UDP datagrams: beacons and pushes; DHT values: signed records):
//! decoding arbitrary bytes never panics, whatever decodes is canonical, and verifying it
//! never panics. The property lives in `agora_discovery::fuzzing`, which the crate's tests
//! also run for a bounded number of mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agora_discovery::fuzzing::check(data));
