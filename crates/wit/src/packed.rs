//! The typed arguments packed into the one buffer that crosses into the guest (the
//! `arguments` case of `input` in `wit/scorehost.wit`, which gives the layout).
//!
//! Lowered as WIT lists, every name, shape, element buffer and string was an allocation of
//! its own in the guest, made by a call from the host into the guest's `cabi_realloc`: about
//! 20 for a Power BI request, which cost as many instructions as the rest of the guest's work.
//! Packed, the arguments cross as one list of bytes; each SDK unpacks it into the WIT types.

use crate::{Argument, Dtype, Elements, NamedArgument, Param, Tensor};

/// Packs `arguments` as the WIT documents it.
pub fn pack(arguments: &[NamedArgument]) -> Vec<u8> {
    // Sized by a first walk that only counts, so that a large tensor is copied once.
    let mut size = 0usize;
    Packer(&mut size).arguments(arguments);
    let mut out = Vec::with_capacity(size);
    Packer(&mut out).arguments(arguments);
    debug_assert_eq!(out.len(), size);
    out
}

/// The packing's tags, as the WIT lists them.
mod tag {
    pub const VALUE: u8 = 0;
    pub const GROUP: u8 = 1;
    pub const TENSOR: u8 = 0;
    pub const FRAME: u8 = 1;
    pub const JSON: u8 = 2;
    pub const BYTES: u8 = 0;
    pub const STRINGS: u8 = 1;
}

/// A dtype's byte: its case's index in the WIT enum.
fn dtype_byte(dtype: Dtype) -> u8 {
    match dtype {
        Dtype::Float64 => 0,
        Dtype::Float32 => 1,
        Dtype::Int64 => 2,
        Dtype::Int32 => 3,
        Dtype::Int16 => 4,
        Dtype::Int8 => 5,
        Dtype::Uint64 => 6,
        Dtype::Uint32 => 7,
        Dtype::Uint16 => 8,
        Dtype::Uint8 => 9,
        Dtype::Bool => 10,
        Dtype::Str => 11,
    }
}

/// Where the packed bytes go: the buffer, or a counter of their length.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for usize {
    fn put(&mut self, bytes: &[u8]) {
        *self += bytes.len();
    }
}

/// Walks the arguments in the WIT's order, writing each field to the sink.
struct Packer<'s, S: Sink>(&'s mut S);

impl<S: Sink> Packer<'_, S> {
    fn byte(&mut self, b: u8) {
        self.0.put(&[b]);
    }

    /// A length or count. The body limit keeps every one far below 4 GiB; a larger one
    /// would be a host bug, so it stops the packing loudly rather than wrapping.
    fn len(&mut self, n: usize) {
        let n = u32::try_from(n).expect("a packed length over 4 GiB");
        self.0.put(&n.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.put(s.as_bytes());
    }

    fn arguments(&mut self, arguments: &[NamedArgument]) {
        self.len(arguments.len());
        for argument in arguments {
            self.str(&argument.name);
            match &argument.value {
                Argument::Value(param) => {
                    self.byte(tag::VALUE);
                    self.param(param);
                }
                Argument::Group(entries) => {
                    self.byte(tag::GROUP);
                    self.len(entries.len());
                    for entry in entries {
                        self.str(&entry.name);
                        self.param(&entry.value);
                    }
                }
            }
        }
    }

    fn param(&mut self, param: &Param) {
        match param {
            Param::Tensor(tensor) => {
                self.byte(tag::TENSOR);
                self.tensor(tensor);
            }
            Param::Frame(frame) => {
                self.byte(tag::FRAME);
                self.len(frame.columns.len());
                for column in &frame.columns {
                    self.str(&column.name);
                    self.tensor(&column.values);
                }
            }
            Param::Json(text) => {
                self.byte(tag::JSON);
                self.str(text);
            }
        }
    }

    fn tensor(&mut self, tensor: &Tensor) {
        self.byte(dtype_byte(tensor.dtype));
        self.len(tensor.shape.len());
        for dim in &tensor.shape {
            self.0.put(&dim.to_le_bytes());
        }
        match &tensor.elements {
            Elements::Bytes(bytes) => {
                self.byte(tag::BYTES);
                self.len(bytes.len());
                self.0.put(bytes);
            }
            Elements::Strings(strings) => {
                self.byte(tag::STRINGS);
                self.len(strings.len());
                for s in strings {
                    self.str(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, Frame, NamedParam};
    use serde_json::Value;

    /// `wit/packed-vectors.json`: the golden vectors every codec of the layout is tested on.
    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../../wit/packed-vectors.json")).unwrap()
    }

    /// The vectors' neutral form of an argument (their `form` says how), as the WIT type.
    fn argument_of(v: &Value) -> NamedArgument {
        let name = v["name"].as_str().unwrap().to_owned();
        let value = match v.get("value") {
            Some(param) => Argument::Value(param_of(param)),
            None => Argument::Group(
                v["group"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|entry| NamedParam {
                        name: entry["name"].as_str().unwrap().to_owned(),
                        value: param_of(&entry["param"]),
                    })
                    .collect(),
            ),
        };
        NamedArgument { name, value }
    }

    fn param_of(v: &Value) -> Param {
        if let Some(tensor) = v.get("tensor") {
            return Param::Tensor(tensor_of(tensor));
        }
        if let Some(columns) = v.get("frame") {
            let columns = columns.as_array().unwrap().iter();
            return Param::Frame(Frame {
                columns: columns
                    .map(|c| Column {
                        name: c["name"].as_str().unwrap().to_owned(),
                        values: tensor_of(&c["tensor"]),
                    })
                    .collect(),
            });
        }
        Param::Json(v["json"].as_str().unwrap().to_owned())
    }

    fn tensor_of(v: &Value) -> Tensor {
        let dtype = crate::dtype_named(v["dtype"].as_str().unwrap()).unwrap();
        let shape = v["shape"].as_array().unwrap();
        let elements = match (v.get("bytes"), v.get("strings")) {
            (Some(hex), None) => Elements::Bytes(from_hex(hex.as_str().unwrap())),
            (None, Some(strings)) => Elements::Strings(
                strings
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
            ),
            _ => panic!("a tensor with bytes or strings: {v}"),
        };
        Tensor {
            dtype,
            shape: shape.iter().map(|d| d.as_u64().unwrap()).collect(),
            elements,
        }
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn packs_every_golden_vector_into_its_bytes() {
        let vectors = vectors();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 4);
        for case in cases {
            let arguments: Vec<NamedArgument> = case["arguments"]
                .as_array()
                .unwrap()
                .iter()
                .map(argument_of)
                .collect();
            assert_eq!(
                pack(&arguments)
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect::<String>(),
                case["packed"].as_str().unwrap(),
                "{}",
                case["name"]
            );
        }
    }

    #[test]
    fn packs_field_by_field_little_endian() {
        let arguments = vec![
            NamedArgument {
                name: "Inputs".into(),
                value: Argument::Group(vec![
                    NamedParam {
                        name: "a".into(),
                        value: Param::Tensor(Tensor {
                            dtype: Dtype::Int32,
                            shape: vec![2],
                            elements: Elements::Bytes(vec![1, 0, 0, 0, 2, 0, 0, 0]),
                        }),
                    },
                    NamedParam {
                        name: "f".into(),
                        value: Param::Frame(Frame {
                            columns: vec![Column {
                                name: "s".into(),
                                values: Tensor {
                                    dtype: Dtype::Str,
                                    shape: vec![1],
                                    elements: Elements::Strings(vec!["é".into()]),
                                },
                            }],
                        }),
                    },
                ]),
            },
            NamedArgument {
                name: "g".into(),
                value: Argument::Value(Param::Json("1".into())),
            },
        ];
        let mut want: Vec<u8> = vec![2, 0, 0, 0];
        want.extend([6, 0, 0, 0]);
        want.extend(b"Inputs");
        want.extend([tag::GROUP, 2, 0, 0, 0]);
        want.extend([1, 0, 0, 0, b'a', tag::TENSOR, 3, 1, 0, 0, 0]);
        want.extend(2u64.to_le_bytes());
        want.extend([tag::BYTES, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        want.extend([1, 0, 0, 0, b'f', tag::FRAME, 1, 0, 0, 0]);
        want.extend([1, 0, 0, 0, b's', 11, 1, 0, 0, 0]);
        want.extend(1u64.to_le_bytes());
        want.extend([tag::STRINGS, 1, 0, 0, 0, 2, 0, 0, 0]);
        want.extend("é".as_bytes());
        want.extend([1, 0, 0, 0, b'g', tag::VALUE, tag::JSON, 1, 0, 0, 0, b'1']);
        assert_eq!(pack(&arguments), want);
        assert_eq!(pack(&[]), vec![0, 0, 0, 0]);
    }
}
