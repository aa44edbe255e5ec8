//! Picks the plotted series out of the bench results JSON.
//!
//! The JSON is what `scripts/bench.sh` writes: `{"parts": {PART: REPORT}}`,
//! where each part's report has `runs` (named loadgen reports) and, for the
//! capacity part, `steps`.

use serde_json::Value;

/// One line on a chart: a label and its (x, y) points, sorted by x.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points, in increasing x.
    pub points: Vec<(f64, f64)>,
}

/// What one chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File-name suffix, e.g. `serve-latency`.
    pub name: String,
    /// Title drawn above the chart.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A horizontal reference line (y value, legend text), e.g. a target.
    pub reference: Option<(f64, String)>,
}

/// Strips a trailing `_c<digits>` (the connection count) from a run name.
fn series_key(run: &str) -> &str {
    match run.rfind("_c") {
        Some(i) if i + 2 < run.len() && run[i + 2..].bytes().all(|b| b.is_ascii_digit()) => {
            &run[..i]
        }
        _ => run,
    }
}

fn push(series: &mut Vec<Series>, label: &str, point: (f64, f64)) {
    match series.iter_mut().find(|s| s.label == label) {
        Some(s) => s.points.push(point),
        None => series.push(Series {
            label: label.to_string(),
            points: vec![point],
        }),
    }
}

fn finish(mut series: Vec<Series>) -> Vec<Series> {
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    series
}

/// For every part with closed-loop runs (those with `connections` and
/// `latency_ms_p99`): p99 latency against connections, one line per run
/// name without its `_cN` suffix. Parts with fewer than two connection
/// counts on any line are skipped, since one point shows no trend.
pub fn latency_charts(results: &Value) -> Vec<Chart> {
    let Some(parts) = results.get("parts").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut charts = Vec::new();
    for (part, report) in parts {
        let Some(runs) = report.get("runs").and_then(Value::as_object) else {
            continue;
        };
        let mut series = Vec::new();
        for (name, run) in runs {
            let (Some(c), Some(p99)) = (
                run.get("connections").and_then(Value::as_f64),
                run.get("latency_ms_p99").and_then(Value::as_f64),
            ) else {
                continue;
            };
            push(&mut series, series_key(name), (c, p99));
        }
        series.retain(|s| s.points.len() >= 2);
        if series.is_empty() {
            continue;
        }
        charts.push(Chart {
            name: format!("{part}-latency"),
            title: format!("{part}: p99 latency against load"),
            x_label: "keep-alive connections".into(),
            y_label: "p99 latency (ms)".into(),
            series: finish(series),
            reference: None,
        });
    }
    charts
}

/// From the capacity part's `steps`: stalls (%) against viewers and
/// segment p99 against viewers, one line per setup.
pub fn capacity_charts(results: &Value) -> Vec<Chart> {
    let Some(steps) = results
        .pointer("/parts/capacity/steps")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut stalls = Vec::new();
    let mut latency = Vec::new();
    for step in steps {
        let setup = step.get("setup").and_then(Value::as_str).unwrap_or("?");
        let Some(viewers) = step.get("viewers").and_then(Value::as_f64) else {
            continue;
        };
        if let Some(s) = step.get("stall_ratio").and_then(Value::as_f64) {
            push(&mut stalls, setup, (viewers, s * 100.0));
        }
        if let Some(p99) = step.get("segment_ms_p99").and_then(Value::as_f64) {
            push(&mut latency, setup, (viewers, p99));
        }
    }
    let mut charts = Vec::new();
    if !stalls.is_empty() {
        charts.push(Chart {
            name: "capacity-stalls".into(),
            title: "stalls against paced viewers".into(),
            x_label: "concurrent viewers".into(),
            y_label: "segments late (%)".into(),
            series: finish(stalls),
            reference: Some((1.0, "1 % stalls (capacity limit)".into())),
        });
    }
    if !latency.is_empty() {
        charts.push(Chart {
            name: "capacity-latency".into(),
            title: "segment p99 against paced viewers".into(),
            x_label: "concurrent viewers".into(),
            y_label: "segment download p99 (ms)".into(),
            series: finish(latency),
            reference: None,
        });
    }
    charts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_names_lose_only_a_connection_suffix() {
        assert_eq!(series_key("node_segment_c64"), "node_segment");
        assert_eq!(series_key("nginx_c256"), "nginx");
        assert_eq!(series_key("viewers_cache_on"), "viewers_cache_on");
        assert_eq!(series_key("x_c"), "x_c");
        assert_eq!(series_key("x_cab"), "x_cab");
    }

    #[test]
    fn latency_lines_group_runs_by_name_and_sort_by_connections() {
        let results = json!({"parts": {"serve": {"runs": {
            "node_segment_c256": {"connections": 256, "latency_ms_p99": 9.0},
            "node_segment_c64": {"connections": 64, "latency_ms_p99": 3.0},
            "nginx_segment_c64": {"connections": 64, "latency_ms_p99": 2.0},
            "nginx_segment_c256": {"connections": 256, "latency_ms_p99": 5.0},
            "lonely_c64": {"connections": 64, "latency_ms_p99": 1.0},
            "viewers": {"segments": 10}
        }}, "transcode": {"runs": {"one_process": {"wall_s": 1.0}}}}});
        let charts = latency_charts(&results);
        assert_eq!(charts.len(), 1, "{charts:?}");
        let c = &charts[0];
        assert_eq!(c.name, "serve-latency");
        let labels: Vec<_> = c.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.contains(&"node_segment") && labels.contains(&"nginx_segment"));
        let node = c.series.iter().find(|s| s.label == "node_segment").unwrap();
        assert_eq!(node.points, vec![(64.0, 3.0), (256.0, 9.0)]);
    }

    #[test]
    fn capacity_steps_become_stall_and_latency_lines_per_setup() {
        let results = json!({"parts": {"capacity": {"steps": [
            {"setup": "one node", "viewers": 40, "stall_ratio": 0.02, "segment_ms_p99": 30.0},
            {"setup": "one node", "viewers": 20, "stall_ratio": 0.0, "segment_ms_p99": 10.0},
            {"setup": "two nodes + balancer", "viewers": 40, "stall_ratio": 0.001, "segment_ms_p99": 12.0}
        ]}}});
        let charts = capacity_charts(&results);
        assert_eq!(charts.len(), 2);
        let one = &charts[0].series[0];
        assert_eq!(one.label, "one node");
        assert_eq!(one.points, vec![(20.0, 0.0), (40.0, 2.0)]);
        assert_eq!(charts[1].series[1].points, vec![(40.0, 12.0)]);
    }

    #[test]
    fn results_without_parts_draw_nothing() {
        assert!(latency_charts(&json!({})).is_empty());
        assert!(capacity_charts(&json!({"parts": {}})).is_empty());
    }
}
