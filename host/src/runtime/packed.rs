//! The typed arguments packed into the one buffer that crosses into the guest (the
//! `arguments` case of `input` in `wit/scorehost.wit`, which gives the layout).
//!
//! Lowered as WIT lists, every name, shape, element buffer and string was an allocation of
//! its own in the guest, made by a call from the host into the guest's `cabi_realloc`: about
//! 20 for a Power BI request, which cost as many instructions as the rest of the guest's work.
//! Packed, the arguments cross as one list of bytes; each SDK unpacks it into the WIT types.

use super::bindings::{Argument, Dtype, Elements, NamedArgument, Param, Tensor};

/// Packs `arguments` as the WIT documents it.
pub(crate) fn pack(arguments: &[NamedArgument]) -> Vec<u8> {
    let mut size = Size(4);
    for argument in arguments {
        size.named_argument(argument);
    }
    let mut out = Out(Vec::with_capacity(size.0));
    out.len(arguments.len());
    for argument in arguments {
        out.named_argument(argument);
    }
    debug_assert_eq!(out.0.len(), size.0);
    out.0
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

/// Counts the packed size first, so that a large tensor is copied once.
struct Size(usize);

impl Size {
    fn str(&mut self, s: &str) {
        self.0 += 4 + s.len();
    }

    fn named_argument(&mut self, argument: &NamedArgument) {
        self.str(&argument.name);
        self.0 += 1;
        match &argument.value {
            Argument::Value(param) => self.param(param),
            Argument::Group(entries) => {
                self.0 += 4;
                for entry in entries {
                    self.str(&entry.name);
                    self.param(&entry.value);
                }
            }
        }
    }

    fn param(&mut self, param: &Param) {
        self.0 += 1;
        match param {
            Param::Tensor(tensor) => self.tensor(tensor),
            Param::Frame(frame) => {
                self.0 += 4;
                for column in &frame.columns {
                    self.str(&column.name);
                    self.tensor(&column.values);
                }
            }
            Param::Json(text) => self.str(text),
        }
    }

    fn tensor(&mut self, tensor: &Tensor) {
        self.0 += 1 + 4 + 8 * tensor.shape.len() + 1 + 4;
        match &tensor.elements {
            Elements::Bytes(bytes) => self.0 += bytes.len(),
            Elements::Strings(strings) => {
                for s in strings {
                    self.str(s);
                }
            }
        }
    }
}

/// The buffer being written.
struct Out(Vec<u8>);

impl Out {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    /// A length or count. The body limit keeps every one far below 4 GiB; a larger one
    /// would be a host bug, so it stops the packing loudly rather than wrapping.
    fn len(&mut self, n: usize) {
        let n = u32::try_from(n).expect("a packed length over 4 GiB");
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn named_argument(&mut self, argument: &NamedArgument) {
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
            self.0.extend_from_slice(&dim.to_le_bytes());
        }
        match &tensor.elements {
            Elements::Bytes(bytes) => {
                self.byte(tag::BYTES);
                self.len(bytes.len());
                self.0.extend_from_slice(bytes);
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
    use crate::runtime::bindings::{Column, Frame, NamedParam};

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
