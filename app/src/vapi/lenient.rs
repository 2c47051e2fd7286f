//! Forgiving serde building blocks for Vapi's envelope: a string, object or list that reads as
//! absent when the JSON holds something else, and tool-call arguments that remember what they
//! were. Everything not needed is skipped with `IgnoredAny`, so nothing is built for it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Generates `visit_*` methods that consume a value of the named JSON kinds and return
/// `$result` (an expression; `$kind` names the JSON kind for messages).
macro_rules! visit_as {
    ($kind:ident => $result:expr; $($which:ident),*) => { $(visit_as!(@one $which, $kind, $result);)* };
    (@one unit, $kind:ident, $r:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { let $kind = "null"; Ok($r) }
    };
    (@one bool, $kind:ident, $r:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { let $kind = "a boolean"; Ok($r) }
    };
    (@one num, $kind:ident, $r:expr) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { let $kind = "a number"; Ok($r) }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { let $kind = "a number"; Ok($r) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { let $kind = "a number"; Ok($r) }
    };
    (@one str, $kind:ident, $r:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { let $kind = "a string"; Ok($r) }
    };
    (@one seq, $kind:ident, $r:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            let $kind = "an array";
            Ok($r)
        }
    };
    (@one map, $kind:ident, $r:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            let $kind = "an object";
            Ok($r)
        }
    };
}

/// A string (numbers are kept as their decimal text); anything else reads as absent.
#[derive(Default)]
pub(super) struct Str<'a>(pub Option<Cow<'a, str>>);

impl Str<'_> {
    pub fn owned(&self) -> Option<String> {
        self.0.as_deref().map(str::to_owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Str<'a>, E> {
                Ok(Str(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Str<'a>, E> {
                Ok(Str(Some(Cow::Owned(v.to_string()))))
            }
            visit_as!(_kind => Str(None); unit, bool, seq, map);
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Str<'a>, E> {
                Ok(Str(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A JSON object read as `T`; anything else reads as absent.
pub(super) struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            visit_as!(_kind => Obj(None); unit, bool, num, str, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A JSON array of `T` objects; anything else reads as empty, and an item that is not an object
/// (a number, a string, `null`) is absent from it rather than failing the whole body.
pub(super) struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(Obj(item)) = seq.next_element::<Obj<T>>()? {
                    items.extend(item);
                }
                Ok(List(items))
            }
            visit_as!(_kind => List(Vec::new()); unit, bool, num, str, map);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Tool-call arguments as sent: an object, JSON text, or something unusable.
#[derive(Default)]
pub(super) enum Args<'a> {
    #[default]
    Absent,
    Object(Map<String, Value>),
    Text(Cow<'a, str>),
    Unusable(&'static str),
}

impl<'a> Args<'a> {
    /// `self` unless absent, else `other`.
    pub fn or(self, other: Args<'a>) -> Args<'a> {
        match self {
            Args::Absent => other,
            _ => self,
        }
    }

    /// The arguments as an object, or why they cannot be one (worded for the model).
    pub fn into_map(self) -> Result<Map<String, Value>, String> {
        match self {
            Args::Absent => Ok(Map::new()),
            Args::Object(map) => Ok(map),
            Args::Text(text) if text.trim().is_empty() => Ok(Map::new()),
            Args::Text(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(other) => Err(format!(
                    "arguments must be a JSON object of named parameters, got JSON text holding {}",
                    kind_of(&other)
                )),
                Err(e) => Err(format!(
                    "arguments must be a JSON object of named parameters; the text sent is not valid JSON ({e})"
                )),
            },
            Args::Unusable(kind) => Err(format!(
                "arguments must be a JSON object of named parameters, got {kind}"
            )),
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Args<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Args<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or JSON text")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Args<'a>, A::Error> {
                Map::deserialize(MapAccessDeserializer::new(map)).map(Args::Object)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Args<'a>, E> {
                Ok(Args::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Args<'a>, E> {
                Ok(Args::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Args<'a>, E> {
                Ok(Args::Absent)
            }
            visit_as!(kind => Args::Unusable(kind); bool, num, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The root of a body: an object read as `T`, or the kind of JSON value it was instead.
pub(super) enum Root<T> {
    Object(T),
    Other(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Root<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Root<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Root<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Root::Object)
            }
            visit_as!(kind => Root::Other(kind); unit, bool, num, str, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}
