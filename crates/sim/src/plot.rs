//! Line and stacked bar charts as standalone SVG: no fonts or system libraries needed to draw them.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

const W: f64 = 900.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The axes of a chart: maps values to the drawing and draws the frame, ticks and labels.
struct Frame {
    x_max: f64,
    y_min: f64,
    span: f64,
}

impl Frame {
    /// A frame spanning zero, `x_max` and every y value (negative ones below a zero line).
    fn new(x_max: f64, ys: impl Iterator<Item = f64> + Clone) -> Self {
        let y_max = ys.clone().fold(0.0, f64::max) * 1.05;
        let y_min = ys.fold(0.0, f64::min) * 1.05;
        Self {
            x_max: x_max.max(1.0),
            y_min,
            span: (y_max - y_min).max(1e-9),
        }
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + v / self.x_max * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        H - BOTTOM - (v - self.y_min) / self.span * (H - TOP - BOTTOM)
    }

    /// The SVG up to the plotted data: background, title, axes, ticks (x ticks only with
    /// `x_ticks`) and axis labels.
    fn open(&self, title: &str, x_label: &str, y_label: &str, x_ticks: bool) -> String {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = write!(
            svg,
            r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
            W / 2.0,
            escape(title)
        );
        let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
        let _ = write!(
            svg,
            r#"<path d="M{x0} {y1} V{y0} H{x1}" fill="none" stroke="black"/>"#
        );
        if self.y_min < 0.0 {
            let py = self.y(0.0);
            let _ = write!(
                svg,
                r#"<line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="black"/>"#
            );
        }
        for i in 0..=5 {
            let v = self.y_min + self.span * i as f64 / 5.0;
            let py = self.y(v);
            let _ = write!(
                svg,
                r##"<line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.1}</text>"##,
                x0 - 6.0,
                py + 4.0
            );
            let vx = self.x_max * i as f64 / 5.0;
            if x_ticks {
                let _ = write!(
                    svg,
                    r#"<text x="{}" y="{}" text-anchor="middle">{vx:.0}</text>"#,
                    self.x(vx),
                    y0 + 18.0
                );
            }
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 10.0,
            escape(x_label)
        );
        let _ = write!(
            svg,
            r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            escape(y_label)
        );
        svg
    }
}

/// One legend entry, the `i`-th from the top right.
fn legend(svg: &mut String, i: usize, name: &str, color: &str) {
    let x1 = W - RIGHT;
    let ly = TOP + 10.0 + 18.0 * i as f64;
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
        x1 - 170.0,
        x1 - 150.0,
        color,
        x1 - 144.0,
        ly + 4.0,
        escape(name)
    );
}

/// A chart of `series` over a shared x axis, with axes, ticks and a legend. The y axis spans
/// zero and every value: negative values (e.g. a net load when production exceeds
/// consumption) are drawn below a zero line, not clipped.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series<'_>]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let frame = Frame::new(
        points.clone().map(|p| p.0).fold(1.0, f64::max),
        points.map(|p| p.1),
    );
    let mut svg = frame.open(title, x_label, y_label, true);
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", frame.x(*px), frame.y(*py)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.join(" "),
            s.color
        );
        legend(&mut svg, i, s.name, s.color);
    }
    svg.push_str("</svg>\n");
    svg
}

/// One stacked bar: segments from the bottom up, each a value and a colour.
pub struct Bar<'a> {
    pub x: f64,
    pub segments: Vec<(f64, &'a str)>,
}

/// Stacked bars side by side, each labelled with its x (e.g. which solver's solution is on top
/// in each cycle, Fig. 6.9), a legend, and an optional red vertical line before the first bar
/// whose x is at least `marker` (e.g. a failure).
pub fn stacked_bars(
    title: &str,
    x_label: &str,
    y_label: &str,
    bars: &[Bar<'_>],
    legend_entries: &[(&str, &str)],
    marker: Option<f64>,
) -> String {
    // Bars stand side by side in their order, each labelled with its x.
    let tops = bars
        .iter()
        .map(|b| b.segments.iter().map(|s| s.0).sum::<f64>());
    // Headroom above the tallest bar for the legend.
    let frame = Frame::new(bars.len() as f64, tops.map(|t| t * 1.25));
    let mut svg = frame.open(title, x_label, y_label, false);
    let width = (frame.x(1.0) - frame.x(0.0)) * 0.8;
    for (i, bar) in bars.iter().enumerate() {
        let left = frame.x(i as f64) + width * 0.125;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            left + width / 2.0,
            H - BOTTOM + 18.0,
            bar.x
        );
        let mut base = 0.0;
        for (value, color) in &bar.segments {
            let (top, bottom) = (frame.y(base + value), frame.y(base));
            let _ = write!(
                svg,
                r#"<rect class="segment" x="{left:.1}" y="{top:.1}" width="{width:.1}" height="{:.1}" fill="{color}" stroke="white"/>"#,
                bottom - top
            );
            base += value;
        }
    }
    // The marker stands before the first bar at or after it.
    if let Some(i) = marker.and_then(|m| bars.iter().position(|b| b.x >= m)) {
        let px = frame.x(i as f64);
        let _ = write!(
            svg,
            r#"<line class="marker" x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}" stroke="red" stroke-width="2"/>"#,
            H - BOTTOM
        );
    }
    for (i, (name, color)) in legend_entries.iter().enumerate() {
        legend(&mut svg, i, name, color);
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_and_escapes_text() {
        let svg = line_chart(
            "a < b",
            "x",
            "y",
            &[Series {
                name: "one",
                color: "red",
                points: vec![(0.0, 1.0), (2.0, 3.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt; b"));
        assert_eq!(svg.matches("<polyline").count(), 1);
    }

    #[test]
    fn negative_values_stay_inside_the_chart() {
        let svg = line_chart(
            "net load",
            "x",
            "y",
            &[Series {
                name: "net",
                color: "red",
                points: vec![(0.0, -4.0), (1.0, 2.0)],
            }],
        );
        let points = svg.split("points=\"").nth(1).unwrap();
        let ys: Vec<f64> = points[..points.find('"').unwrap()]
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(
            ys.iter().all(|y| (TOP..=H - BOTTOM).contains(y)),
            "{ys:?} outside {TOP}..{}",
            H - BOTTOM
        );
        assert!(ys[0] > ys[1], "-4 is drawn below 2");
        assert!(svg.contains(">-4."), "the axis is labelled below zero");
    }

    #[test]
    fn stacks_segments_and_marks_the_failure() {
        let bars = [
            Bar {
                x: 0.0,
                segments: vec![(2.0, "green"), (1.0, "red")],
            },
            Bar {
                x: 1.0,
                segments: vec![(4.0, "blue")],
            },
        ];
        let svg = stacked_bars("t", "x", "y", &bars, &[("s0", "green")], Some(1.0));
        assert_eq!(svg.matches(r#"class="segment""#).count(), 3);
        assert_eq!(svg.matches(r#"class="marker""#).count(), 1);
        // The red segment sits on top of the green one: its y is smaller.
        let y_of = |color: &str| -> f64 {
            let at = svg.find(&format!(r#"fill="{color}""#)).unwrap();
            let rect = &svg[svg[..at].rfind("<rect").unwrap()..at];
            rect.split(" y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(y_of("red") < y_of("green"));
    }
}
