//! What the tool prints: aligned text tables for people, one JSON document for scripts.

use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns with a header line.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// Rows under a header, printed with every column as wide as its widest cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row; the last column is not padded, so lines carry
    /// no trailing blanks.
    pub(crate) fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i + 1 == line.len() {
                    text.push_str(cell);
                } else {
                    let width = widths.get(i).copied().unwrap_or(0);
                    text.push_str(&format!("{cell:<width$}  "));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell for an optional number: `-` when absent, as Kafka's tools print it.
pub(crate) fn opt_cell<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// An optional number as JSON (`null` when absent).
pub(crate) fn opt_json<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

/// Prints `json` (pretty) or `human` to stdout, as `format` says.
pub(crate) fn emit(format: Format, json: &Value, human: impl FnOnce() -> String) {
    match format {
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
            );
        }
        Format::Table => {
            let text = human();
            print!("{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_without_trailing_blanks() {
        let mut t = Table::new(&["TOPIC", "PARTITION", "LAG"]);
        t.row(vec!["orders".into(), "0".into(), "12".into()]);
        t.row(vec!["a".into(), "10".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "TOPIC   PARTITION  LAG\norders  0          12\na       10         -\n"
        );
        assert_eq!(opt_cell::<i64>(None), "-");
        assert_eq!(opt_json(Some(3i64)), Value::from(3));
    }
}
