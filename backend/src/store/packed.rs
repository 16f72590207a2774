//! How a run's Polyaxonfile, compiled operation and Kubernetes resource are kept: deflated
//! with a *base* as the dictionary, the same part of an earlier run of its component. Runs of
//! one component differ in a few names, uuids and values, so each costs a few hundred bytes
//! where the resource alone is several kilobytes of JSON. Bases are immutable: a run's bytes
//! name the base they need, and a base is never changed or removed while a run may name it.
//!
//! A packed value: a tag byte, then for [`AGAINST_BASE`] the base's id (8 bytes, little
//! endian), then the raw deflate stream. Unpacking is bounded ([`MAX_UNPACKED`]) and an error,
//! never a panic, for bytes that do not decode.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Deflated on its own.
pub const DEFLATED: u8 = 1;
/// Deflated with a base as the dictionary.
pub const AGAINST_BASE: u8 = 2;
/// Deflated with one of the [`BUILT_IN`] dictionaries (its number, one byte, follows).
pub const AGAINST_BUILT_IN: u8 = 3;

/// What a run's status conditions look like: the dictionary they are packed with.
pub const CONDITIONS: u8 = 0;

/// Dictionaries built into the server, by number. Stored values name them, so one is never
/// changed once released; a better one is added under a new number.
const BUILT_IN: [&[u8]; 1] = [br#"[{"type":"created","status":"True","reason":"Myelin","message":"Run is created","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"compiled","status":"True","reason":"Myelin","message":"Run is compiled","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"queued","status":"True","reason":"ProcessRuntime","message":"Run is queued","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"scheduled","status":"True","reason":"KubernetesRuntime","message":"Run is scheduled","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"starting","status":"True","reason":"Scheduler","message":"Run is starting","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"running","status":"True","reason":"ProcessRuntime","message":"Run is running","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"succeeded","status":"True","reason":"ProcessRuntime","message":"Run has succeeded","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"failed","status":"True","reason":"ProcessRuntime","message":"Run has failed","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"},{"type":"stopped","status":"True","reason":"ProcessRuntime","message":"Run was stopped","last_update_time":"2026-01-01T00:00:00.000000+00:00","last_transition_time":"2026-01-01T00:00:00.000000+00:00"}]"#];

/// What a value is deflated against.
#[derive(Debug, Clone, Copy)]
pub enum Dictionary<'a> {
    /// Nothing: deflated on its own.
    None,
    /// A base (its id, its bytes).
    Base(i64, &'a [u8]),
    /// A built-in dictionary, by number ([`CONDITIONS`]).
    BuiltIn(u8),
}
/// The most bytes a packed value unpacks to (a Polyaxonfile is bounded far below).
pub const MAX_UNPACKED: usize = 64 << 20;

/// `text` deflated against `dictionary`.
pub fn pack(text: &[u8], dictionary: Dictionary<'_>) -> Vec<u8> {
    let mut packed = Vec::with_capacity(text.len() / 4 + 16);
    let mut compress = Compress::new(Compression::best(), false);
    let preset = match dictionary {
        Dictionary::None => {
            packed.push(DEFLATED);
            None
        }
        Dictionary::Base(id, bytes) => {
            packed.push(AGAINST_BASE);
            packed.extend_from_slice(&id.to_le_bytes());
            Some(bytes)
        }
        Dictionary::BuiltIn(number) => {
            packed.extend_from_slice(&[AGAINST_BUILT_IN, number]);
            Some(BUILT_IN[usize::from(number)])
        }
    };
    if let Some(preset) = preset {
        compress
            .set_dictionary(preset)
            .expect("a raw deflate stream takes a dictionary before any input");
    }
    let mut input = text;
    loop {
        packed.reserve(input.len().max(256));
        let before = (compress.total_in(), packed.len());
        let status = compress
            .compress_vec(input, &mut packed, FlushCompress::Finish)
            .expect("deflating into memory does not fail");
        let taken = (compress.total_in() - before.0) as usize;
        input = &input[taken..];
        if status == Status::StreamEnd {
            return packed;
        }
    }
}

/// The base a packed value was deflated against, if any.
pub fn base_of(packed: &[u8]) -> Option<i64> {
    match packed {
        [AGAINST_BASE, id @ ..] if id.len() >= 8 => {
            Some(i64::from_le_bytes(id[..8].try_into().ok()?))
        }
        _ => None,
    }
}

/// The bytes a packed value holds; `base` must be the bytes of the base it names, if any.
pub fn unpack(packed: &[u8], base: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut decompress = Decompress::new(false);
    let (stream, preset) = match packed {
        [DEFLATED, stream @ ..] => (stream, None),
        [AGAINST_BASE, rest @ ..] if rest.len() >= 8 => {
            let base = base.ok_or("the value names a base that was not given")?;
            (&rest[8..], Some(base))
        }
        [AGAINST_BUILT_IN, number, stream @ ..] => {
            let dictionary = BUILT_IN
                .get(usize::from(*number))
                .ok_or_else(|| format!("no built-in dictionary {number}"))?;
            (stream, Some(*dictionary))
        }
        [tag, ..] => return Err(format!("unknown packing {tag}")),
        [] => return Err("an empty packed value".to_owned()),
    };
    if let Some(preset) = preset {
        decompress
            .set_dictionary(preset)
            .map_err(|error| format!("the dictionary does not serve: {error}"))?;
    }
    let mut text = Vec::with_capacity(stream.len() * 4);
    let mut input = stream;
    loop {
        if text.len() >= MAX_UNPACKED {
            return Err(format!("it unpacks to more than {MAX_UNPACKED} bytes"));
        }
        text.reserve((stream.len() * 4).clamp(256, MAX_UNPACKED - text.len()));
        let (before, written) = (decompress.total_in(), text.len());
        let status = decompress
            .decompress_vec(input, &mut text, FlushDecompress::Finish)
            .map_err(|error| format!("it does not inflate: {error}"))?;
        let taken = (decompress.total_in() - before) as usize;
        input = &input[taken..];
        if status == Status::StreamEnd {
            return Ok(text);
        }
        // Nothing read and nothing written, with room to write: the stream is cut short.
        if taken == 0 && text.len() == written {
            return Err("the stream ends early".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(uuid: &str, lr: f64) -> Vec<u8> {
        format!(
            r#"{{"apiVersion":"core.polyaxon.com/v1","kind":"Operation","metadata":{{"name":"plx-operation-{uuid}","labels":{{"app.kubernetes.io/instance":"{uuid}"}}}},"spec":{{"containers":[{{"name":"polyaxon-main","image":"python:3.11","args":["--lr={lr}"]}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_value_comes_back_the_same_alone_or_against_a_base_and_is_smaller_so() {
        let base = resource("0".repeat(32).as_str(), 0.1);
        let text = resource("f".repeat(32).as_str(), 0.25);
        let alone = pack(&text, Dictionary::None);
        let against = pack(&text, Dictionary::Base(7, &base));
        assert_eq!(base_of(&alone), None);
        assert_eq!(base_of(&against), Some(7));
        assert_eq!(unpack(&alone, None).unwrap(), text);
        assert_eq!(unpack(&against, Some(&base)).unwrap(), text);
        assert!(
            against.len() < alone.len() / 2,
            "{} vs {}",
            against.len(),
            alone.len()
        );
        assert_eq!(unpack(&pack(b"", Dictionary::None), None).unwrap(), b"");
        let large: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(
            unpack(&pack(&large, Dictionary::None), None).unwrap(),
            large
        );
        let conditions = br#"[{"type":"created","status":"True","reason":"Myelin","message":"Run is created","last_update_time":"2026-12-08T00:58:22.006383+00:00","last_transition_time":"2026-12-08T00:58:22.006383+00:00"}]"#;
        let built_in = pack(conditions, Dictionary::BuiltIn(CONDITIONS));
        assert_eq!(unpack(&built_in, None).unwrap(), conditions);
        assert!(built_in.len() * 4 < conditions.len(), "{}", built_in.len());
    }

    #[test]
    fn bytes_that_do_not_unpack_are_an_error_not_a_panic() {
        let text = resource("a".repeat(32).as_str(), 0.5);
        let base = resource("b".repeat(32).as_str(), 0.5);
        let packed = pack(&text, Dictionary::Base(1, &base));
        assert!(unpack(&packed, None).is_err(), "its base is needed");
        assert!(unpack(&[], None).is_err());
        assert!(unpack(&[9, 1, 2], None).is_err());
        assert!(unpack(&[AGAINST_BUILT_IN, 200, 1], None).is_err());
        for cut in 0..packed.len() {
            let _ = unpack(&packed[..cut], Some(&base));
        }
        let mut changed = packed.clone();
        for at in 9..changed.len() {
            changed[at] ^= 0x5a;
            let _ = unpack(&changed, Some(&base));
            changed[at] ^= 0x5a;
        }
    }
}
