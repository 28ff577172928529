//! Rendering tabular results: aligned text for people, JSON and CSV for scripts.

use std::io::Write;

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use crate::Format;

/// Named columns and rows of JSON values.
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Writes `table` to standard output in `format`.
pub fn print_table(table: &Table, format: Format) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => write_text(&mut out, table),
        Format::Json => write_json(&mut out, table),
        Format::Csv => write_csv(&mut out, table),
    }
}

/// A cell as text: strings bare, null empty, everything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_text(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    const MAX_WIDTH: usize = 60;
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| {
            row.iter().map(|v| truncate(&cell(v).replace(['\n', '\r', '\t'], " "), MAX_WIDTH)).collect()
        })
        .collect();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.width()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let line = |out: &mut dyn Write, values: &[String]| -> std::io::Result<()> {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w.saturating_sub(v.width()))))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(out, &table.columns)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule)?;
    for row in &cells {
        line(out, row)?;
    }
    writeln!(out, "({} row{})", cells.len(), if cells.len() == 1 { "" } else { "s" })
}

fn truncate(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_owned();
    }
    let mut result = String::new();
    for ch in text.chars() {
        if result.width() + 2 > max {
            break;
        }
        result.push(ch);
    }
    result.push('…');
    result
}

fn write_json(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    let objects: Vec<serde_json::Map<String, Value>> = table
        .rows
        .iter()
        .map(|row| table.columns.iter().cloned().zip(row.iter().cloned()).collect())
        .collect();
    serde_json::to_writer_pretty(&mut *out, &objects)?;
    writeln!(out)
}

fn write_csv(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&table.columns)?;
    for row in &table.rows {
        writer.write_record(row.iter().map(cell))?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        Table {
            columns: vec!["id".into(), "body".into(), "rating".into()],
            rows: vec![
                vec![json!("1"), json!("Zażółć, \"gęślą\""), json!(4.5)],
                vec![json!("2"), Value::Null, json!(5)],
            ],
        }
    }

    #[test]
    fn text_table_aligns_by_display_width() {
        let mut out = Vec::new();
        write_text(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id  body             rating\n--  ---------------  ------\n1   Zażółć, \"gęślą\"  4.5\n2                    5\n(2 rows)\n"
        );
    }

    #[test]
    fn csv_quotes_and_keeps_text() {
        let mut out = Vec::new();
        write_csv(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,body,rating\n1,\"Zażółć, \"\"gęślą\"\"\",4.5\n2,,5\n"
        );
    }

    #[test]
    fn json_keeps_column_order() {
        let mut out = Vec::new();
        write_json(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            json!([{"id": "1", "body": "Zażółć, \"gęślą\"", "rating": 4.5}, {"id": "2", "body": null, "rating": 5}])
        );
        assert!(text.find("\"id\"").unwrap() < text.find("\"body\"").unwrap());
    }
}
