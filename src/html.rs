//! Escaping text for the HTML and SVG the code writes by hand (the simulation report, the
//! regulatory package's summary, the charts); the askama templates escape by themselves.
//!
//! One rule for every hand-built page: `& < > " '` become entities, and control characters
//! other than newline and tab are dropped (they have no business in a page and some break XML).

/// Escapes `text` for HTML or SVG element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_quotes_become_entities_and_control_characters_go() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{7}\n\t"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\n\t"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
