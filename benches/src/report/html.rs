//! report.html: REPORT.md as one self-contained HTML page, its plots
//! inlined as SVG, for readers who open a report in a browser (as
//! criterion's users do).
//!
//! The Markdown is the report's own, so only what it uses is converted:
//! headings, paragraphs, lists, pipe tables, `**bold**`, `*italic*`,
//! `` `code` `` and images of plots (`![alt](plots/NAME.svg)`, replaced by
//! the SVG file's text). Everything else is escaped text.

use std::fmt::Write as _;
use std::path::Path;

/// The page for `markdown`, with images read from `plots`. Errors: a plot
/// the Markdown names that cannot be read.
pub fn page(markdown: &str, plots: &Path) -> Result<String, String> {
    let mut body = String::new();
    let mut lines = markdown.lines().peekable();
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, body: &mut String| {
        if !para.is_empty() {
            let _ = writeln!(body, "<p>{}</p>", inline(&para.join(" ")));
            para.clear();
        }
    };
    while let Some(line) = lines.next() {
        let l = line.trim_end();
        if l.is_empty() {
            flush(&mut para, &mut body);
        } else if let Some(h) = heading(l) {
            flush(&mut para, &mut body);
            let _ = writeln!(body, "<h{0}>{1}</h{0}>", h.0, inline(h.1));
        } else if l.starts_with('|') {
            flush(&mut para, &mut body);
            let mut rows = vec![l.to_string()];
            while let Some(n) = lines.peek().filter(|n| n.starts_with('|')) {
                rows.push(n.to_string());
                lines.next();
            }
            table(&mut body, &rows);
        } else if let Some(first) = l.strip_prefix("- ") {
            flush(&mut para, &mut body);
            body.push_str("<ul>\n");
            let mut item = first.to_string();
            loop {
                match lines.peek() {
                    Some(n) if n.starts_with("  ") && !n.trim().is_empty() => {
                        item.push_str("<br>");
                        item.push_str(n.trim());
                        lines.next();
                    }
                    Some(n) if n.starts_with("- ") => {
                        let _ = writeln!(body, "<li>{}</li>", inline_keep_br(&item));
                        item = n["- ".len()..].to_string();
                        lines.next();
                    }
                    _ => break,
                }
            }
            let _ = writeln!(body, "<li>{}</li>\n</ul>", inline_keep_br(&item));
        } else if let Some((alt, src)) = image(l) {
            flush(&mut para, &mut body);
            let file = Path::new(src).file_name().map(|f| plots.join(f));
            let svg = file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .ok_or_else(|| format!("report.html: cannot read the plot {src}"))?;
            let _ = writeln!(
                body,
                "<figure>{}<figcaption>{}</figcaption></figure>",
                strip_xml_header(&svg),
                escape(alt)
            );
        } else {
            para.push(l.to_string());
        }
    }
    flush(&mut para, &mut body);
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>rmap-lab benchmark report</title>\n<style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    ))
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}\
code{background:#f4f4f4;padding:0 3px}figure{margin:1em 0}figure svg{max-width:100%;height:auto}\
figcaption{font-size:85%;color:#555}";

fn heading(l: &str) -> Option<(usize, &str)> {
    let n = l.chars().take_while(|&c| c == '#').count();
    (1..=6)
        .contains(&n)
        .then(|| l[n..].strip_prefix(' '))
        .flatten()
        .map(|t| (n, t))
}

fn image(l: &str) -> Option<(&str, &str)> {
    let rest = l.strip_prefix("![")?;
    let (alt, rest) = rest.split_once("](")?;
    let src = rest.strip_suffix(')')?;
    Some((alt, src))
}

fn strip_xml_header(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn cells(row: &str) -> Vec<&str> {
    let r = row.trim().trim_start_matches('|').trim_end_matches('|');
    r.split('|').map(str::trim).collect()
}

fn table(body: &mut String, rows: &[String]) {
    body.push_str("<table>\n");
    let align: Vec<bool> = rows
        .get(1)
        .map(|r| cells(r).iter().map(|c| c.ends_with(':')).collect())
        .unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        if i == 1 {
            continue;
        }
        let tag = if i == 0 { "th" } else { "td" };
        body.push_str("<tr>");
        for (j, c) in cells(r).into_iter().enumerate() {
            let class = if i > 0 && align.get(j) == Some(&true) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(body, "<{tag}{class}>{}</{tag}>", inline(c));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
}

/// `&`, `<`, `>` and `"` as entities.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn inline_keep_br(s: &str) -> String {
    s.split("<br>").map(inline).collect::<Vec<_>>().join("<br>")
}

/// Inline Markdown: code spans first (their text is literal), then bold
/// and italics.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&emphasis(&escape(part)));
        }
    }
    out
}

fn emphasis(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split("**").enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<strong>{part}</strong>");
        } else {
            out.push_str(&italics(part));
        }
    }
    out
}

fn italics(s: &str) -> String {
    // `*` only at word edges, so that `×` ratios and `2*3` stay as they are.
    let parts: Vec<&str> = s.split('*').collect();
    if parts.len() < 3 {
        return s.to_string();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i + 1 < parts.len() {
            let _ = write!(out, "<em>{part}</em>");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_one_page_with_inline_plots() {
        let dir = std::env::temp_dir().join(format!("rmap-html-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.svg"),
            "<?xml version=\"1.0\"?>\n<svg width=\"1\"></svg>",
        )
        .unwrap();
        let md = "# Title\n\nSome **bold** and `a<b`.\n\n| x | y |\n|---|---:|\n| a | 1 |\n\n- one\n  more\n- two\n\n![plot](plots/a.svg)\n";
        let html = page(md, &dir).unwrap();
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(
            html.contains("<strong>bold</strong> and <code>a&lt;b</code>"),
            "{html}"
        );
        assert!(html.contains("<th>x</th><th>y</th>") && html.contains("<td class=\"n\">1</td>"));
        assert!(html.contains("<li>one<br>more</li>") && html.contains("<li>two</li>"));
        assert!(html.contains("<figure><svg width=\"1\"></svg>"), "{html}");
        assert!(!html.contains("<?xml"));
        let e = page("![p](plots/missing.svg)\n", &dir).unwrap_err();
        assert!(e.contains("missing.svg"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
