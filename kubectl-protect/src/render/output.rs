//! `-o json` and `-o yaml`: objects as the API returns them, without managedFields (as kubectl
//! prints them), and lists as a kubectl `List`.

use kube::Resource;
use serde::Serialize;

use crate::cli::ObjectFormat;
use crate::error::Error;

/// Drop `metadata.managedFields`, which kubectl also hides.
pub fn without_managed_fields<K: Resource + Clone>(object: &K) -> K {
    let mut copy = object.clone();
    copy.meta_mut().managed_fields = None;
    copy
}

/// A kubectl-style `List` of `items`.
pub fn list<K: Serialize>(items: &[K]) -> Result<serde_json::Value, Error> {
    let items = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Other(format!("cannot serialize output: {e}")))?;
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": { "resourceVersion": "" },
        "items": items,
    }))
}

/// `value` in `format`, ending with a newline.
pub fn format<T: Serialize>(value: &T, format: ObjectFormat) -> Result<String, Error> {
    let mut text = match format {
        ObjectFormat::Json => serde_json::to_string_pretty(value)
            .map_err(|e| Error::Other(format!("cannot serialize output: {e}")))?,
        ObjectFormat::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| Error::Other(format!("cannot serialize output: {e}")))?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}
