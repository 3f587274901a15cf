//! Settings of the generated Swagger/OpenAPI documents, with their defaults.

use std::path::PathBuf;

/// Settings of the generated Swagger/OpenAPI documents.
#[derive(Debug, Clone)]
pub struct SwaggerSettings {
    /// `info.title`. Default: `ML service` (the Azure ML server's `SERVICE_NAME` default).
    pub title: String,
    /// `info.version`. Default: `1.0` (`SERVICE_VERSION`).
    pub version: String,
    /// Prefix of the documented paths, e.g. `/api/v1/service/NAME`. Default: none
    /// (`SERVICE_PATH_PREFIX`).
    pub path_prefix: String,
    /// Whether the samples appear as `example` values. Default: shown, as Azure ML does.
    pub samples: SampleVisibility,
    /// A folder whose `swagger.json` or `swagger2.json` (version 2), `swagger3.json` (3.0) and
    /// `swagger3.1.json` (3.1) are served instead of the generated documents, as the Azure ML
    /// server serves those of its app root (`AML_APP_ROOT`). Default: none.
    pub app_root: Option<PathBuf>,
}

impl Default for SwaggerSettings {
    fn default() -> Self {
        SwaggerSettings {
            title: "ML service".to_owned(),
            version: "1.0".to_owned(),
            path_prefix: String::new(),
            samples: SampleVisibility::Show,
            app_root: None,
        }
    }
}

/// Whether sample values may appear in the Swagger page. The seed warns that samples are
/// public: redact them when they come from private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleVisibility {
    /// The samples are the documents' `example` values.
    #[default]
    Show,
    /// Examples keep their structure and types, with every value replaced by a placeholder
    /// (`0`, `0.0`, `"string"`, `false`).
    Redact,
}
