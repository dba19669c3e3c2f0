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
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("unreadable CSV row {}: {e}", i + 2))?;
        let arguments = record.get(0).unwrap_or("").to_string();
        let cell = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::trim);
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
    fn missing_column_lists_the_header() {
        let err = parse(CSV, "torch mean").unwrap_err();
        assert!(err.contains("`torch mean`") && err.contains("iree_boo_experimental mean"), "{err}");
    }
}
