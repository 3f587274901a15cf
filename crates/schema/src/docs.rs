//! The Swagger 2.0 and OpenAPI 3.0/3.1 documents, in the shape the Azure ML server serves:
//! paths `/`, `/score` and `/swagger.json`; definitions `ServiceInput`, `ServiceOutput` and
//! `ErrorResponse`; samples as `example` values (or type-preserving placeholders when the
//! deployment redacts samples). Rendered once at load.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{JsonType, Kind, ParameterKind, Schema};
use crate::settings::{SampleVisibility, SwaggerSettings};
use scorehost_wit::{Dtype, Orient};

/// Which document a `?version=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwaggerVersion {
    /// Swagger 2.0 (`?version=2`, the default).
    V2,
    /// OpenAPI 3.0.3 (`?version=3`).
    V30,
    /// OpenAPI 3.1.0 (`?version=3.1`).
    V31,
}

impl SwaggerVersion {
    /// Reads `?version=` as the Azure ML server does: none, `2`, `2.0` → Swagger 2.0; `3`,
    /// `3.0` → OpenAPI 3.0.3; `3.1` → OpenAPI 3.1.0. `Err` carries the 404 message.
    pub fn parse(version: Option<&str>) -> Result<Self, String> {
        match version {
            None | Some("2") | Some("2.0") => Ok(SwaggerVersion::V2),
            Some("3") | Some("3.0") => Ok(SwaggerVersion::V30),
            Some("3.1") => Ok(SwaggerVersion::V31),
            Some(other) => Err(format!(
                "Swagger version [{other}] is not valid. Supported versions: [2, 3, 3.1]."
            )),
        }
    }
}

/// The rendered documents of one deployment.
#[derive(Debug, Clone)]
pub struct Documents {
    v2: Bytes,
    v30: Bytes,
    v31: Bytes,
}

impl Documents {
    /// Renders the documents for `schema` (`None`: the entry script describes nothing).
    pub fn render(schema: Option<&Schema>, settings: &SwaggerSettings) -> anyhow::Result<Self> {
        let redact = settings.samples == SampleVisibility::Redact;
        let (input, output) = match schema {
            Some(schema) => (
                service_input(schema, redact),
                service_output(schema, redact),
            ),
            None => (free_form(), free_form()),
        };
        let v2 = swagger2(settings, input.clone(), output.clone());
        let v30 = openapi3(settings, input, output)?;
        let mut v31 = v30.clone();
        v31["openapi"] = json!("3.1.0");
        Ok(Documents {
            v2: Bytes::from(v2.to_string()),
            v30: Bytes::from(v30.to_string()),
            v31: Bytes::from(v31.to_string()),
        })
    }

    /// The document for `version`.
    pub fn get(&self, version: SwaggerVersion) -> Bytes {
        match version {
            SwaggerVersion::V2 => self.v2.clone(),
            SwaggerVersion::V30 => self.v30.clone(),
            SwaggerVersion::V31 => self.v31.clone(),
        }
    }

    /// Serves the user's own documents where `app_root` has them, as the Azure ML server
    /// does: `swagger.json` (else `swagger2.json`) for version 2, `swagger3.json` for 3.0 and
    /// `swagger3.1.json` for 3.1 (without it, 3.1 stays generated). A file that is not JSON
    /// is an error, as it keeps the Azure ML server from starting.
    pub fn use_user_files(&mut self, app_root: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let slots: [(&mut Bytes, &[&str]); 3] = [
            (&mut self.v2, &["swagger.json", "swagger2.json"]),
            (&mut self.v30, &["swagger3.json"]),
            (&mut self.v31, &["swagger3.1.json"]),
        ];
        for (slot, names) in slots {
            let Some(path) = names
                .iter()
                .map(|name| app_root.join(name))
                .find(|path| path.is_file())
            else {
                continue;
            };
            let text =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice::<serde::de::IgnoredAny>(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            tracing::info!(file = %path.display(), "serving the user's own Swagger document");
            *slot = Bytes::from(text);
        }
        Ok(())
    }
}

/// An undescribed body, as the Azure ML server documents undecorated scripts.
fn free_form() -> Value {
    json!({"type": "object", "example": {}})
}

/// The request body: one property per top-level parameter (a group is an object of its
/// entries, all required), no top-level `required`, as `inference-schema` writes it.
fn service_input(schema: &Schema, redact: bool) -> Value {
    let mut properties = serde_json::Map::new();
    let mut example = serde_json::Map::new();
    for parameter in &schema.parameters {
        let (doc, sample_value) = match &parameter.kind {
            ParameterKind::Value(kind) => (kind_schema(kind), sample(kind_example(kind), redact)),
            ParameterKind::OpenGroup => (json!({"type": "object"}), json!({})),
            ParameterKind::Group(entries) => {
                let required: Vec<&String> = entries.iter().map(|(name, _)| name).collect();
                let entry_docs: serde_json::Map<String, Value> = entries
                    .iter()
                    .map(|(name, kind)| (name.clone(), kind_schema(kind)))
                    .collect();
                let entry_samples: serde_json::Map<String, Value> = entries
                    .iter()
                    .map(|(name, kind)| (name.clone(), sample(kind_example(kind), redact)))
                    .collect();
                (
                    json!({"type": "object", "required": required, "properties": entry_docs}),
                    Value::Object(entry_samples),
                )
            }
        };
        properties.insert(parameter.name.clone(), doc);
        example.insert(parameter.name.clone(), sample_value);
    }
    json!({"type": "object", "properties": properties, "example": example})
}

fn service_output(schema: &Schema, redact: bool) -> Value {
    match &schema.output {
        None => free_form(),
        Some(output) => {
            let mut doc = json_schema(&JsonType::of(output));
            doc["example"] = sample(output, redact);
            doc
        }
    }
}

fn kind_example(kind: &Kind) -> &Value {
    match kind {
        Kind::Tensor { example, .. } | Kind::Frame { example, .. } | Kind::Json { example, .. } => {
            example
        }
    }
}

fn sample(value: &Value, redact: bool) -> Value {
    if redact {
        redacted(value)
    } else {
        value.clone()
    }
}

/// The same structure with every leaf replaced by a neutral value of its type, so the page
/// documents types and shapes without showing sample data.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => json!(0.0),
        Value::Number(_) => json!(0),
        Value::String(_) => json!("string"),
        Value::Bool(_) => json!(false),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), redacted(v)))
                .collect(),
        ),
        Value::Null => Value::Null,
    }
}

fn dtype_schema(dtype: Dtype) -> Value {
    match dtype {
        Dtype::Float64 => json!({"type": "number", "format": "double"}),
        Dtype::Float32 => json!({"type": "number", "format": "float"}),
        Dtype::Int64 | Dtype::Uint64 | Dtype::Uint32 => {
            json!({"type": "integer", "format": "int64"})
        }
        Dtype::Int32 | Dtype::Int16 | Dtype::Int8 | Dtype::Uint16 | Dtype::Uint8 => {
            json!({"type": "integer", "format": "int32"})
        }
        Dtype::Bool => json!({"type": "boolean"}),
        Dtype::Str => json!({"type": "string"}),
    }
}

fn json_schema(ty: &JsonType) -> Value {
    match ty {
        JsonType::Number => json!({"type": "number", "format": "double"}),
        JsonType::Integer => json!({"type": "integer", "format": "int64"}),
        JsonType::Boolean => json!({"type": "boolean"}),
        JsonType::String => json!({"type": "string"}),
        JsonType::Array(item) => json!({"type": "array", "items": json_schema(item)}),
        JsonType::Object(fields) => json!({
            "type": "object",
            "required": fields.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "properties": fields
                .iter()
                .map(|(k, t)| (k.clone(), json_schema(t)))
                .collect::<serde_json::Map<_, _>>(),
        }),
        JsonType::Any => json!({}),
    }
}

fn kind_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Tensor { dtype, shape, .. } => {
            let mut schema = dtype_schema(*dtype);
            for _ in shape {
                schema = json!({"type": "array", "items": schema});
            }
            if !shape.is_empty() {
                schema["format"] = json!("numpy.ndarray");
            }
            schema
        }
        Kind::Frame {
            columns, orient, ..
        } => {
            let names: Vec<&String> = columns.iter().map(|(n, _)| n).collect();
            let column_types: serde_json::Map<String, Value> = columns
                .iter()
                .map(|(n, d)| (n.clone(), dtype_schema(*d)))
                .collect();
            match orient {
                Orient::Records => json!({
                    "type": "array",
                    "items": {"type": "object", "required": names, "properties": column_types},
                    "format": "pandas.DataFrame:records",
                }),
                Orient::Split => json!({
                    "type": "object",
                    "required": ["columns", "data"],
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "index": {"type": "array", "items": {"type": "integer", "format": "int64"}},
                        "data": {"type": "array", "items": {"type": "array", "items": {}}},
                    },
                    "format": "pandas.DataFrame:split",
                }),
                Orient::Columns => json!({
                    "type": "object",
                    "required": names,
                    "properties": column_types
                        .into_iter()
                        .map(|(n, t)| (n, json!({"type": "object", "additionalProperties": t})))
                        .collect::<serde_json::Map<_, _>>(),
                    "format": "pandas.DataFrame:columns",
                }),
                Orient::Index => json!({
                    "type": "object",
                    "additionalProperties": {
                        "type": "object", "required": names, "properties": column_types,
                    },
                    "format": "pandas.DataFrame:index",
                }),
                Orient::Values => json!({
                    "type": "array",
                    "items": {"type": "array", "items": {}},
                    "format": "pandas.DataFrame:values",
                }),
            }
        }
        Kind::Json { ty, .. } => json_schema(ty),
    }
}

const HEALTH_CHECK: &str =
    "Simple health check endpoint to ensure the service is up at any given point.";
const HEALTH_DESCRIPTION: &str =
    "If service is up and running, this response will be returned with the content 'Healthy'";
const ERROR_DESCRIPTION: &str = "The service failed to execute due to an error.";
const SCORE_DESCRIPTION: &str = "Run web service's model and get the prediction output";
const PAYLOAD_DESCRIPTION: &str =
    "The input payload for executing the real-time machine learning service.";
const OUTPUT_DESCRIPTION: &str =
    "The service processed the input correctly and provided a result prediction, if applicable.";

fn info(settings: &SwaggerSettings) -> Value {
    json!({
        "title": settings.title,
        "description": format!(
            "API specification for the Azure Machine Learning service {}",
            settings.title
        ),
        "version": settings.version,
    })
}

/// The `Authorization: Bearer <key>` scheme Azure ML documents.
fn bearer_scheme() -> Value {
    json!({
        "type": "apiKey", "name": "Authorization", "in": "header",
        "description": "For example: Bearer abc123",
    })
}

fn error_response() -> Value {
    json!({"type": "object", "properties": {"message": {"type": "string"}}})
}

fn swagger2(settings: &SwaggerSettings, input: Value, output: Value) -> Value {
    let prefix = &settings.path_prefix;
    let error = json!({"description": ERROR_DESCRIPTION, "schema": {"$ref": "#/definitions/ErrorResponse"}});
    json!({
        "swagger": "2.0",
        "info": info(settings),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": bearer_scheme()},
        "paths": {
            format!("{prefix}/"): {"get": {
                "operationId": "ServiceHealthCheck",
                "description": HEALTH_CHECK,
                "responses": {
                    "200": {
                        "description": HEALTH_DESCRIPTION,
                        "schema": {"type": "string"},
                        "examples": {"application/json": "Healthy"},
                    },
                    "default": error,
                },
            }},
            format!("{prefix}/score"): {"post": {
                "operationId": "RunMLService",
                "description": SCORE_DESCRIPTION,
                "security": [{"Bearer": []}],
                "parameters": [{
                    "name": "serviceInputPayload",
                    "in": "body",
                    "description": PAYLOAD_DESCRIPTION,
                    "schema": {"$ref": "#/definitions/ServiceInput"},
                }],
                "responses": {
                    "200": {"description": OUTPUT_DESCRIPTION, "schema": {"$ref": "#/definitions/ServiceOutput"}},
                    "default": error,
                },
            }},
            format!("{prefix}/swagger.json"): {"get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [{"name": "version", "in": "query", "required": false, "type": "integer", "enum": [2, 3]}],
                "responses": {
                    "200": {"description": "The Swagger specification.", "schema": {"type": "string"}},
                    "default": error,
                },
            }},
        },
        "definitions": {
            "ServiceInput": input,
            "ServiceOutput": output,
            "ErrorResponse": error_response(),
        },
    })
}

/// OpenAPI 3.0.3, assembled as JSON and checked against the specification's structure by
/// deserialising it into the `openapiv3` crate's typed model. The assembled JSON is what is
/// served: re-serialising the typed model would add defaults (`style: form`) and drop
/// explicit ones (`required: false`), and the document should equal the Azure ML server's.
fn openapi3(settings: &SwaggerSettings, input: Value, output: Value) -> anyhow::Result<Value> {
    let prefix = &settings.path_prefix;
    let json_body = |schema: Value| json!({"application/json": {"schema": schema}});
    let error = json!({
        "description": ERROR_DESCRIPTION,
        "content": json_body(json!({"$ref": "#/components/schemas/ErrorResponse"})),
    });
    let document = json!({
        "openapi": "3.0.3",
        "info": info(settings),
        "security": [{"Bearer": []}],
        "paths": {
            format!("{prefix}/"): {"get": {
                "operationId": "ServiceHealthCheck",
                "description": HEALTH_CHECK,
                "responses": {
                    "200": {
                        "description": HEALTH_DESCRIPTION,
                        "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}},
                    },
                    "default": error,
                },
            }},
            format!("{prefix}/score"): {"post": {
                "operationId": "RunMLService",
                "description": SCORE_DESCRIPTION,
                "security": [{"Bearer": []}],
                "requestBody": {
                    "description": PAYLOAD_DESCRIPTION,
                    "content": json_body(json!({"$ref": "#/components/schemas/ServiceInput"})),
                },
                "responses": {
                    "200": {
                        "description": OUTPUT_DESCRIPTION,
                        "content": json_body(json!({"$ref": "#/components/schemas/ServiceOutput"})),
                    },
                    "default": error,
                },
            }},
            format!("{prefix}/swagger.json"): {"get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [{
                    "name": "version", "in": "query", "required": false,
                    "schema": {"type": "integer", "enum": [2, 3]},
                }],
                "responses": {
                    "200": {
                        "description": "The Swagger specification.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": error,
                },
            }},
        },
        "components": {
            "schemas": {
                "ServiceInput": input,
                "ServiceOutput": output,
                "ErrorResponse": error_response(),
            },
            "securitySchemes": {"Bearer": bearer_scheme()},
        },
    });
    serde_json::from_value::<openapiv3::OpenAPI>(document.clone())?;
    Ok(document)
}
