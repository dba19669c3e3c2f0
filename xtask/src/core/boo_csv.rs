//! iree-boo-driver's CSV: rows into per-command measurements or failures.
//!
//! The format (BRIEF.md section 3): `arguments`, then per backend `min, max,
//! mean, stddev, num_dispatches`. A command the driver cannot parse gives a
//! short row; a compile or run error puts `N.A.` in every column; other
//! failures put a sentence (`untimed`, `failed to collect timing info`, ...).
//! When split reduction makes the op two kernels, `mean` is the per-launch
//! time of both and the other statistics read `unsupported stat calculation`.
//! Every row becomes a value or a named failure: nothing is dropped.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The `arguments` cell: the command as the driver ran it.
    pub arguments: String,
    /// The configured column's value (microseconds), or why there is none.
    pub value: Result<f64, String>,
    /// Kernel launches per `--iter` iterations (`num_dispatches`), if numeric.
    pub num_dispatches: Option<f64>,
    /// The driver's own spread over iterations, when it could compute one.
    pub stddev: Option<f64>,
    /// `numerics_pass`, when the driver verified numerics.
    pub numerics_pass: Option<bool>,
}

/// Parses the whole CSV. `column` is the full header name of the timing
/// column, e.g. `iree_boo_experimental mean`.
pub fn parse(text: &str, column: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("unreadable CSV header: {e}"))?.clone();
    let index = |name: &str| headers.iter().position(|h| h.trim() == name);
    let value_col = index(column).ok_or_else(|| {
        format!(
            "column `{column}` is not in the CSV header ({}); set `bench.column` to one of them",
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    let backend = column.rsplit_once(' ').map(|(b, _)| b).unwrap_or(column);
    let dispatch_col = index(&format!("{backend} num_dispatches"));
    let stddev_col = index(&format!("{backend} stddev"));
    let numerics_col = index("numerics_pass");
    let width = headers.len();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("unreadable CSV row {}: {e}", i + 2))?;
        let record = realign(&record, width);
        let arguments = record.first().cloned().unwrap_or_default();
        let cell = |c: Option<usize>| c.and_then(|c| record.get(c)).map(|v| v.trim());
        let number = |c: Option<usize>| cell(c).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite());
        let value = if record.len() <= value_col {
            Err("the benchmark could not parse this command (short row)".to_string())
        } else {
            match cell(Some(value_col)) {
                Some(v) => match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
                    Ok(x) => Err(format!("non-positive time {x}")),
                    Err(_) if v == "N.A." => Err("compile or run error (N.A.)".to_string()),
                    Err(_) => Err(v.to_string()),
                },
                None => Err("empty cell".to_string()),
            }
        };
        rows.push(Row {
            arguments,
            value,
            num_dispatches: number(dispatch_col),
            stddev: number(stddev_col),
            numerics_pass: cell(numerics_col).and_then(|v| match v {
                "PASS" => Some(true),
                "FAIL" => Some(false),
                _ => None,
            }),
        });
    }
    Ok(rows)
}

/// Cells a value column can hold: numbers and the driver's sentences.
fn value_like(cell: &str) -> bool {
    let c = cell.trim();
    c.parse::<f64>().is_ok()
        || matches!(
            c,
            "N.A."
                | "untimed"
                | "unsupported stat calculation"
                | "failed to collect timing info"
                | "incomplete profiling data"
                | "PASS"
                | "FAIL"
        )
}

/// Undoes boo's pre-October-2025 CSV format (every value followed by a
/// comma, `arguments` unquoted): drops the trailing empty cell and rejoins
/// an `arguments` cell that its own commas split. Rows in the current,
/// properly quoted format pass through unchanged.
fn realign(record: &csv::StringRecord, width: usize) -> Vec<String> {
    let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
    // Values are never empty: an empty last cell is the trailing comma.
    if cells.len() > 1 && cells.last().is_some_and(|c| c.is_empty()) {
        cells.pop();
    }
    let values = width.saturating_sub(1);
    if cells.len() > width && cells[cells.len() - values..].iter().all(|c| value_like(c)) {
        // A full row: the last `values` cells are values.
        let split = cells.len() - values;
        let mut out = vec![cells[..split].join(",")];
        out.extend(cells[split..].iter().cloned());
        return out;
    }
    if cells.len() > 2 && cells.len() < width + 1 && !value_like(&cells[1]) {
        // A short row (`arguments,N.A.`) whose arguments held commas.
        let last = cells.len() - 1;
        return vec![cells[..last].join(","), cells[last].clone()];
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
arguments,iree_boo_experimental min,iree_boo_experimental max,iree_boo_experimental mean,iree_boo_experimental stddev,iree_boo_experimental num_dispatches
convbfp16 -n 1,10.0,12.0,11.0,0.5,100
convbfp16 -n 2,unsupported stat calculation,unsupported stat calculation,40.5,unsupported stat calculation,200
bad line,N.A.
convbfp16 -n 3,N.A.,N.A.,N.A.,N.A.,N.A.
convbfp16 -n 4,untimed,untimed,untimed,untimed,untimed
";

    #[test]
    fn every_row_is_a_value_or_a_named_failure() {
        let rows = parse(CSV, "iree_boo_experimental mean").unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].value, Ok(11.0));
        assert_eq!(rows[0].stddev, Some(0.5));
        assert_eq!(rows[0].num_dispatches, Some(100.0));
        assert_eq!(rows[1].value, Ok(40.5));
        assert_eq!(rows[1].stddev, None);
        assert_eq!(rows[1].num_dispatches, Some(200.0));
        assert!(rows[2].value.as_ref().unwrap_err().contains("could not parse"));
        assert!(rows[3].value.as_ref().unwrap_err().contains("N.A."));
        assert_eq!(rows[4].value, Err("untimed".to_string()));
    }

    #[test]
    fn legacy_rows_with_trailing_commas_and_unquoted_commas() {
        let csv = "arguments,b min,b max,b mean,b stddev,b num_dispatches\n\
aten::mm \"[[64, 65536], [65536, 32]]\",1.0,2.0,1.5,0.1,100,\n\
gemm --a_w 2,3.0,3.0,3.0,0.0,100,\n\
aten::mm \"[[1, 2]]\",N.A.,\n";
        let rows = parse(csv, "b mean").unwrap();
        assert_eq!(rows[0].arguments, "aten::mm \"[[64, 65536], [65536, 32]]\"");
        assert_eq!(rows[0].value, Ok(1.5));
        assert_eq!(rows[0].num_dispatches, Some(100.0));
        assert_eq!(rows[1].value, Ok(3.0));
        assert_eq!(rows[2].arguments, "aten::mm \"[[1, 2]]\"");
        assert!(rows[2].value.as_ref().unwrap_err().contains("could not parse"));
    }

    #[test]
    fn missing_column_lists_the_header() {
        let err = parse(CSV, "torch mean").unwrap_err();
        assert!(err.contains("`torch mean`") && err.contains("iree_boo_experimental mean"), "{err}");
    }
}
