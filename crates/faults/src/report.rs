//! The suite's result table.

/// One scenario under one strategy.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub scenario: &'static str,
    pub strategy: String,
    pub requests: usize,
    pub created: usize,
    /// Confirmed orders in the database; `None` when it could not be read.
    pub orders_in_db: Option<i64>,
    /// Stock ≥ 0 and stock + sold = stocked on every disc; `None` when it
    /// could not be checked.
    pub invariant: Option<bool>,
    /// The invariant and every other check of the scenario.
    pub pass: bool,
    /// What was measured, and every check that failed.
    pub notes: Vec<String>,
}

const HEADERS: [&str; 8] = [
    "scenario",
    "strategy",
    "requests",
    "201/202s",
    "orders in DB",
    "invariant",
    "result",
    "notes",
];

/// A plain-text table, one row per run, notes joined by `; `.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            [
                row.scenario.to_owned(),
                row.strategy.clone(),
                row.requests.to_string(),
                row.created.to_string(),
                row.orders_in_db
                    .map_or_else(|| "?".to_owned(), |orders| orders.to_string()),
                verdict(row.invariant),
                verdict(Some(row.pass)),
                row.notes.join("; "),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|header| header.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // The notes column is last and left unpadded.
    widths[7] = 0;
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    let header: Vec<String> = HEADERS.iter().map(ToString::to_string).collect();
    let rule: Vec<String> = widths
        .iter()
        .zip(HEADERS)
        .map(|(width, header)| "-".repeat((*width).max(header.len())))
        .collect();
    let mut out = vec![line(&header), line(&rule)];
    out.extend(cells.iter().map(|row| line(row)));
    out.join("\n")
}

fn verdict(pass: Option<bool>) -> String {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "?",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_up_the_columns() {
        let rows = [
            Row {
                scenario: "kill",
                strategy: "pessimistic".into(),
                requests: 1234,
                created: 1200,
                orders_in_db: Some(1201),
                invariant: Some(true),
                pass: true,
                notes: vec!["in flight at kill: 1".into(), "restart 310 ms".into()],
            },
            Row {
                scenario: "storm",
                strategy: "atomic".into(),
                requests: 50,
                created: 0,
                orders_in_db: None,
                invariant: None,
                pass: false,
                notes: vec![],
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("scenario | strategy    | requests | 201/202s"));
        assert!(lines[2].contains(
            "| 1201         | PASS      | PASS   | in flight at kill: 1; restart 310 ms"
        ));
        assert!(lines[3].contains("| ?            | ?         | FAIL"));
        let bar = |line: &str| line.find(" | 201/202s").or_else(|| line.find(" | 1200"));
        assert_eq!(bar(lines[0]), bar(lines[2]));
    }
}
