//! HTML building blocks of the explorer: escaping, the page layout, tables and SVG bar charts.
//! Every string that comes from the chain or the request goes through [`esc`].

use std::{collections::BTreeMap, fmt::Write};

/// `text` safe inside HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The first `n` characters of `text`, marked when cut.
pub fn short(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}

/// A link to `href` (a path the explorer built) showing `text`.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A table with `head` and `rows`; cells are HTML already.
pub fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::from("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// A whole page: `title`, a search box and `body`; `refresh` reloads it every few seconds so
/// that live pages follow the chain without any script.
pub fn layout(title: &str, body: &str, refresh: bool) -> String {
    let refresh = if refresh {
        "<meta http-equiv=\"refresh\" content=\"3\">"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <title>{title} · Agora explorer</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/explorer\">Agora explorer</a>\
         <form action=\"/explorer/search\" method=\"get\"><input name=\"q\" size=\"70\" \
         placeholder=\"block height, transaction hash or address\"><button>Search</button></form>\
         </header><main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{background:#234;padding:.5em 1em;display:flex;gap:2em;align-items:center}\
header a{color:#fff;font-weight:bold;text-decoration:none}main{padding:0 1em 2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;\
text-align:left;font-size:.9em}th{background:#eef}code,td{font-family:ui-monospace,monospace}\
.failed{color:#b00}.success{color:#070}svg{background:#fafafa;border:1px solid #ddd}";

/// One series of a bar chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<u64>,
}

/// A bar chart of one series, `name`: a bar per entry of `values`, labelled by its key.
pub fn map_chart<K: ToString>(
    title: &str,
    name: &str,
    color: &str,
    values: &BTreeMap<K, u64>,
) -> String {
    let labels: Vec<String> = values.keys().map(K::to_string).collect();
    let series = Series {
        name,
        color,
        values: values.values().copied().collect(),
    };
    bar_chart(title, &labels, &[series], None)
}

/// A bar chart of `series` over `labels` (grouped bars), with an optional limit drawn as a
/// red line; plain SVG, no script.
pub fn bar_chart(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    limit: Option<u64>,
) -> String {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 30.0;
    const TOP: f64 = 24.0;
    let top_value = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(limit)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = H - BOTTOM - TOP;
    let y = |v: u64| TOP + plot_h * (1.0 - v as f64 / top_value);
    let slot = (W - LEFT - 10.0) / labels.len().max(1) as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\">\
         <title>{t}</title><text x=\"{LEFT}\" y=\"16\" font-size=\"13\">{t}</text>\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{W}\" y2=\"{b}\" stroke=\"#888\"/>\
         <text x=\"4\" y=\"{TOP}\" font-size=\"11\">{top_value}</text>\
         <text x=\"4\" y=\"{b}\" font-size=\"11\">0</text>",
        t = esc(title),
        b = H - BOTTOM,
    );
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + slot * i as f64;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            let top = y(v);
            let _ = write!(
                svg,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" \
                 fill=\"{}\"><title>{} {}: {v}</title></rect>",
                x0 + bar * k as f64,
                H - BOTTOM - top,
                esc(s.color),
                esc(s.name),
                esc(label),
            );
        }
        if labels.len() <= 24 || i % (labels.len() / 12).max(1) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x0:.1}\" y=\"{}\" font-size=\"10\">{}</text>",
                H - BOTTOM + 14.0,
                esc(label)
            );
        }
    }
    if let Some(limit) = limit {
        let ly = y(limit);
        let _ = write!(
            svg,
            "<line class=\"limit\" x1=\"{LEFT}\" y1=\"{ly:.1}\" x2=\"{W}\" y2=\"{ly:.1}\" \
             stroke=\"#c00\" stroke-dasharray=\"4\"><title>limit {limit}</title></line>"
        );
    }
    let mut legend_x = W - 10.0;
    for s in series.iter().rev() {
        legend_x -= 12.0 + 7.0 * s.name.len() as f64;
        let _ = write!(
            svg,
            "<text x=\"{legend_x:.1}\" y=\"16\" font-size=\"11\" fill=\"{}\">■ {}</text>",
            esc(s.color),
            esc(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_chain_data_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let chart = bar_chart(
            "<b>",
            &["<i>".into()],
            &[Series {
                name: "\"x",
                color: "#000",
                values: vec![3],
            }],
            Some(2),
        );
        assert!(!chart.contains("<b>") && !chart.contains("<i>") && !chart.contains("\"x"));
        assert_eq!(chart.matches("class=\"bar\"").count(), 1);
        assert!(chart.contains("class=\"limit\""));
    }
}
