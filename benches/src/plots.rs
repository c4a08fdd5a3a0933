//! SVG plots of result rows (plotters).
//!
//! One plot per scenario form and metric. With several sizes it is a line
//! plot: size on the x axis with a tick at every size that ran, the metric
//! on the y axis, one line per backend with min–max error bars at each
//! point (logarithmic axes when the values span more than a factor of 20).
//! With one size it is a horizontal bar chart, one bar per backend, with
//! its min–max bar. The legend sits outside the data, on the right; lines
//! that coincide (within 1% at every size) share one legend entry
//! naming all of them. Colours follow the backend family (scan black,
//! pte-chain blues and violet, objrmap greens, anonvma reds, oranges and
//! browns, the live kernel grey), every preset its own colour, and each
//! family its own marker. Byte counts are written in KiB, MiB and GiB.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBColor;

use rmap_metrics::{KERNEL_BACKEND, Row};

/// The colour of a backend spec: one per preset, in the family's hues.
pub fn colour(backend: &str) -> RGBColor {
    let (family, preset) = backend.split_once(':').unwrap_or((backend, ""));
    let shades: &[RGBColor] = match family {
        "scan" => &[RGBColor(0, 0, 0)],
        "pte-chain" => &[
            RGBColor(0, 45, 140),
            RGBColor(60, 130, 230),
            RGBColor(0, 170, 200),
            RGBColor(130, 90, 210),
        ],
        "objrmap" => &[
            RGBColor(0, 110, 40),
            RGBColor(90, 180, 60),
            RGBColor(160, 190, 20),
        ],
        "anonvma" => &[
            RGBColor(210, 30, 30),
            RGBColor(245, 130, 0),
            RGBColor(140, 70, 20),
            RGBColor(200, 40, 140),
            RGBColor(240, 120, 160),
            RGBColor(200, 160, 0),
            RGBColor(120, 0, 20),
            RGBColor(250, 90, 70),
            RGBColor(190, 140, 90),
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

/// The marker of a backend's family.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

fn marker(backend: &str) -> Marker {
    match backend.split(':').next().unwrap_or(backend) {
        "pte-chain" => Marker::Triangle,
        "objrmap" => Marker::Square,
        "scan" => Marker::Cross,
        _ => Marker::Circle,
    }
}

/// A marker of `c` centred at pixel `(x, y)`.
fn draw_marker(
    area: &DrawingArea<SVGBackend, Shift>,
    m: Marker,
    (x, y): (i32, i32),
    c: RGBColor,
) -> DrawResult {
    match m {
        Marker::Circle => area.draw(&Circle::new((x, y), 4, c.filled()))?,
        Marker::Square => area.draw(&Rectangle::new(
            [(x - 4, y - 4), (x + 4, y + 4)],
            c.filled(),
        ))?,
        Marker::Triangle => area.draw(&Polygon::new(
            vec![(x, y - 5), (x - 5, y + 4), (x + 5, y + 4)],
            c.filled(),
        ))?,
        Marker::Cross => {
            area.draw(&PathElement::new(
                vec![(x - 4, y - 4), (x + 4, y + 4)],
                c.stroke_width(2),
            ))?;
            area.draw(&PathElement::new(
                vec![(x - 4, y + 4), (x + 4, y - 4)],
                c.stroke_width(2),
            ))?;
        }
    }
    Ok(())
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

/// A tick label for a transformed axis value, in `unit`.
fn label(v: f64, log: bool, unit: &str) -> String {
    if !log {
        return human_unit(v, unit);
    }
    // Ticks on a log axis fall between round numbers: show two
    // significant digits (398 -> 400).
    let x = 10f64.powf(v);
    let mag = 10f64.powf(x.abs().log10().floor() - 1.0);
    human_unit((x / mag).round() * mag, unit)
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

/// A byte count in binary units: 512 B, 4 KiB, 1.5 MiB, 2 GiB.
pub fn human_bytes(x: f64) -> String {
    let a = x.abs();
    let (v, u) = if a >= (1u64 << 30) as f64 {
        (x / (1u64 << 30) as f64, "GiB")
    } else if a >= (1u64 << 20) as f64 {
        (x / (1u64 << 20) as f64, "MiB")
    } else if a >= 1024.0 {
        (x / 1024.0, "KiB")
    } else {
        return format!("{x:.0} B");
    };
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {u}")
}

/// A value in `unit`: bytes in binary units, anything else as [`human`].
pub fn human_unit(x: f64, unit: &str) -> String {
    if unit == "bytes" {
        human_bytes(x)
    } else {
        human(x)
    }
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
    hi.is_finite() && lo.is_finite() && hi / lo > 20.0
}

/// One backend's points: (size, median, min, max).
type Points = Vec<(u64, f64, f64, f64)>;

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
    // Backends in first-seen order, each with its points.
    let mut order: Vec<&str> = Vec::new();
    let mut series: BTreeMap<&str, Points> = BTreeMap::new();
    for r in &sel {
        if !series.contains_key(r.backend.as_str()) {
            order.push(&r.backend);
        }
        let (lo, hi) = if r.min.is_finite() && r.max.is_finite() {
            (r.min, r.max)
        } else {
            (r.value, r.value)
        };
        series
            .entry(&r.backend)
            .or_default()
            .push((r.size, r.value, lo, hi));
    }
    for pts in series.values_mut() {
        pts.sort_by_key(|p| p.0);
    }
    let mut sizes: Vec<u64> = sel.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut svg = String::new();
    let p = Plot {
        scenario,
        metric,
        unit: &unit,
        size_unit: &size_unit,
        order: &order,
        series: &series,
    };
    let res = if sizes.len() == 1 {
        p.bars(&mut svg, sizes[0])
    } else {
        p.lines(&mut svg, &sizes)
    };
    res.map_err(|e| format!("plot {scenario} {metric}: {e}"))?;
    Ok(Some(svg))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// What one plot shows.
struct Plot<'a> {
    scenario: &'a str,
    metric: &'a str,
    unit: &'a str,
    size_unit: &'a str,
    order: &'a [&'a str],
    series: &'a BTreeMap<&'a str, Points>,
}

/// Backends whose lines coincide on the plot (medians within 1% of each
/// other at every size), grouped in `order`; each group is drawn once and
/// named together.
fn coinciding<'a>(order: &[&'a str], series: &BTreeMap<&str, Points>) -> Vec<Vec<&'a str>> {
    let mut groups: Vec<Vec<&'a str>> = Vec::new();
    for &b in order {
        let same = |g: &Vec<&str>| {
            let (p, q) = (&series[g[0]], &series[b]);
            p.len() == q.len()
                && p.iter()
                    .zip(q)
                    .all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= 1e-9 * x.1.abs().max(1.0))
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => g.push(b),
            None => groups.push(vec![b]),
        }
    }
    groups
}

/// Width of the legend column at the right of a line plot.
const LEGEND_W: u32 = 260;

impl Plot<'_> {
    fn lines(&self, svg: &mut String, sizes: &[u64]) -> DrawResult {
        let all = || self.series.values().flatten();
        let ylog = span_is_wide(all().flat_map(|p| [p.1, p.2.max(p.1 * 1e-3)]));
        // Sizes that grow geometrically (16, 64, 256) read best on a log
        // axis: from a factor of 8 between the first and the last.
        let xlog = sizes[0] > 0 && sizes[sizes.len() - 1] as f64 / sizes[0] as f64 >= 8.0;
        let (x0, x1) = bounds(sizes.iter().map(|&x| tr(x as f64, xlog)), false);
        let (y0, y1) = bounds(all().flat_map(|p| [tr(p.2, ylog), tr(p.3, ylog)]), !ylog);
        let groups = coinciding(self.order, self.series);
        let height = 560.max(110 + 34 * groups.len() as u32);
        let root = SVGBackend::with_string(svg, (900 + LEGEND_W, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot_area, legend_area) = root.split_horizontally(900);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(
                format!("{}: {}", self.scenario, self.metric),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let unit = self.unit;
        chart
            .configure_mesh()
            .x_labels(0)
            .disable_x_mesh()
            .x_desc(format!(
                "size ({}{})",
                self.size_unit,
                if xlog { ", log scale" } else { "" }
            ))
            .y_desc(format!(
                "{} ({unit}{})",
                self.metric,
                if ylog { ", log scale" } else { "" }
            ))
            .y_label_formatter(&|v| label(*v, ylog, unit))
            .draw()?;
        // A tick, a label and a faint grid line at every size that ran.
        for &sz in sizes {
            let x = tr(sz as f64, xlog);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, y0), (x, y1)],
                RGBColor(225, 225, 225).stroke_width(1),
            )))?;
            let (px, py) = chart.backend_coord(&(x, y0));
            plot_area.draw(&PathElement::new(vec![(px, py), (px, py + 5)], BLACK))?;
            plot_area.draw(&Text::new(
                human(sz as f64),
                (px - 4 * human(sz as f64).len() as i32 / 2 * 2, py + 8),
                ("sans-serif", 13).into_font(),
            ))?;
        }
        for g in &groups {
            let b = g[0];
            let c = colour(b);
            let pts = &self.series[b];
            let width = if b == KERNEL_BACKEND || g.len() > 1 {
                3
            } else {
                2
            };
            chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (tr(p.0 as f64, xlog), tr(p.1, ylog))),
                c.stroke_width(width),
            ))?;
            for p in pts {
                let x = tr(p.0 as f64, xlog);
                let (lo, hi) = (tr(p.2, ylog), tr(p.3, ylog));
                if hi > lo {
                    // the min–max error bar, with caps
                    let (px, plo) = chart.backend_coord(&(x, lo));
                    let (_, phi) = chart.backend_coord(&(x, hi));
                    plot_area.draw(&PathElement::new(
                        vec![(px, plo), (px, phi)],
                        c.stroke_width(1),
                    ))?;
                    for py in [plo, phi] {
                        plot_area.draw(&PathElement::new(
                            vec![(px - 4, py), (px + 4, py)],
                            c.stroke_width(1),
                        ))?;
                    }
                }
                let at = chart.backend_coord(&(x, tr(p.1, ylog)));
                draw_marker(&plot_area, marker(b), at, c)?;
            }
        }
        self.legend(&legend_area, &groups)?;
        root.present()?;
        Ok(())
    }

    /// The legend: one entry per group of coinciding lines, each line of
    /// the group named, with its colour and marker.
    fn legend(&self, area: &DrawingArea<SVGBackend, Shift>, groups: &[Vec<&str>]) -> DrawResult {
        let font = ("sans-serif", 13).into_font();
        let mut y = 50;
        area.draw(&Text::new(
            "backend",
            (10, y - 22),
            ("sans-serif", 14).into_font(),
        ))?;
        for g in groups {
            let c = colour(g[0]);
            area.draw(&PathElement::new(
                vec![(10, y + 7), (38, y + 7)],
                c.stroke_width(3),
            ))?;
            draw_marker(area, marker(g[0]), (24, y + 7), c)?;
            for (i, b) in g.iter().enumerate() {
                let text = if g.len() > 1 && i == 0 {
                    format!("{b} (= {} more)", g.len() - 1)
                } else if i > 0 {
                    format!("  = {b}")
                } else {
                    b.to_string()
                };
                area.draw(&Text::new(text, (44, y), font.clone()))?;
                y += 17;
            }
            y += 6;
        }
        Ok(())
    }

    fn bars(&self, svg: &mut String, size: u64) -> DrawResult {
        let pts: Vec<(f64, f64, f64)> = self
            .order
            .iter()
            .map(|b| {
                let p = self.series[b][0];
                (p.1, p.2, p.3)
            })
            .collect();
        let xlog = span_is_wide(pts.iter().map(|p| p.0));
        let (x0, x1) = bounds(
            pts.iter().flat_map(|p| [tr(p.0, xlog), tr(p.2, xlog)]),
            !xlog,
        );
        let n = self.order.len() as u32;
        let height = 140 + 26 * n;
        let root = SVGBackend::with_string(svg, (900, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let names: Vec<String> = self.order.iter().map(|s| s.to_string()).collect();
        let unit = self.unit;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} at {size} {}: {}",
                    self.scenario, self.size_unit, self.metric
                ),
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
                "{} ({unit}{})",
                self.metric,
                if xlog { ", log scale" } else { "" }
            ))
            .x_label_formatter(&|v| label(*v, xlog, unit))
            .y_label_formatter(&|v| match v {
                // The first backend at the top.
                SegmentValue::CenterOf(i) => names
                    .get((n - 1).saturating_sub(*i) as usize)
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        for (i, (&b, &(v, lo, hi))) in self.order.iter().zip(&pts).enumerate() {
            let c = colour(b);
            let i = n - 1 - i as u32;
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (x0, SegmentValue::Exact(i)),
                    (tr(v, xlog), SegmentValue::Exact(i + 1)),
                ],
                c.mix(0.85).filled(),
            )))?;
            if hi > lo {
                let (plo, py) = chart.backend_coord(&(tr(lo, xlog), SegmentValue::CenterOf(i)));
                let (phi, _) = chart.backend_coord(&(tr(hi, xlog), SegmentValue::CenterOf(i)));
                root.draw(&PathElement::new(
                    vec![(plo, py), (phi, py)],
                    BLACK.stroke_width(1),
                ))?;
                for px in [plo, phi] {
                    root.draw(&PathElement::new(vec![(px, py - 4), (px, py + 4)], BLACK))?;
                }
            }
            chart.draw_series(std::iter::once(Text::new(
                format!(" {}", human_unit(v, unit)),
                (tr(hi.max(v), xlog), SegmentValue::CenterOf(i)),
                ("sans-serif", 12).into_font(),
            )))?;
        }
        root.present()?;
        Ok(())
    }
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
    (lo, hi + span * 0.15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_metrics::{TIME_NS, WALK_VMAS_VISITED_PER_WALK};

    #[test]
    fn bytes_are_binary() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(4096.0), "4 KiB");
        assert_eq!(human_bytes(1.5 * 1048576.0), "1.5 MiB");
        assert_eq!(human_bytes(20.0 * 1048576.0), "20 MiB");
        assert_eq!(human_bytes(3.0 * 1073741824.0), "3 GiB");
        assert_eq!(human_unit(25000.0, "bytes"), "24.4 KiB");
        assert_eq!(human_unit(25000.0, "ns"), "25k");
        assert_eq!(label(2.0, true, "bytes"), "100 B");
    }

    #[test]
    fn coinciding_lines_share_a_legend_entry() {
        let rows = vec![
            row("anonvma:linux", 250, 3.0),
            row("anonvma:linux", 1000, 5.0),
            row("anonvma:reuse-3.19", 250, 3.0),
            row("anonvma:reuse-3.19", 1000, 5.0),
            row("objrmap:prio", 250, 1.0),
            row("objrmap:prio", 1000, 1.0),
        ];
        let svg = plot(&rows, "db-window", WALK_VMAS_VISITED_PER_WALK.name)
            .unwrap()
            .unwrap();
        assert!(svg.contains("anonvma:linux (= 1 more)"), "{svg}");
        assert!(svg.contains("= anonvma:reuse-3.19"));
        // ticks at the sizes that ran
        assert!(svg.contains("\n250\n") && svg.contains("\n1000\n"), "{svg}");
        // the legend is right of the 900-pixel plot
        assert!(svg.contains("width=\"1160\""), "{}", &svg[..200]);
    }

    #[test]
    fn every_preset_has_its_own_colour() {
        let specs = rmap_registry::all_specs();
        for (i, a) in specs.iter().enumerate() {
            for b in &specs[i + 1..] {
                assert_ne!(colour(a), colour(b), "{a} {b}");
            }
        }
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
            row("objrmap:mccracken", 4000, 4000.0),
            row("objrmap:prio", 250, 1.0),
            row("objrmap:prio", 4000, 1.0),
        ];
        let svg = plot(&rows, "db-window", WALK_VMAS_VISITED_PER_WALK.name)
            .unwrap()
            .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("objrmap:mccracken") && svg.contains("objrmap:prio"));
        // min–max error bars: the rows' spread is 0 here, so none.
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
        assert_eq!(label(398f64.log10(), true, "ns"), "400");
        assert_eq!(label(31_623_000f64.log10(), true, "ns"), "32M");
        assert_eq!(label(2.5, false, "ns"), "2.50");
        assert_ne!(colour("anonvma:linux"), colour("anonvma:avc-2.6.34"));
    }
}
