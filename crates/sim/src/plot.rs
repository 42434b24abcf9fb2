//! Line charts as standalone SVG: no fonts or system libraries needed to draw them.

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

/// A chart of `series` over a shared x axis, with axes, ticks and a legend. The y axis spans
/// zero and every value: negative values (e.g. a net load when production exceeds
/// consumption) are drawn below a zero line, not clipped.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series<'_>]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = points.clone().map(|p| p.1).fold(0.0, f64::max) * 1.05;
    let y_min = points.map(|p| p.1).fold(0.0, f64::min) * 1.05;
    let span = (y_max - y_min).max(1e-9);
    let x = |v: f64| LEFT + v / x_max * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - (v - y_min) / span * (H - TOP - BOTTOM);
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
    if y_min < 0.0 {
        let py = y(0.0);
        let _ = write!(
            svg,
            r#"<line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="black"/>"#
        );
    }
    for i in 0..=5 {
        let v = y_min + span * i as f64 / 5.0;
        let py = y(v);
        let _ = write!(
            svg,
            r##"<line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.1}</text>"##,
            x0 - 6.0,
            py + 4.0
        );
        let vx = x_max * i as f64 / 5.0;
        let px = x(vx);
        let _ = write!(
            svg,
            r#"<text x="{px}" y="{}" text-anchor="middle">{vx:.0}</text>"#,
            y0 + 18.0
        );
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
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.join(" "),
            s.color
        );
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x1 - 170.0,
            x1 - 150.0,
            s.color,
            x1 - 144.0,
            ly + 4.0,
            escape(s.name)
        );
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
}
