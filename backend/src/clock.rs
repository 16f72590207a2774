//! The server's view of the outside world that `shared` takes as data: the time and new uuids.

use std::time::{SystemTime, UNIX_EPOCH};

use shared::time::Timestamp;

/// Now, to the microsecond.
pub fn now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros())
        .unwrap_or_default();
    Timestamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// A new uuid as Polyaxon writes them: 32 hex digits, random (version 4).
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system has a source of randomness");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
