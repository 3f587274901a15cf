//! Unpacks the typed arguments the host packs into one buffer (the `arguments` case of
//! `input` in `wit/scorehost.wit`, which gives the layout) into [`Arguments`].
//!
//! One buffer crosses the boundary with one allocation, where the same arguments as WIT
//! lists took one call from the host into `cabi_realloc` per name, shape, element buffer and
//! string. Here each of them is allocated by the guest's own allocator, which is far cheaper
//! than a call across the boundary.

use crate::{Argument, Arguments, Column, Dtype, Elements, Frame, Inputs, Param, RunError, Tensor};

/// The arguments in `bytes`. A malformed buffer is a host bug, not the client's: a 500 whose
/// message (in the host's log) names what is wrong and where.
pub(crate) fn unpack(bytes: &[u8]) -> Result<Arguments, RunError> {
    let mut reader = Reader { bytes, at: 0 };
    reader.arguments().map_err(|what| {
        RunError::failed(format!(
            "packed arguments: {what} at byte {} of {}",
            reader.at,
            bytes.len()
        ))
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("truncated")?;
        let slice = self.bytes.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn len(&mut self) -> Result<usize, &'static str> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("four bytes")) as usize)
    }

    /// A count of items each at least `min` bytes long: one the rest of the buffer cannot
    /// hold is refused before anything is allocated for it.
    fn count(&mut self, min: usize) -> Result<usize, &'static str> {
        let n = self.len()?;
        if n.saturating_mul(min) > self.bytes.len() - self.at {
            return Err("truncated");
        }
        Ok(n)
    }

    fn str(&mut self) -> Result<String, &'static str> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| "a string that is not UTF-8")
    }

    fn arguments(&mut self) -> Result<Arguments, &'static str> {
        let n = self.count(6)?;
        let mut arguments = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?;
            let value = match self.byte()? {
                0 => Argument::Value(self.param()?),
                1 => {
                    let n = self.count(6)?;
                    let mut entries = Vec::with_capacity(n);
                    for _ in 0..n {
                        entries.push((self.str()?, self.param()?));
                    }
                    Argument::Group(Inputs::from_entries(entries))
                }
                _ => return Err("an unknown argument tag"),
            };
            arguments.push((name, value));
        }
        if self.at != self.bytes.len() {
            return Err("bytes left over");
        }
        Ok(Arguments::from_entries(arguments))
    }

    fn param(&mut self) -> Result<Param, &'static str> {
        Ok(match self.byte()? {
            0 => Param::Tensor(self.tensor()?),
            1 => {
                let n = self.count(14)?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = self.str()?;
                    columns.push(Column {
                        name,
                        values: self.tensor()?,
                    });
                }
                Param::Frame(Frame { columns })
            }
            2 => {
                let n = self.len()?;
                let text = self.take(n)?;
                Param::Json(serde_json::from_slice(text).map_err(|_| "invalid JSON")?)
            }
            _ => return Err("an unknown param tag"),
        })
    }

    fn tensor(&mut self) -> Result<Tensor, &'static str> {
        let dtype = DTYPES
            .get(usize::from(self.byte()?))
            .copied()
            .ok_or("an unknown dtype")?;
        let ndim = self.count(8)?;
        let shape = (0..ndim)
            .map(|_| {
                let bytes = self.take(8)?;
                Ok(u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
            })
            .collect::<Result<Vec<u64>, &'static str>>()?;
        let elements = match self.byte()? {
            0 => {
                let n = self.len()?;
                Elements::Bytes(self.take(n)?.to_vec())
            }
            1 => {
                let n = self.count(4)?;
                let mut strings = Vec::with_capacity(n);
                for _ in 0..n {
                    strings.push(self.str()?);
                }
                Elements::Strings(strings)
            }
            _ => return Err("an unknown elements tag"),
        };
        Ok(Tensor {
            dtype,
            shape,
            elements,
        })
    }
}

/// The dtypes by their byte: the cases of the WIT enum in order.
const DTYPES: [Dtype; 12] = [
    Dtype::Float64,
    Dtype::Float32,
    Dtype::Int64,
    Dtype::Int32,
    Dtype::Int16,
    Dtype::Int8,
    Dtype::Uint64,
    Dtype::Uint32,
    Dtype::Uint16,
    Dtype::Uint8,
    Dtype::Bool,
    Dtype::Str,
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// `wit/packed-vectors.json`: the golden vectors every codec of the layout is tested on.
    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../wit/packed-vectors.json")).unwrap()
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The dtypes' names in the vectors, in the WIT enum's order.
    const DTYPE_NAMES: [&str; 12] = [
        "float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16",
        "uint8", "bool", "str",
    ];

    /// `arguments` in the vectors' neutral form, with each JSON value parsed (this SDK hands
    /// scripts the parsed value, not the text).
    fn neutral(arguments: &Arguments) -> Value {
        let tensor = |t: &Tensor| {
            let index = DTYPES.iter().position(|d| *d == t.dtype).unwrap();
            let mut v = json!({"dtype": DTYPE_NAMES[index], "shape": t.shape});
            match &t.elements {
                Elements::Bytes(bytes) => {
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    v["bytes"] = json!(hex);
                }
                Elements::Strings(strings) => v["strings"] = json!(strings),
            }
            v
        };
        let param = |p: &Param| match p {
            Param::Tensor(t) => json!({"tensor": tensor(t)}),
            Param::Frame(f) => json!({"frame": f.columns.iter().map(|c| json!({
                "name": c.name, "tensor": tensor(&c.values)})).collect::<Vec<_>>()}),
            Param::Json(value) => json!({"json": value}),
        };
        Value::Array(
            arguments
                .iter()
                .map(|(name, argument)| match argument {
                    Argument::Value(p) => json!({"name": name, "value": param(p)}),
                    Argument::Group(inputs) => json!({"name": name, "group": inputs.iter()
                        .map(|(n, p)| json!({"name": n, "param": param(p)}))
                        .collect::<Vec<_>>()}),
                })
                .collect(),
        )
    }

    /// The vectors' `arguments` with each JSON text parsed, as [`neutral`] gives them.
    fn parsed(mut v: Value) -> Value {
        match &mut v {
            Value::Object(map) => {
                if let Some(Value::String(text)) = map.get("json") {
                    // A param: the text is the whole of it.
                    let value: Value = serde_json::from_str(text).unwrap();
                    map.insert("json".into(), value);
                } else {
                    for item in map.values_mut() {
                        *item = parsed(item.take());
                    }
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    *item = parsed(item.take());
                }
            }
            _ => {}
        }
        v
    }

    #[test]
    fn unpacks_every_golden_vector_and_refuses_every_malformed_one() {
        let vectors = vectors();
        for case in vectors["cases"].as_array().unwrap() {
            let packed = from_hex(case["packed"].as_str().unwrap());
            let arguments = unpack(&packed).unwrap();
            assert_eq!(
                neutral(&arguments),
                parsed(case["arguments"].clone()),
                "{}",
                case["name"]
            );
        }
        for case in vectors["malformed"].as_array().unwrap() {
            let error = message(&from_hex(case["packed"].as_str().unwrap()));
            let word = case["error"].as_str().unwrap();
            assert!(error.contains(word), "{}: {error}", case["name"]);
        }
    }

    /// The Power BI request's arguments, packed by hand from the WIT's grammar.
    fn power_bi() -> Vec<u8> {
        let mut b: Vec<u8> = vec![2, 0, 0, 0];
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u32).to_le_bytes());
            b.extend(s.as_bytes());
        };
        s(&mut b, "Inputs");
        b.extend([1, 2, 0, 0, 0]);
        s(&mut b, "input1");
        b.extend([0, 0, 2, 0, 0, 0]);
        b.extend(1u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend([0, 16, 0, 0, 0]);
        b.extend(1.5f64.to_le_bytes());
        b.extend((-2.0f64).to_le_bytes());
        s(&mut b, "input2");
        b.extend([1, 1, 0, 0, 0]);
        s(&mut b, "name");
        b.extend([11, 1, 0, 0, 0]);
        b.extend(2u64.to_le_bytes());
        b.extend([1, 2, 0, 0, 0]);
        s(&mut b, "Sarah");
        s(&mut b, "Jöhn");
        s(&mut b, "GlobalParameters");
        b.extend([0, 2]);
        s(&mut b, "1.0");
        b
    }

    #[test]
    fn unpacks_every_case() {
        let arguments = unpack(&power_bi()).unwrap();
        let names: Vec<&str> = arguments.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["Inputs", "GlobalParameters"]);
        let inputs = arguments.group("Inputs").unwrap();
        let mut floats = 1.5f64.to_le_bytes().to_vec();
        floats.extend((-2.0f64).to_le_bytes());
        assert_eq!(
            inputs.get("input1"),
            Some(&Param::Tensor(Tensor {
                dtype: Dtype::Float64,
                shape: vec![1, 2],
                elements: Elements::Bytes(floats),
            }))
        );
        assert_eq!(
            inputs.get("input2"),
            Some(&Param::Frame(Frame {
                columns: vec![Column {
                    name: "name".into(),
                    values: Tensor {
                        dtype: Dtype::Str,
                        shape: vec![2],
                        elements: Elements::Strings(vec!["Sarah".into(), "Jöhn".into()]),
                    },
                }],
            }))
        );
        assert_eq!(inputs.len(), 2);
        assert_eq!(
            arguments.get("GlobalParameters"),
            Some(&Param::Json(serde_json::json!(1.0)))
        );
        assert_eq!(unpack(&[0, 0, 0, 0]).unwrap().iter().count(), 0);
    }

    /// The message of the 500 a malformed buffer gets.
    fn message(bytes: &[u8]) -> String {
        match unpack(bytes) {
            Err(RunError::Failed(message)) => message,
            other => panic!("not refused as a host failure: {other:?}"),
        }
    }

    #[test]
    fn refuses_a_malformed_buffer() {
        let good = power_bi();
        for cut in [0, 3, 9, good.len() - 1] {
            let error = message(&good[..cut]);
            assert!(error.contains("truncated"), "{cut}: {error}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(message(&extra).contains("left over"));
        let mut bad_tag = good.clone();
        bad_tag[14] = 7;
        assert!(message(&bad_tag).contains("unknown argument tag"));
        // A count no buffer of this size can hold allocates nothing.
        assert!(message(&[255, 255, 255, 255]).contains("truncated"));
        let mut not_utf8 = good;
        not_utf8[8] = 0xff;
        assert!(message(&not_utf8).contains("UTF-8"));
    }
}
