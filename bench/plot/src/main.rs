//! `stratus-bench-plot RESULTS_DIR`: reads `RESULTS_DIR/results.json` (written by bench/report.py) and draws
//! `RESULTS_DIR/results.svg`: requests/s and p99 latency of every route at the highest connection count,
//! one bar per server, both on log scales, with the baseline's `GET /` as a line.

use std::{error::Error, path::PathBuf};

use plotters::{coord::ranged1d::SegmentValue, prelude::*};
use serde_json::Value;

/// The servers drawn, in order, with their colours (the baseline is a line, not a bar).
const SERVERS: [(&str, RGBColor); 3] = [
    ("stratus-sqlite", RGBColor(31, 119, 180)),
    ("stratus-postgres", RGBColor(44, 160, 44)),
    ("flask-postgres", RGBColor(214, 39, 40)),
];

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "bench/results".into()),
    );
    let results: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json"))?)?;
    let raw = &results["raw"];
    let servers = &raw["servers"];
    let conns = raw["conns"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(Value::as_u64)
        .ok_or("results.json has no connection counts")?
        .to_string();
    // Every route any drawn server has (a `--only postgres,flask` run has no SQLite results), in order.
    let mut routes: Vec<String> = Vec::new();
    for (server, _) in SERVERS {
        for route in servers[server]
            .as_object()
            .into_iter()
            .flat_map(|r| r.keys())
        {
            if !route.starts_with('_') && !routes.contains(route) {
                routes.push(route.clone());
            }
        }
    }
    if routes.is_empty() {
        // A run of only `startup`, `scaling` or `baseline` has no load results to draw: say so, and leave no
        // plot of an earlier run beside these results.
        let stale = dir.join("results.svg");
        if stale.exists() {
            std::fs::remove_file(&stale)?;
        }
        eprintln!(
            "plot: results.json has no load results of Stratus or Flask, so no plot was drawn"
        );
        return Ok(());
    }
    let baseline = &results["derived"]["baseline"][&conns];
    let title = format!(
        "Stratus benchmark {} ({})",
        raw["started_at"].as_str().unwrap_or("?"),
        raw["meta"]["commit"]
            .as_str()
            .map_or("?", |c| &c[..c.len().min(10)])
    );

    let out = dir.join("results.svg");
    let root = SVGBackend::new(&out, (1500, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, 2));
    for (panel, (key, what)) in panels
        .iter()
        .zip([("rps", "requests/s"), ("p99_ms", "p99 latency, ms")])
    {
        let value = |server: &str, route: &str| {
            servers[server][route][&conns][key]
                .as_f64()
                .filter(|v| *v > 0.0)
        };
        let values: Vec<f64> = routes
            .iter()
            .flat_map(|r| SERVERS.iter().filter_map(move |(s, _)| value(s, r)))
            .chain(baseline[key].as_f64())
            .collect();
        // Head room above the tallest bar for the legend.
        let high = values.iter().copied().fold(1.0_f64, f64::max) * 12.0;
        let low = values.iter().copied().fold(high, f64::min) / 2.0;
        let slots = routes.len() * SERVERS.len();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{what} at {conns} connections (log scale)"),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(110)
            .y_label_area_size(60)
            .build_cartesian_2d((0..slots).into_segmented(), (low..high).log_scale())?;
        let labels = routes.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(slots)
            .x_label_formatter(&move |slot| match slot {
                // One label per route, under its middle bar.
                // Rotated labels are centred on their tick: as many no-break spaces in front put the
                // visible text below the axis.
                SegmentValue::CenterOf(i) if i % SERVERS.len() == 1 => labels
                    .get(i / SERVERS.len())
                    .map(|r| {
                        let label = r.replace("/api/v1", "");
                        "\u{a0}".repeat(label.chars().count() + 6) + &label
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_desc(what)
            .draw()?;
        for (n, (server, colour)) in SERVERS.iter().enumerate() {
            let bars = routes.iter().enumerate().filter_map(|(r, route)| {
                let slot = r * SERVERS.len() + n;
                value(server, route).map(|v| {
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(slot), low),
                            (SegmentValue::Exact(slot + 1), v),
                        ],
                        colour.filled(),
                    )
                })
            });
            chart
                .draw_series(bars)?
                .label(*server)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        if let Some(line) = baseline[key].as_f64() {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::Exact(0), line),
                        (SegmentValue::Exact(slots), line),
                    ],
                    BLACK.stroke_width(1),
                )))?
                .label("baseline GET /")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 10, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("plot: wrote {}", out.display());
    Ok(())
}
