//! SVG charts of the results: orders/s per strategy per scenario (with the
//! pgbench ceilings), latency percentiles per strategy, and throughput and
//! p99 over time.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use recordshop_postgres::ConcurrencyStrategy;

use crate::report::{Experiment, RunReport};
use crate::scenario::Scenario;
use crate::stats::Bucket;

const FONT: &str = "sans-serif";

/// Tableau 10: distinct, readable, and kind to colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Draws every chart into `dir` and returns their paths.
pub fn draw_all(dir: &Path, experiment: &Experiment) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let throughput = dir.join("orders-per-second.svg");
    draw_bars(&throughput, &orders_chart(experiment))?;
    written.push(throughput);
    for &scenario in &experiment.scenarios {
        let runs: Vec<&RunReport> = experiment
            .runs
            .iter()
            .filter(|run| run.scenario == scenario && run.summary.is_some())
            .collect();
        if runs.is_empty() {
            continue;
        }
        let latency = dir.join(format!("latency-{}.svg", scenario.name()));
        draw_bars(&latency, &latency_chart(scenario, &runs))?;
        written.push(latency);
        let timeline = dir.join(format!("timeline-{}.svg", scenario.name()));
        draw_panels(
            &timeline,
            &timeline_panels(scenario, &runs, &experiment.strategies),
        )?;
        written.push(timeline);
        if runs.iter().any(|run| run.inside.is_some()) {
            let inside = dir.join(format!("inside-{}.svg", scenario.name()));
            draw_bars(&inside, &inside_chart(scenario, &runs))?;
            written.push(inside);
        }
    }
    for scenario in crate::curve::SCENARIOS {
        if experiment.curve.iter().any(|p| p.scenario == scenario) {
            let path = dir.join(format!("curve-{}.svg", scenario.name()));
            draw_panels(
                &path,
                &curve_panels(scenario, &experiment.curve, &experiment.strategies),
            )?;
            written.push(path);
        }
    }
    for report in experiment
        .overloads
        .iter()
        .filter(|report| !report.breaker.is_empty())
    {
        let path = dir.join(format!("timeline-overload-{}.svg", report.strategy));
        draw_panels(&path, &breaker_panels(report))?;
        written.push(path);
    }
    if experiment.floods.iter().any(|f| f.outcome.is_some()) {
        let path = dir.join("timeline-flood.svg");
        draw_panels(
            &path,
            &flood_panels(&experiment.floods, &experiment.strategies),
        )?;
        written.push(path);
    }
    Ok(written)
}

/// A grouped bar chart: one group per x label, one bar per series.
struct Bars {
    title: String,
    y_desc: String,
    groups: Vec<String>,
    series: Vec<BarSeries>,
    marks: Vec<Mark>,
}

struct BarSeries {
    name: String,
    color: RGBColor,
    /// One value per group; `None` leaves a gap.
    values: Vec<Option<f64>>,
}

/// A reference line across one group (a pgbench ceiling).
struct Mark {
    group: usize,
    value: f64,
    label: String,
}

fn orders_chart(experiment: &Experiment) -> Bars {
    let series = experiment
        .strategies
        .iter()
        .enumerate()
        .map(|(i, strategy)| BarSeries {
            name: strategy.to_string(),
            color: color(i),
            values: experiment
                .scenarios
                .iter()
                .map(|&scenario| {
                    experiment
                        .runs
                        .iter()
                        .find(|r| r.scenario == scenario && &r.strategy == strategy)
                        .and_then(|r| r.summary.as_ref())
                        .map(|s| s.orders_per_s)
                })
                .collect(),
        })
        .collect();
    let marks = experiment
        .ceilings
        .iter()
        .filter_map(|ceiling| {
            let group = experiment
                .scenarios
                .iter()
                .position(|&s| s == ceiling.scenario)?;
            Some(Mark {
                group,
                value: ceiling.tps,
                label: format!("pgbench {} {:.0}", ceiling.shape.name(), ceiling.tps),
            })
        })
        .collect();
    Bars {
        title: "Orders per second by scenario and strategy".into(),
        y_desc: "orders/s".into(),
        groups: experiment
            .scenarios
            .iter()
            .map(|s| s.name().to_owned())
            .collect(),
        series,
        marks,
    }
}

fn latency_chart(scenario: Scenario, runs: &[&RunReport]) -> Bars {
    let latencies: Vec<_> = runs
        .iter()
        .map(|r| r.summary.as_ref().and_then(|s| s.latency.clone()))
        .collect();
    // One hue from light to dark, so percentiles don't read as strategies.
    let percentile =
        |name: &str, color: RGBColor, pick: fn(&crate::stats::Latency) -> f64| BarSeries {
            name: name.to_owned(),
            color,
            values: latencies.iter().map(|l| l.as_ref().map(pick)).collect(),
        };
    Bars {
        title: format!("Response time percentiles, {}", scenario.name()),
        y_desc: "milliseconds".into(),
        groups: runs.iter().map(|r| r.strategy.to_string()).collect(),
        series: vec![
            percentile("p50", RGBColor(107, 174, 214), |l| l.p50_ms),
            percentile("p90", RGBColor(33, 113, 181), |l| l.p90_ms),
            percentile("p99", RGBColor(8, 48, 107), |l| l.p99_ms),
        ],
        marks: Vec::new(),
    }
}

/// What each strategy waited on inside the server, from its metrics.
fn inside_chart(scenario: Scenario, runs: &[&RunReport]) -> Bars {
    let series =
        |name: &str, color: RGBColor, pick: fn(&crate::inside::Inside) -> Option<f64>| BarSeries {
            name: name.to_owned(),
            color,
            values: runs
                .iter()
                .map(|run| run.inside.as_ref().and_then(pick))
                .collect(),
        };
    Bars {
        title: format!("Waits inside the server (p99), {}", scenario.name()),
        y_desc: "milliseconds".into(),
        groups: runs.iter().map(|run| run.strategy.to_string()).collect(),
        series: vec![
            series("row lock", color(3), |inside| inside.lock_wait_p99_ms),
            series("pool", color(0), |inside| inside.pool_wait_p99_ms),
        ],
        marks: Vec::new(),
    }
}

fn draw_bars(path: &Path, bars: &Bars) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let top = bars
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .chain(bars.marks.iter().map(|m| m.value))
        .fold(0.0_f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    let groups = bars.groups.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(&bars.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..groups as f64, 0.0..y_max)
        .map_err(plot_error)?;
    let y_format = axis_format(y_max);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .max_light_lines(1)
        .y_label_formatter(&y_format)
        .y_desc(bars.y_desc.as_str())
        .label_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;

    let width = 0.8 / bars.series.len().max(1) as f64;
    for (i, series) in bars.series.iter().enumerate() {
        let color = series.color;
        let placed: Vec<(f64, f64)> = series
            .values
            .iter()
            .enumerate()
            .filter_map(|(group, value)| Some((group as f64 + 0.1 + i as f64 * width, (*value)?)))
            .collect();
        chart
            .draw_series(placed.iter().map(|&(x, y)| {
                let mut bar = Rectangle::new([(x, 0.0), (x + width, y)], color.filled());
                bar.set_margin(0, 0, 2, 2);
                bar
            }))
            .map_err(plot_error)?
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        // Values inside tall bars (clear of the ceiling labels), above short ones.
        chart
            .draw_series(placed.iter().map(|&(x, y)| {
                let inside = y > y_max * 0.08;
                let (ink, anchor) = if inside {
                    (&WHITE, VPos::Top)
                } else {
                    (&BLACK, VPos::Bottom)
                };
                Text::new(
                    compact(y),
                    (x + width / 2.0, y),
                    (FONT, 12)
                        .into_font()
                        .color(ink)
                        .pos(Pos::new(HPos::Center, anchor)),
                )
            }))
            .map_err(plot_error)?;
    }
    if !bars.marks.is_empty() {
        let line = BLACK.stroke_width(2);
        chart
            .draw_series(bars.marks.iter().map(|m| {
                let g = m.group as f64;
                PathElement::new(vec![(g + 0.05, m.value), (g + 0.95, m.value)], line)
            }))
            .map_err(plot_error)?
            .label("pgbench ceiling")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], line));
        chart
            .draw_series(bars.marks.iter().map(|m| {
                Text::new(
                    m.label.clone(),
                    (m.group as f64 + 0.06, m.value),
                    (FONT, 11)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Bottom)),
                )
            }))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    // Group names under the axis, centred on their groups.
    for (group, name) in bars.groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(group as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            name.clone(),
            (x, y + 10),
            (FONT, 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Throughput and p99 per second, one line per strategy.
fn timeline_panels(
    scenario: Scenario,
    runs: &[&RunReport],
    strategies: &[ConcurrencyStrategy],
) -> Panels {
    let (unit, throughput): (&str, fn(&Bucket) -> f64) = if scenario.measures_orders() {
        ("orders/s", |b| b.orders as f64)
    } else {
        ("requests/s", |b| b.requests as f64)
    };
    let mid_second = |b: &Bucket| f64::from(b.second) + 0.5;
    let lines: Vec<Line> = runs
        .iter()
        .filter_map(|run| {
            let summary = run.summary.as_ref()?;
            let index = strategies.iter().position(|s| s == &run.strategy)?;
            let seconds = full_seconds(&summary.timeline, summary.elapsed_s);
            Some(Line {
                name: run.strategy.to_string(),
                color: color(index),
                upper: seconds
                    .iter()
                    .map(|b| (mid_second(b), throughput(b)))
                    .collect(),
                lower: seconds
                    .iter()
                    .filter_map(|b| Some((mid_second(b), b.p99_ms?)))
                    .collect(),
            })
        })
        .collect();
    let seconds = runs
        .iter()
        .filter_map(|run| run.summary.as_ref())
        .flat_map(|summary| full_seconds(&summary.timeline, summary.elapsed_s))
        .map(|b| b.second + 1)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    Panels {
        x_desc: "seconds".to_owned(),
        x_range: 0.0..seconds,
        x_label: |x| format!("{x:.0}"),
        upper: (
            format!("{unit} over time, {}", scenario.name()),
            unit.to_owned(),
        ),
        lower: (
            format!("p99 response time per second, {}", scenario.name()),
            "p99 ms".to_owned(),
        ),
        lines,
        // A point a second: markers would only blot the lines.
        markers: false,
    }
}

/// Two stacked line panels over one x axis.
struct Panels {
    x_desc: String,
    /// Where the x axis runs, and how a tick reads.
    x_range: std::ops::Range<f64>,
    x_label: fn(&f64) -> String,
    upper: (String, String),
    lower: (String, String),
    lines: Vec<Line>,
    /// A dot on every point, for lines of few points.
    markers: bool,
}

/// One series in both panels.
struct Line {
    name: String,
    color: RGBColor,
    upper: Vec<(f64, f64)>,
    lower: Vec<(f64, f64)>,
}

/// Which of a line's two series a panel draws.
type PointsOf = fn(&Line) -> &[(f64, f64)];

fn draw_panels(path: &Path, panels: &Panels) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (upper, lower) = root.split_vertically(360);
    let halves: [(_, _, PointsOf); 2] = [
        (&upper, &panels.upper, |line| &line.upper),
        (&lower, &panels.lower, |line| &line.lower),
    ];
    for (area, (title, y_desc), points_of) in halves {
        let top = panels
            .lines
            .iter()
            .flat_map(|line| points_of(line).iter().map(|(_, y)| *y))
            .fold(0.0_f64, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 20))
            .margin(14)
            .x_label_area_size(32)
            .y_label_area_size(72)
            .build_cartesian_2d(
                panels.x_range.clone(),
                0.0..if top > 0.0 { top * 1.3 } else { 1.0 },
            )
            .map_err(plot_error)?;
        let y_format = axis_format(top);
        chart
            .configure_mesh()
            .max_light_lines(1)
            .y_label_formatter(&y_format)
            .x_label_formatter(&panels.x_label)
            .x_desc(panels.x_desc.as_str())
            .y_desc(y_desc.as_str())
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_error)?;
        for line in &panels.lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    points_of(line).iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(line.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            if panels.markers {
                chart
                    .draw_series(
                        points_of(line)
                            .iter()
                            .map(|&point| Circle::new(point, 3, color.filled())),
                    )
                    .map_err(plot_error)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Throughput and p99 against clients, one line per strategy; clients on
/// a log scale (the points are 16, 64, 256, 1,024).
fn curve_panels(
    scenario: Scenario,
    points: &[RunReport],
    strategies: &[ConcurrencyStrategy],
) -> Panels {
    let lines = strategies
        .iter()
        .enumerate()
        .map(|(i, strategy)| {
            let mine: Vec<(f64, &crate::stats::Summary)> = points
                .iter()
                .filter(|p| p.scenario == scenario && p.strategy == *strategy)
                .filter_map(|p| Some(((p.clients as f64).log2(), p.summary.as_ref()?)))
                .collect();
            Line {
                name: strategy.to_string(),
                color: color(i),
                upper: mine.iter().map(|(x, s)| (*x, s.orders_per_s)).collect(),
                lower: mine
                    .iter()
                    .filter_map(|(x, s)| Some((*x, s.latency.as_ref()?.p99_ms)))
                    .collect(),
            }
        })
        .collect();
    Panels {
        x_desc: "closed-loop clients (log scale)".to_owned(),
        x_range: 3.5..10.5,
        x_label: |x| format!("{:.0}", x.exp2()),
        upper: (
            format!("orders/s by clients, {}", scenario.name()),
            "orders/s".to_owned(),
        ),
        lower: (
            format!("p99 response time by clients, {}", scenario.name()),
            "p99 ms".to_owned(),
        ),
        lines,
        markers: true,
    }
}

/// The hybrid under overload: answers per 100 ms by kind (201 decided at
/// once, 202 taken in pending, 503 shed) above, the breaker's state below.
fn breaker_panels(report: &crate::overload::OverloadReport) -> Panels {
    let at = |ms: u64| ms as f64 / 1e3;
    let answers =
        |name: &str, index: usize, pick: fn(&crate::overload::AnswerBucket) -> u64| Line {
            name: name.to_owned(),
            color: color(index),
            upper: report
                .timeline
                .iter()
                .map(|b| (at(b.start_ms), pick(b) as f64))
                .collect(),
            lower: Vec::new(),
        };
    let lines = vec![
        answers("201 decided at once", 0, |b| b.created),
        answers("202 taken in pending", 1, |b| b.accepted),
        answers("503 shed", 2, |b| b.shed),
        Line {
            name: "breaker".to_owned(),
            color: color(3),
            upper: Vec::new(),
            lower: report
                .breaker
                .iter()
                .map(|sample| (at(sample.at_ms), f64::from(sample.state)))
                .collect(),
        },
    ];
    let end = report
        .timeline
        .last()
        .map(|b| at(b.start_ms))
        .into_iter()
        .chain(report.breaker.last().map(|s| at(s.at_ms)))
        .fold(1.0_f64, f64::max);
    Panels {
        x_desc: "seconds from the first overload level".to_owned(),
        x_range: 0.0..end + 0.1,
        x_label: |x| format!("{x:.0}"),
        upper: (
            format!(
                "overload, {}: answers per 100 ms (levels {})",
                report.strategy,
                report
                    .levels
                    .iter()
                    .map(|l| format!("{}×", l.multiple))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "answers".to_owned(),
        ),
        lower: (
            "breaker: 0 closed, 1 half-open, 2 open (polled every 100 ms)".to_owned(),
            "state".to_owned(),
        ),
        lines,
        markers: false,
    }
}

/// Units sold and refusals per 50 ms of the flood, one line per strategy.
fn flood_panels(
    reports: &[crate::flood::FloodReport],
    strategies: &[ConcurrencyStrategy],
) -> Panels {
    let lines = reports
        .iter()
        .filter_map(|report| {
            let outcome = report.outcome.as_ref()?;
            let index = strategies.iter().position(|s| *s == report.strategy)?;
            let at = |b: &crate::flood::FloodBucket| b.start_ms as f64 / 1e3;
            Some(Line {
                name: report.strategy.to_string(),
                color: color(index),
                upper: outcome
                    .timeline
                    .iter()
                    .map(|b| (at(b), b.created as f64))
                    .collect(),
                lower: outcome
                    .timeline
                    .iter()
                    .map(|b| (at(b), (b.sold_out + b.shed + b.other) as f64))
                    .collect(),
            })
        })
        .collect::<Vec<_>>();
    let end = lines
        .iter()
        .flat_map(|line| line.upper.iter().chain(&line.lower).map(|(x, _)| *x))
        .fold(1.0_f64, f64::max);
    Panels {
        x_desc: "seconds from the first buyer".to_owned(),
        x_range: 0.0..end + 0.05,
        x_label: |x| format!("{x:.1}"),
        upper: (
            "flood: units sold per 50 ms".to_owned(),
            "201 answers".to_owned(),
        ),
        lower: (
            "flood: refusals per 50 ms (409 sold out, 503, other)".to_owned(),
            "answers".to_owned(),
        ),
        lines,
        markers: true,
    }
}

/// The buckets that cover a whole second of the run: the last, cut short
/// by the deadline, would read as a drop in throughput.
fn full_seconds(timeline: &[Bucket], elapsed_s: f64) -> Vec<&Bucket> {
    timeline
        .iter()
        .filter(|b| f64::from(b.second) + 1.0 <= elapsed_s + 0.05)
        .collect()
}

/// Axis labels without decimals unless the scale is small.
fn axis_format(top: f64) -> impl Fn(&f64) -> String {
    move |value| {
        if top >= 20.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.1}")
        }
    }
}

/// A bar's value label: whole numbers from 100 up, two decimals below.
fn compact(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(second: u32) -> Bucket {
        Bucket {
            second,
            requests: 1,
            orders: 1,
            failures: 0,
            p99_ms: Some(1.0),
        }
    }

    #[test]
    fn drops_the_partial_last_second() {
        let timeline = [bucket(0), bucket(1), bucket(2)];
        let full = full_seconds(&timeline, 2.01);
        assert_eq!(full.len(), 2);
        assert_eq!(full_seconds(&timeline, 3.0).len(), 3);
    }

    fn experiment() -> Experiment {
        use crate::pgbench::{Ceiling, Shape};
        use crate::stats::{Latency, Summary};
        let run = |scenario, strategy: &str, rate: f64, p99: f64| RunReport {
            scenario,
            strategy: strategy.parse().unwrap(),
            database: "exp_x".into(),
            clients: 32,
            duration_s: 10.0,
            ready_after_s: None,
            summary: Some(Summary {
                transactions: 100,
                failures: 0,
                availability_pct: 100.0,
                elapsed_s: 10.02,
                requests_per_s: rate,
                orders: 100,
                orders_per_s: rate,
                accepted: 0,
                accepted_per_s: 0.0,
                concurrency: 1.0,
                latency: Some(Latency {
                    count: 100,
                    mean_ms: p99 / 3.0,
                    p50_ms: p99 / 4.0,
                    p90_ms: p99 / 2.0,
                    p99_ms: p99,
                    max_ms: p99 * 2.0,
                }),
                purchase_latency: None,
                statuses: Default::default(),
                in_flight: 0,
                unknown_purchases: 0,
                timeline: (0..11)
                    .map(|second| Bucket {
                        second,
                        requests: (rate + f64::from(second * 10)) as u64,
                        orders: (rate + f64::from(second * 10)) as u64,
                        failures: 0,
                        p99_ms: (second != 4).then_some(p99 + f64::from(second)),
                    })
                    .collect(),
            }),
            check: None,
            memory: None,
            server_cpu_ms_per_order: None,
            inside: None,
            server: None,
            versus: None,
            error: None,
        };
        Experiment {
            cores: 2,
            ceilings: vec![
                Ceiling {
                    scenario: Scenario::Hot,
                    shape: Shape::SingleStatement,
                    clients: 32,
                    duration_s: 10.0,
                    tps: 1400.0,
                    transactions: None,
                    failed: None,
                    latency_ms: None,
                },
                Ceiling {
                    scenario: Scenario::Hot,
                    shape: Shape::Pessimistic,
                    clients: 32,
                    duration_s: 10.0,
                    tps: 1050.0,
                    transactions: None,
                    failed: None,
                    latency_ms: None,
                },
            ],
            runs: vec![
                run(Scenario::Launch, "pessimistic", 8.3, 4.0),
                run(Scenario::Launch, "optimistic", 8.3, 5.0),
                run(Scenario::Hot, "pessimistic", 800.0, 60.0),
                run(Scenario::Hot, "optimistic", 450.0, 150.0),
                run(Scenario::Hot, "batched", 5200.0, 12.0),
                run(Scenario::Spread, "pessimistic", 2100.0, 30.0),
            ],
            ..Experiment::begun(
                String::new(),
                Vec::new(),
                vec![
                    ConcurrencyStrategy::Pessimistic,
                    ConcurrencyStrategy::Optimistic,
                    ConcurrencyStrategy::Batched,
                ],
                vec![Scenario::Launch, Scenario::Hot, Scenario::Spread],
            )
        }
    }

    #[test]
    fn draws_every_chart() {
        let dir = std::env::temp_dir().join(format!("experiment-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = draw_all(&dir, &experiment()).unwrap();
        assert_eq!(written.len(), 1 + 2 * 3);
        for path in &written {
            let svg = std::fs::read_to_string(path).unwrap();
            assert!(svg.starts_with("<svg"), "{}", path.display());
        }
        let throughput = std::fs::read_to_string(&written[0]).unwrap();
        for label in [
            "launch",
            "hot",
            "spread",
            "batched",
            "pgbench ceiling",
            "5200",
        ] {
            assert!(throughput.contains(label), "no {label} in the bar chart");
        }
        if std::env::var_os("KEEP_CHARTS").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn bar_labels_are_compact() {
        assert_eq!(compact(1385.17), "1385");
        assert_eq!(compact(2.345), "2.35");
    }
}
