//! Test support for the parsers' property tests: proptest strategies that mutate real bodies,
//! byte by byte (delete, insert, flip, truncate, splice) or value by value (a JSON value replaced
//! by another type, `null`, a huge number, a deep nest, or removed), and the case counts those
//! properties run with (enough to matter, a few seconds at most in a debug build).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Cases for a property whose input is a whole body.
pub const BODY_CASES: u32 = 3_000;

/// One edit of a byte string; positions are taken modulo the length.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Flip(usize, u8),
    Truncate(usize),
    /// Copies `len` bytes from one place to another (duplicated keys, repeated brackets).
    Splice {
        from: usize,
        len: usize,
        to: usize,
    },
}

/// Bytes that matter to JSON, and some that do not belong in it.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"{}[]\",:\\0123456789-+.eEtrufalsn \n\t".to_vec()),
        1 => any::<u8>(),
    ]
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, n)| ByteEdit::Delete(at, n)),
        (
            any::<usize>(),
            prop::collection::vec(interesting_byte(), 1..6)
        )
            .prop_map(|(at, b)| ByteEdit::Insert(at, b)),
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| ByteEdit::Flip(at, mask)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), 1..32usize, any::<usize>()).prop_map(|(from, len, to)| ByteEdit::Splice {
            from,
            len,
            to
        }),
    ]
}

/// Applies `edits` in order.
pub fn edit_bytes(mut bytes: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        if len == 0 {
            break;
        }
        match edit {
            ByteEdit::Delete(at, n) => {
                let at = at % len;
                bytes.drain(at..(at + n).min(len));
            }
            ByteEdit::Insert(at, new) => {
                let at = at % (len + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            ByteEdit::Flip(at, mask) => bytes[at % len] ^= mask,
            ByteEdit::Truncate(at) => bytes.truncate(at % len),
            ByteEdit::Splice { from, len: n, to } => {
                let from = from % len;
                let piece = bytes[from..(from + n).min(len)].to_vec();
                let to = to % (len + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// What a JSON value is replaced with.
#[derive(Debug, Clone)]
pub enum Replacement {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Huge,
    Text(String),
    EmptyArray,
    EmptyObject,
    /// The value wrapped in a one-element array (a list where one item was expected).
    InArray,
    /// Many levels of nesting (parsers must not recurse without bound).
    Deep(usize),
    /// The key removed from its object (or the item from its array).
    Remove,
}

pub fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        3 => Just(Replacement::Null),
        1 => any::<bool>().prop_map(Replacement::Bool),
        1 => any::<i64>().prop_map(Replacement::Int),
        1 => any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Replacement::Float),
        1 => Just(Replacement::Huge),
        2 => "\\PC{0,24}".prop_map(Replacement::Text),
        1 => Just(Replacement::EmptyArray),
        1 => Just(Replacement::EmptyObject),
        1 => Just(Replacement::InArray),
        1 => (1..200usize).prop_map(Replacement::Deep),
        3 => Just(Replacement::Remove),
    ]
}

/// Replaces (or removes) the `index`-th value of `root` in pre-order, counted modulo the number
/// of values below the root. Returns the path of the value that changed (keys and indices).
pub fn replace_value(root: &mut Value, index: usize, with: &Replacement) -> Vec<String> {
    let count = count_below(root);
    if count == 0 {
        return Vec::new();
    }
    let mut left = index % count;
    let mut path = Vec::new();
    replace_in(root, &mut left, with, &mut path);
    path
}

fn count_below(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.iter().map(|i| 1 + count_below(i)).sum(),
        Value::Object(map) => map.values().map(|i| 1 + count_below(i)).sum(),
        _ => 0,
    }
}

/// Walks children in pre-order; `left` counts down to the target.
fn replace_in(v: &mut Value, left: &mut usize, with: &Replacement, path: &mut Vec<String>) -> bool {
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                path.push(key.clone());
                if *left == 0 {
                    match new_value(&map[&key], with) {
                        Some(new) => map[&key] = new,
                        None => {
                            map.remove(&key);
                        }
                    }
                    return true;
                }
                *left -= 1;
                if replace_in(&mut map[&key], left, with, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        Value::Array(items) => {
            for i in 0..items.len() {
                path.push(i.to_string());
                if *left == 0 {
                    match new_value(&items[i], with) {
                        Some(new) => items[i] = new,
                        None => {
                            items.remove(i);
                        }
                    }
                    return true;
                }
                *left -= 1;
                if replace_in(&mut items[i], left, with, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

fn new_value(old: &Value, with: &Replacement) -> Option<Value> {
    Some(match with {
        Replacement::Null => Value::Null,
        Replacement::Bool(b) => json!(b),
        Replacement::Int(n) => json!(n),
        Replacement::Float(f) => json!(f),
        Replacement::Huge => serde_json::from_str("1e308").expect("a JSON number"),
        Replacement::Text(s) => json!(s),
        Replacement::EmptyArray => json!([]),
        Replacement::EmptyObject => Value::Object(Map::new()),
        Replacement::InArray => json!([old]),
        Replacement::Deep(n) => {
            let mut v = old.clone();
            for i in 0..*n {
                v = if i % 2 == 0 {
                    json!([v])
                } else {
                    json!({"x": v})
                };
            }
            v
        }
        Replacement::Remove => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_replacements_do_what_they_say() {
        let bytes = b"{\"a\":[1,2]}".to_vec();
        assert_eq!(edit_bytes(bytes.clone(), &[ByteEdit::Truncate(3)]), b"{\"a");
        assert_eq!(
            edit_bytes(bytes.clone(), &[ByteEdit::Delete(0, 1)]),
            b"\"a\":[1,2]}"
        );
        assert_eq!(
            edit_bytes(bytes, &[ByteEdit::Insert(1, b"x".to_vec())]),
            b"{x\"a\":[1,2]}"
        );
        let mut v = json!({"a": [1, {"b": 2}], "c": 3});
        // Pre-order below the root: a, a[0], a[1], a[1].b, c.
        assert_eq!(
            replace_value(&mut v, 3, &Replacement::Null),
            ["a", "1", "b"]
        );
        assert_eq!(v, json!({"a": [1, {"b": null}], "c": 3}));
        replace_value(&mut v, 4, &Replacement::Remove);
        assert_eq!(v, json!({"a": [1, {"b": null}]}));
        replace_value(&mut v, 1, &Replacement::InArray);
        assert_eq!(v, json!({"a": [[1], {"b": null}]}));
    }
}
