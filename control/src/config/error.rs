//! Config errors. Every message names where (file, line, field path) and what is wrong; none quotes a key.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: not UTF-8 text")]
    NotUtf8 { path: PathBuf },
    /// The file is not TOML, or values have the wrong type or spelling, or keys are unknown.
    #[error("{}{errors}", file_prefix(.file))]
    Syntax { errors: SyntaxErrors, file: Option<PathBuf> },
    #[error(
        "{path}: holds secret keys (isakmp_key, manual SA keys) but every user can read it (mode {mode:03o}); \
         run `chmod 600 {path}`"
    )]
    WorldReadable { path: PathBuf, mode: u32 },
    /// The file parsed but breaks the rules; all broken rules are listed.
    #[error("{}{errors}", file_prefix(.file))]
    Invalid { errors: ValidationErrors, file: Option<PathBuf> },
}

fn file_prefix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

impl ConfigError {
    /// The type, spelling and unknown-key errors, if that is what this is.
    pub fn syntax_errors(&self) -> &[SyntaxError] {
        match self {
            ConfigError::Syntax { errors, .. } => &errors.0,
            _ => &[],
        }
    }

    /// The validation errors, if that is what this is.
    pub fn validation_errors(&self) -> &[ValidationError] {
        match self {
            ConfigError::Invalid { errors, .. } => &errors.0,
            _ => &[],
        }
    }
}

/// A TOML, type or unknown-key error at one place in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Field path such as `interface[1].address`; empty when the error is not inside a field.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every type and spelling error found, by line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SyntaxErrors(pub Vec<SyntaxError>);

impl fmt::Display for SyntaxErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        list(f, &self.0)
    }
}

impl std::error::Error for SyntaxErrors {}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    match items {
        [one] => write!(f, "{one}"),
        many => {
            write!(f, "{} errors:", many.len())?;
            for e in many {
                write!(f, "\n  {e}")?;
            }
            Ok(())
        }
    }
}

/// One broken rule: `path` names the item and field, e.g. `crypto_map "CM1" seq 10: transform_sets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All broken rules of one config, in file order of the sections.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ValidationError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        list(f, &self.0)
    }
}

impl std::error::Error for ValidationErrors {}
