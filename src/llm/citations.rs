//! The answer as HTML, written as its pieces arrive.
//!
//! The model's text is untrusted: every piece is escaped before it reaches the page, and no HTML
//! from the model survives. A citation (`[2]`, `[1, 3]`) of a passage on the page becomes a link
//! to it as soon as its `]` arrives; until then the text from its `[` on is held back, so that a
//! citation split across pieces (`[`, `1]`) never prints broken. A citation of a passage that does
//! not exist is dropped (and counted); brackets that are no citation (`[sic]`) stay as text.

/// Characters held back after a `[` at most: longer, it is no citation.
const MAX_CITATION_CHARS: usize = 16;

/// The HTML of one answer, piece by piece.
pub struct Citations {
    /// Passages on the page, numbered from 1.
    passages: usize,
    /// Text from an unclosed `[`, not yet known to be a citation.
    held: String,
    /// Citations of passages that do not exist, as written (`[7]`).
    invalid: Vec<String>,
    /// The answer's text so far (to recognise the "no answer" sentence).
    text: String,
    /// Links written to passages that exist.
    cited: usize,
}

impl Citations {
    pub fn new(passages: usize) -> Self {
        Self {
            passages,
            held: String::new(),
            invalid: Vec::new(),
            text: String::new(),
            cited: 0,
        }
    }

    /// The HTML for `piece`: what can be written now.
    pub fn push(&mut self, piece: &str) -> String {
        self.text.push_str(piece);
        let mut html = String::with_capacity(piece.len() + 16);
        for c in piece.chars() {
            if self.held.is_empty() {
                if c == '[' {
                    self.held.push(c);
                } else {
                    escape_into(&mut html, c);
                }
                continue;
            }
            match c {
                ']' => {
                    self.held.push(c);
                    let held = std::mem::take(&mut self.held);
                    self.resolve(&held, &mut html);
                }
                // Another `[`: what was held is text, and the new one may open a citation.
                '[' => {
                    self.release(&mut html);
                    self.held.push(c);
                }
                c if (c.is_ascii_digit() || c == ',' || c == ' ')
                    && self.held.len() < MAX_CITATION_CHARS =>
                {
                    self.held.push(c)
                }
                c => {
                    self.release(&mut html);
                    escape_into(&mut html, c);
                }
            }
        }
        html
    }

    /// What is still held when the answer ends (an unclosed `[`), as text.
    pub fn finish(&mut self) -> String {
        let mut html = String::new();
        self.release(&mut html);
        html
    }

    /// Citations of passages that do not exist, dropped from the answer.
    pub fn invalid(&self) -> &[String] {
        &self.invalid
    }

    /// The model said the passages do not answer the question.
    pub fn unanswered(&self) -> bool {
        self.text.contains(super::NO_ANSWER)
    }

    /// How many citations of passages on the page the answer made.
    pub fn cited(&self) -> usize {
        self.cited
    }

    /// The answer's text as the model wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn release(&mut self, html: &mut String) {
        for c in std::mem::take(&mut self.held).chars() {
            escape_into(html, c);
        }
    }

    /// `[…]`, complete: links for the passages that exist, nothing for those that do not; text
    /// if it is no list of numbers.
    fn resolve(&mut self, held: &str, html: &mut String) {
        let inside = &held[1..held.len() - 1];
        let numbers: Option<Vec<usize>> = inside
            .split(',')
            .map(|n| n.trim().parse::<usize>().ok())
            .collect();
        let Some(numbers) = numbers.filter(|n| !n.is_empty()) else {
            for c in held.chars() {
                escape_into(html, c);
            }
            return;
        };
        for number in numbers {
            if (1..=self.passages).contains(&number) {
                self.cited += 1;
                html.push_str(&format!(
                    "<a class=\"cite\" href=\"#passage-{number}\" aria-label=\"passage {number}\">[{number}]</a>"
                ));
            } else {
                self.invalid.push(format!("[{number}]"));
            }
        }
    }
}

/// The HTML text of `c`: the characters that could open markup, close an attribute or start an
/// entity are written as entities, as Tera's autoescape writes them (the rest of the page).
fn escape_into(html: &mut String, c: char) {
    match c {
        '&' => html.push_str("&amp;"),
        '<' => html.push_str("&lt;"),
        '>' => html.push_str("&gt;"),
        '"' => html.push_str("&quot;"),
        '\'' => html.push_str("&#39;"),
        c => html.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(text: &str, passages: usize) -> String {
        let mut citations = Citations::new(passages);
        let mut html = citations.push(text);
        html.push_str(&citations.finish());
        html
    }

    #[test]
    fn citations_become_links_and_missing_passages_are_dropped() {
        let mut citations = Citations::new(2);
        let mut html = citations.push("Canaries go first [1]. Rollbacks [2, 7] [sic].");
        html.push_str(&citations.finish());
        assert_eq!(
            html,
            "Canaries go first <a class=\"cite\" href=\"#passage-1\" aria-label=\"passage 1\">[1]</a>. \
             Rollbacks <a class=\"cite\" href=\"#passage-2\" aria-label=\"passage 2\">[2]</a> [sic]."
        );
        assert_eq!(citations.invalid(), ["[7]".to_owned()]);
    }

    #[test]
    fn a_citation_split_across_pieces_is_held_until_it_closes() {
        let mut citations = Citations::new(3);
        assert_eq!(citations.push("Deploys ["), "Deploys ");
        assert_eq!(citations.push("3"), "");
        assert_eq!(
            citations.push("]."),
            "<a class=\"cite\" href=\"#passage-3\" aria-label=\"passage 3\">[3]</a>."
        );
        // An unclosed bracket at the end is text.
        assert_eq!(citations.push(" See [2"), " See ");
        assert_eq!(citations.finish(), "[2");
    }

    #[test]
    fn no_html_from_the_model_reaches_the_page() {
        let html = whole(
            "<script>alert(1)</script> & \"x\" [<b>1</b>] [1<img src=x>]",
            1,
        );
        assert!(
            !html.contains("<script") && !html.contains("<b>") && !html.contains("<img"),
            "{html}"
        );
        assert!(html.contains("[&lt;b&gt;1&lt;/b&gt;]"), "{html}");
        assert!(
            html.contains("&lt;script&gt;") && html.contains("&amp; &quot;x&quot;"),
            "{html}"
        );
    }

    #[test]
    fn the_no_answer_sentence_is_recognised() {
        let mut citations = Citations::new(1);
        citations.push("The passages do not ");
        citations.push("answer this question.");
        assert!(citations.unanswered());
        assert_eq!(citations.cited(), 0);
        let mut citations = Citations::new(2);
        citations.push("Canaries first [1], then [");
        citations.push("2, 9]. [sic]");
        assert!(!citations.unanswered());
        assert_eq!(citations.cited(), 2, "[9] is no passage, [sic] no citation");
    }

    proptest! {
        /// However the model splits its answer into pieces, the page gets the same HTML, and no
        /// character of the model's reaches it unescaped.
        #[test]
        fn any_split_gives_the_same_escaped_html(
            text in "[a-z \\[\\]0-9,<>&\"'.]{0,80}",
            mut cuts in proptest::collection::vec(0usize..80, 0..12),
        ) {
            let expected = whole(&text, 3);
            let chars: Vec<char> = text.chars().collect();
            cuts.sort_unstable();
            let mut citations = Citations::new(3);
            let mut html = String::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain(std::iter::once(chars.len())) {
                let cut = cut.clamp(start, chars.len());
                html.push_str(&citations.push(&chars[start..cut].iter().collect::<String>()));
                start = cut;
            }
            html.push_str(&citations.finish());
            prop_assert_eq!(&html, &expected);
            // Outside the links this module writes, no markup character is left.
            let outside = html
                .split("<a class=\"cite\"")
                .map(|part| part.split_once("</a>").map_or(part, |(_, rest)| rest))
                .collect::<String>();
            prop_assert!(!outside.contains(['<', '>', '"', '\'']), "{}", html);
        }
    }
}
