//! Line charts, stacked bar charts and maps as standalone SVG: no fonts or system libraries
//! needed to draw them. Marks carry a class and `data-*` attributes saying what they stand for,
//! so a test (or a reader's script) can count what a figure shows.

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
/// A line or bar chart's width and height (pixels).
pub const CHART_SIZE: (f64, f64) = (W, H);

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// One legend entry, the `i`-th from the top right of a drawing `width` wide.
fn legend(svg: &mut String, width: f64, i: usize, name: &str, color: &str) {
    let x1 = width - RIGHT;
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
        legend(&mut svg, W, i, s.name, s.color);
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
    let columns: Vec<Column> = bars
        .iter()
        .map(|b| Column {
            label: b.x.to_string(),
            segments: b
                .segments
                .iter()
                .map(|(value, color)| Segment::new(*value, color))
                .collect(),
        })
        .collect();
    // The marker stands before the first bar at or after it.
    let marker = marker.and_then(|m| bars.iter().position(|b| b.x >= m));
    column_chart(title, x_label, y_label, &columns, legend_entries, marker)
}

/// `data-*` attributes of a mark: what it stands for.
pub type Data = Vec<(&'static str, String)>;

/// One segment of a [`Column`]: its value, colour, what it stands for and a tooltip.
pub struct Segment {
    pub value: f64,
    pub color: String,
    pub data: Data,
    pub title: String,
}

impl Segment {
    pub fn new(value: f64, color: &str) -> Self {
        Self {
            value,
            color: color.to_string(),
            data: Vec::new(),
            title: String::new(),
        }
    }
}

/// One stacked column: segments from the bottom up, and a label below (may be empty).
pub struct Column {
    pub label: String,
    pub segments: Vec<Segment>,
}

/// ` data-k="v"` for every pair, escaped.
fn attributes(data: &Data) -> String {
    data.iter()
        .map(|(k, v)| format!(r#" data-{k}="{}""#, escape(v)))
        .collect()
}

/// A `<title>` tooltip, or nothing.
fn tooltip(title: &str) -> String {
    match title.is_empty() {
        true => String::new(),
        false => format!("<title>{}</title>", escape(title)),
    }
}

/// Stacked columns side by side (`class="segment"` each), a legend, and an optional red
/// vertical line (`class="marker"`) before column `marker`.
pub fn column_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    columns: &[Column],
    legend_entries: &[(&str, &str)],
    marker: Option<usize>,
) -> String {
    let tops = columns
        .iter()
        .map(|b| b.segments.iter().map(|s| s.value).sum::<f64>());
    // Headroom above the tallest column for the legend.
    let frame = Frame::new(columns.len() as f64, tops.map(|t| t * 1.25));
    let mut svg = frame.open(title, x_label, y_label, false);
    let width = (frame.x(1.0) - frame.x(0.0)) * 0.8;
    for (i, column) in columns.iter().enumerate() {
        let left = frame.x(i as f64) + width * 0.125;
        if !column.label.is_empty() {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                left + width / 2.0,
                H - BOTTOM + 18.0,
                escape(&column.label)
            );
        }
        let mut base = 0.0;
        for s in &column.segments {
            let (top, bottom) = (frame.y(base + s.value), frame.y(base));
            let _ = write!(
                svg,
                r#"<rect class="segment" x="{left:.1}" y="{top:.1}" width="{width:.1}" height="{:.1}" fill="{}" stroke="white"{}>{}</rect>"#,
                bottom - top,
                s.color,
                attributes(&s.data),
                tooltip(&s.title)
            );
            base += s.value;
        }
    }
    if let Some(i) = marker {
        let px = frame.x(i as f64);
        let _ = write!(
            svg,
            r#"<line class="marker" x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}" stroke="red" stroke-width="2"/>"#,
            H - BOTTOM
        );
    }
    for (i, (name, color)) in legend_entries.iter().enumerate() {
        legend(&mut svg, W, i, name, color);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The `i`-th of many distinct colours (hues a golden angle apart, two lightnesses): one per
/// offer in the carpool's bar charts, as the seed's Fig. 6.6 has.
pub fn palette(i: usize) -> String {
    let hue = (i as f64 * 137.508) % 360.0;
    let lightness = if i.is_multiple_of(2) { 45 } else { 62 };
    format!("hsl({hue:.0},70%,{lightness}%)")
}

/// A map is this many pixels square.
pub const MAP_SIZE: f64 = 640.0;

/// What a map mark is; coordinates in metres (x east, y north).
pub enum Shape {
    /// A filled dot of `r` pixels.
    Dot { at: (f64, f64), r: f64 },
    /// An outline circle of radius `r` metres.
    Circle { at: (f64, f64), r: f64 },
    /// A line through the points.
    Path {
        points: Vec<(f64, f64)>,
        dashed: bool,
    },
}

/// One mark of a map: its shape, colour, class (what kind of thing), data and tooltip.
pub struct Mark {
    pub shape: Shape,
    pub color: String,
    pub class: &'static str,
    pub data: Data,
    pub title: String,
}

/// A map of `marks` in drawing order, north up, one scale for both axes (circles stay round)
/// fitted to the dots and paths (circles may reach past the frame and are clipped), a scale
/// bar and a legend.
pub fn map_chart(title: &str, marks: &[Mark], legend_entries: &[(&str, &str)]) -> String {
    let points = marks.iter().flat_map(|m| match &m.shape {
        Shape::Dot { at, .. } => vec![*at],
        Shape::Path { points, .. } => points.clone(),
        Shape::Circle { .. } => Vec::new(),
    });
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for (x, y) in points {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    if lo.0 > hi.0 {
        (lo, hi) = ((0.0, 0.0), (1.0, 1.0));
    }
    let (pad, top, bottom) = (20.0, TOP, 36.0);
    let (w, h) = (MAP_SIZE - 2.0 * pad, MAP_SIZE - top - bottom);
    let scale = (w / (hi.0 - lo.0).max(1.0)).min(h / (hi.1 - lo.1).max(1.0));
    // Centre the content in the frame.
    let x0 = pad + (w - (hi.0 - lo.0) * scale) / 2.0;
    let y0 = top + (h + (hi.1 - lo.1) * scale) / 2.0;
    let px = |(x, y): (f64, f64)| (x0 + (x - lo.0) * scale, y0 - (y - lo.1) * scale);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_SIZE}" height="{MAP_SIZE}" viewBox="0 0 {MAP_SIZE} {MAP_SIZE}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="{MAP_SIZE}" height="{MAP_SIZE}" fill="white"/><text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        MAP_SIZE / 2.0,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<clipPath id="map-area"><rect x="0" y="{top}" width="{MAP_SIZE}" height="{h}"/></clipPath><rect x="0.5" y="{top}" width="{}" height="{h}" fill="none" stroke="#ccc"/><g clip-path="url(#map-area)">"##,
        MAP_SIZE - 1.0
    );
    for m in marks {
        let (class, color, data, title) =
            (m.class, &m.color, attributes(&m.data), tooltip(&m.title));
        let _ = match &m.shape {
            Shape::Dot { at, r } => {
                let (cx, cy) = px(*at);
                write!(
                    svg,
                    r#"<circle class="{class}" cx="{cx:.1}" cy="{cy:.1}" r="{r}" fill="{color}" stroke="black" stroke-width="0.5"{data}>{title}</circle>"#
                )
            }
            Shape::Circle { at, r } => {
                let (cx, cy) = px(*at);
                write!(
                    svg,
                    r#"<circle class="{class}" cx="{cx:.1}" cy="{cy:.1}" r="{:.1}" fill="none" stroke="{color}" stroke-opacity="0.35"{data}>{title}</circle>"#,
                    r * scale
                )
            }
            Shape::Path { points, dashed } => {
                let path: Vec<String> = points
                    .iter()
                    .map(|p| {
                        let (x, y) = px(*p);
                        format!("{x:.1},{y:.1}")
                    })
                    .collect();
                let dash = if *dashed {
                    r#" stroke-dasharray="4 3""#
                } else {
                    ""
                };
                write!(
                    svg,
                    r#"<polyline class="{class}" points="{}" fill="none" stroke="{color}" stroke-width="1.5"{dash}{data}>{title}</polyline>"#,
                    path.join(" ")
                )
            }
        };
    }
    svg.push_str("</g>");
    // A scale bar of a round length near a fifth of the width.
    let km = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .find(|km| km * 1000.0 * scale >= w / 6.0)
        .unwrap_or(100.0);
    let (bx, by) = (pad, MAP_SIZE - 14.0);
    let _ = write!(
        svg,
        r#"<path d="M{bx} {} V{by} H{:.1} V{}" fill="none" stroke="black"/><text x="{:.1}" y="{}">{km} km</text>"#,
        by - 5.0,
        bx + km * 1000.0 * scale,
        by - 5.0,
        bx + km * 1000.0 * scale + 6.0,
        by + 4.0
    );
    for (i, (name, color)) in legend_entries.iter().enumerate() {
        legend(&mut svg, MAP_SIZE, i, name, color);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Drawings (each a whole SVG of the given width and height) placed side by side in one SVG.
pub fn side_by_side(panels: &[(String, f64, f64)]) -> String {
    let width: f64 = panels.iter().map(|p| p.1).sum();
    let height = panels.iter().map(|p| p.2).fold(0.0, f64::max);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    let mut x = 0.0;
    for (panel, w, _) in panels {
        svg.push_str(
            &panel
                .trim_end()
                .replacen("<svg ", &format!(r#"<svg x="{x}" "#), 1),
        );
        x += w;
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

    fn dot(at: (f64, f64), class: &'static str) -> Mark {
        Mark {
            shape: Shape::Dot { at, r: 3.0 },
            color: "red".into(),
            class,
            data: vec![("id", "a\"b".into())],
            title: "x < y".into(),
        }
    }

    #[test]
    fn a_map_keeps_north_up_scales_both_axes_alike_and_says_what_each_mark_is() {
        let marks = [
            dot((0.0, 0.0), "home"),
            dot((2000.0, 1000.0), "home"),
            Mark {
                shape: Shape::Circle {
                    at: (0.0, 0.0),
                    r: 1000.0,
                },
                color: "blue".into(),
                class: "radius",
                data: Vec::new(),
                title: String::new(),
            },
        ];
        let svg = map_chart("m", &marks, &[("homes", "red")]);
        assert_eq!(svg.matches(r#"class="home""#).count(), 2);
        assert!(svg.contains(r#"data-id="a&quot;b""#) && svg.contains("<title>x &lt; y</title>"));
        let attr = |at: usize, name: &str| -> f64 {
            let tail = &svg[at..];
            let v = &tail[tail.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
            v[..v.find('"').unwrap()].parse().unwrap()
        };
        let homes: Vec<usize> = svg.match_indices(r#"class="home""#).map(|m| m.0).collect();
        let (x0, y0, x1, y1) = (
            attr(homes[0], "cx"),
            attr(homes[0], "cy"),
            attr(homes[1], "cx"),
            attr(homes[1], "cy"),
        );
        assert!(y1 < y0, "north is up");
        let per_m = (x1 - x0) / 2000.0;
        assert!(((y0 - y1) / 1000.0 - per_m).abs() < 0.01, "one scale");
        let radius = attr(svg.find(r#"class="radius""#).unwrap(), "r");
        assert!((radius - 1000.0 * per_m).abs() < 0.1, "{radius}");
    }

    #[test]
    fn panels_stand_side_by_side_in_one_drawing() {
        let a = map_chart("a", &[dot((0.0, 0.0), "p")], &[]);
        let svg = side_by_side(&[(a.clone(), MAP_SIZE, MAP_SIZE), (a, MAP_SIZE, MAP_SIZE)]);
        assert!(svg.contains(r#"<svg x="0" "#) && svg.contains(r#"<svg x="640" "#));
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        assert!(svg.contains(r#"width="1280""#));
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
