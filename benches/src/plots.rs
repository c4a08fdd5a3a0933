//! SVG plots of result rows (plotters).
//!
//! One plot per scenario form and metric. With several sizes it is a line
//! plot: size on the x axis, the metric on the y axis, one line per backend
//! (both axes logarithmic when the values span more than a factor of 50).
//! With one size it is a horizontal bar chart, one bar per backend. Colours
//! follow the backend family (scan black, pte-chain blues, objrmap greens,
//! anonvma reds and oranges, the live kernel grey) so that a family reads as
//! one group.

use std::collections::BTreeMap;

use plotters::prelude::*;
use plotters::style::RGBColor;

use rmap_metrics::{KERNEL_BACKEND, Row};

/// The colour of a backend spec.
pub fn colour(backend: &str) -> RGBColor {
    let (family, preset) = backend.split_once(':').unwrap_or((backend, ""));
    let shades: &[RGBColor] = match family {
        "scan" => &[RGBColor(0, 0, 0)],
        "pte-chain" => &[
            RGBColor(31, 78, 170),
            RGBColor(70, 130, 220),
            RGBColor(20, 40, 110),
            RGBColor(110, 170, 240),
        ],
        "objrmap" => &[
            RGBColor(20, 120, 50),
            RGBColor(60, 170, 80),
            RGBColor(130, 200, 60),
        ],
        "anonvma" => &[
            RGBColor(200, 30, 30),
            RGBColor(240, 130, 20),
            RGBColor(150, 40, 150),
            RGBColor(230, 80, 120),
            RGBColor(170, 100, 30),
            RGBColor(255, 180, 0),
        ],
        _ if backend == KERNEL_BACKEND => &[RGBColor(128, 128, 128)],
        _ => &[RGBColor(90, 90, 90)],
    };
    // the preset's place in its backend's list, as the registry orders it
    let i = if preset.is_empty() {
        0
    } else {
        rmap_registry::preset_index(backend).unwrap_or(0)
    };
    shades[i % shades.len()]
}

/// The file name (without directory) of a plot.
pub fn file_name(scenario: &str, metric: &str) -> String {
    let s: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}--{metric}.svg")
}

/// A value on the axis: log10 on a log axis.
fn tr(v: f64, log: bool) -> f64 {
    if log { v.max(1e-12).log10() } else { v }
}

/// A tick label for a transformed axis value.
fn label(v: f64, log: bool) -> String {
    if !log {
        return human(v);
    }
    // Ticks on a log axis fall between round numbers: show two
    // significant digits (398 -> 400).
    let x = 10f64.powf(v);
    let mag = 10f64.powf(x.abs().log10().floor() - 1.0);
    human((x / mag).round() * mag)
}

/// A tick label of the size axis: a size that ran when the tick is within
/// 3% of it (a log axis puts its ticks at 63 and 251 where the sizes are 64
/// and 256), else the value rounded as on any log axis.
fn size_label(v: f64, log: bool, sizes: &[f64]) -> String {
    let x = if log { 10f64.powf(v) } else { v };
    match sizes.iter().find(|&&s| (x - s).abs() <= 0.03 * s.abs()) {
        Some(&s) => human(s),
        None => label(v, log),
    }
}

/// A short human form of a number: 1.2k, 3.4M, 0.05.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.3}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.3}k", x / 1e3)
    } else if a >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
    .replace(".000", "")
}

fn span_is_wide(vals: impl Iterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for v in vals {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    hi.is_finite() && lo.is_finite() && hi / lo > 50.0
}

/// Draw the plot of `metric` for one scenario form from `rows` (rows of
/// other forms and metrics are ignored). Returns the SVG text, or `None`
/// when there is nothing to plot.
pub fn plot(rows: &[Row], scenario: &str, metric: &str) -> Result<Option<String>, String> {
    let sel: Vec<&Row> = rows
        .iter()
        .filter(|r| r.scenario == scenario && r.metric == metric && r.value.is_finite())
        .collect();
    if sel.is_empty() {
        return Ok(None);
    }
    let unit = sel[0].unit.clone();
    let size_unit = sel[0].size_unit.clone();
    // Backends in first-seen order, each with its (size, value) points.
    let mut order: Vec<&str> = Vec::new();
    let mut series: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
    for r in &sel {
        if !series.contains_key(r.backend.as_str()) {
            order.push(&r.backend);
        }
        series
            .entry(&r.backend)
            .or_default()
            .push((r.size, r.value));
    }
    for pts in series.values_mut() {
        pts.sort_by_key(|p| p.0);
    }
    let mut sizes: Vec<u64> = sel.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut svg = String::new();
    let res = if sizes.len() == 1 {
        bars(
            &mut svg, scenario, metric, &unit, sizes[0], &size_unit, &order, &series,
        )
    } else {
        lines(
            &mut svg, scenario, metric, &unit, &size_unit, &order, &series,
        )
    };
    res.map_err(|e| format!("plot {scenario} {metric}: {e}"))?;
    Ok(Some(svg))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

#[allow(clippy::too_many_arguments)]
fn lines(
    svg: &mut String,
    scenario: &str,
    metric: &str,
    unit: &str,
    size_unit: &str,
    order: &[&str],
    series: &BTreeMap<&str, Vec<(u64, f64)>>,
) -> DrawResult {
    let ylog = span_is_wide(series.values().flatten().map(|p| p.1));
    let xs: Vec<f64> = series.values().flatten().map(|p| p.0 as f64).collect();
    let xlog = span_is_wide(xs.iter().copied()) || xs.iter().all(|&x| x > 0.0);
    let (x0, x1) = bounds(xs.iter().map(|&x| tr(x, xlog)), false);
    let (y0, y1) = bounds(series.values().flatten().map(|p| tr(p.1, ylog)), !ylog);
    let root = SVGBackend::with_string(svg, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{scenario}: {metric}"), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "size ({size_unit}{})",
            if xlog { ", log scale" } else { "" }
        ))
        .y_desc(format!(
            "{metric} ({unit}{})",
            if ylog { ", log scale" } else { "" }
        ))
        .x_label_formatter(&|v| size_label(*v, xlog, &xs))
        .y_label_formatter(&|v| label(*v, ylog))
        .draw()?;
    for &b in order {
        let c = colour(b);
        let pts: Vec<(f64, f64)> = series[b]
            .iter()
            .map(|&(s, v)| (tr(s as f64, xlog), tr(v, ylog)))
            .collect();
        let style = if b == KERNEL_BACKEND {
            c.stroke_width(3)
        } else {
            c.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), style))?
            .label(b)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        chart.draw_series(PointSeries::of_element(pts, 3, c, &|p, s, st| {
            Circle::new(p, s, st.filled())
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()?;
    root.present()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn bars(
    svg: &mut String,
    scenario: &str,
    metric: &str,
    unit: &str,
    size: u64,
    size_unit: &str,
    order: &[&str],
    series: &BTreeMap<&str, Vec<(u64, f64)>>,
) -> DrawResult {
    let vals: Vec<f64> = order.iter().map(|b| series[b][0].1).collect();
    let xlog = span_is_wide(vals.iter().copied());
    let (x0, x1) = bounds(vals.iter().map(|&v| tr(v, xlog)), !xlog);
    let n = order.len() as u32;
    let height = 140 + 26 * n;
    let root = SVGBackend::with_string(svg, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let names: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{scenario} at {size} {size_unit}: {metric}"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(170)
        .build_cartesian_2d(x0..x1, (0..n.saturating_sub(1)).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .x_desc(format!(
            "{metric} ({unit}{})",
            if xlog { ", log scale" } else { "" }
        ))
        .x_label_formatter(&|v| label(*v, xlog))
        .y_label_formatter(&|v| match v {
            // The first backend at the top.
            SegmentValue::CenterOf(i) => names
                .get((n - 1).saturating_sub(*i) as usize)
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    for (i, (&b, &v)) in order.iter().zip(&vals).enumerate() {
        let c = colour(b);
        let i = n - 1 - i as u32;
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (x0, SegmentValue::Exact(i)),
                (tr(v, xlog), SegmentValue::Exact(i + 1)),
            ],
            c.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            human(v),
            (tr(v, xlog), SegmentValue::CenterOf(i)),
            ("sans-serif", 12).into_font(),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// Axis bounds around `vals`, with a margin; from 0 when `from_zero` and
/// every value is non-negative.
fn bounds(vals: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    let span = (hi - lo).abs().max(hi.abs() * 0.1).max(1e-9);
    let lo = if from_zero && lo == 0.0 {
        0.0
    } else {
        lo - span * 0.08
    };
    (lo, hi + span * 0.12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_metrics::{TIME_NS, WALK_VMAS_VISITED_PER_WALK};

    #[test]
    fn size_ticks_snap_to_the_sizes_that_ran() {
        let sizes = [16.0, 64.0, 256.0];
        // A log axis ticks at 10^1.8 = 63.1 and 10^2.4 = 251.2.
        assert_eq!(size_label(1.8, true, &sizes), "64");
        assert_eq!(size_label(2.4, true, &sizes), "256");
        // Far from every size: the rounded value of the tick.
        assert_eq!(size_label(2.0, true, &sizes), "100");
        assert_eq!(size_label(1.6, true, &sizes), "40");
        assert_eq!(size_label(63.0, false, &sizes), "64");
        assert_eq!(size_label(60.0, false, &sizes), "60");
    }

    fn row(backend: &str, size: u64, v: f64) -> Row {
        Row {
            scenario: "db-window".into(),
            size,
            size_unit: "windows".into(),
            backend: backend.into(),
            metric: WALK_VMAS_VISITED_PER_WALK.name.into(),
            value: v,
            unit: "VMAs/walk".into(),
            min: v,
            max: v,
            reps: 1,
            ci_lo: None,
            ci_hi: None,
            ci_level: None,
            samples: String::new(),
        }
    }

    #[test]
    fn line_plots_have_a_line_per_backend_and_labelled_axes() {
        let rows = vec![
            row("objrmap:mccracken", 250, 250.0),
            row("objrmap:mccracken", 1000, 1000.0),
            row("objrmap:prio", 250, 1.0),
            row("objrmap:prio", 1000, 1.0),
        ];
        let svg = plot(&rows, "db-window", WALK_VMAS_VISITED_PER_WALK.name)
            .unwrap()
            .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("objrmap:mccracken") && svg.contains("objrmap:prio"));
        assert!(svg.contains("size (windows, log scale)"));
        assert!(svg.contains("VMAs/walk, log scale"));
        assert!(svg.matches("<polyline").count() >= 2);
        assert!(plot(&rows, "db-window", TIME_NS.name).unwrap().is_none());
    }

    #[test]
    fn one_size_gives_bars_with_values() {
        let rows = vec![row("scan:default", 64, 3.0), row("anonvma:linux", 64, 5.5)];
        let svg = plot(&rows, "db-window", WALK_VMAS_VISITED_PER_WALK.name)
            .unwrap()
            .unwrap();
        assert!(svg.contains("db-window at 64 windows"));
        assert!(svg.contains("anonvma:linux") && svg.contains("5.50"));
        assert!(svg.matches("<rect").count() >= 3);
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(
            file_name("heap-churn/merge=none", rmap_metrics::VMAS_END.name),
            "heap-churn_merge=none--vmas_end.svg"
        );
        assert_eq!(human(1234567.0), "1.235M");
        assert_eq!(human(12.0), "12");
        assert_eq!(human(0.5), "0.500");
        assert_eq!(human(25000.0), "25k");
        assert_eq!(label(398f64.log10(), true), "400");
        assert_eq!(label(31_623_000f64.log10(), true), "32M");
        assert_eq!(label(2.5, false), "2.50");
        assert_ne!(colour("anonvma:linux"), colour("anonvma:avc-2.6.34"));
    }
}
