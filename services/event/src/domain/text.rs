//! Keyword search without a text index: FerretDB (the local MongoDB server)
//! has neither text indexes nor `$text`, so each event stores the normalised
//! words of its title and description, and a query becomes plain equality
//! (`$all`) and anchored-prefix (`$regex: "^…"`) conditions on that array —
//! operators every MongoDB-compatible server has, and that an ordinary
//! (multikey) index serves.
//!
//! Normalising is the same on both sides: Unicode compatibility decomposition
//! with combining marks dropped (`Café` → `cafe`), lower case, split on
//! anything that is not a letter or a digit; a word with hyphens or
//! apostrophes is also kept joined (`stand-up` → `stand`, `up`, `standup`;
//! `l'Opéra` → `l`, `opera`, `lopera`). Common English words are left out, as PostgreSQL's and
//! MongoDB's English search did. There is no stemming: `festival` does not
//! find `festivals` — except that the last word of a query matches as a
//! prefix, which covers plurals and typing ahead.

use std::collections::BTreeSet;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// More distinct words than this in one description add little to finding it
/// and only grow the index; the title's words always come first.
pub const MAX_KEYWORDS: usize = 500;

/// A word longer than this is not something anyone types; cut, it still
/// matches as a prefix.
const MAX_WORD_CHARS: usize = 40;

/// Words too common to tell events apart (the short end of the English stop
/// lists); a query of nothing else matches nothing, as before.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "in", "into", "is",
    "it", "its", "of", "on", "or", "the", "their", "this", "to", "with",
];

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The normalised words of `text` in order, stop words included.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let joiner = |c: char| matches!(c, '-' | '\'' | '’' | 'ʼ');
    let mut out = Vec::new();
    for chunk in folded.split(|c: char| !c.is_alphanumeric() && !joiner(c)) {
        let parts: Vec<&str> = chunk.split(joiner).filter(|p| !p.is_empty()).collect();
        for part in &parts {
            out.push(cut(part));
        }
        if parts.len() > 1 {
            out.push(cut(&parts.concat()));
        }
    }
    out
}

fn cut(word: &str) -> String {
    word.chars().take(MAX_WORD_CHARS).collect()
}

/// What an event stores for search: its title's words (to rank title matches
/// first) and every keyword of title and description, each sorted and
/// without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    pub title: Vec<String>,
    pub all: Vec<String>,
}

impl Keywords {
    pub fn of(title: &str, description: Option<&str>) -> Self {
        let title_words: BTreeSet<String> = words(title)
            .into_iter()
            .filter(|w| !is_stop_word(w))
            .collect();
        let mut all = title_words.clone();
        for word in words(description.unwrap_or_default()) {
            if all.len() >= MAX_KEYWORDS {
                break;
            }
            if !is_stop_word(&word) {
                all.insert(word);
            }
        }
        Self {
            title: title_words.into_iter().collect(),
            all: all.into_iter().collect(),
        }
    }
}

/// A parsed `q`: every word in `all` must be a keyword, some keyword must
/// start with `prefix` (the query's last word), and no keyword may be in
/// `none` (`-word`, as in web search syntax). Quotes are ignored: a phrase is
/// its words, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextQuery {
    pub all: Vec<String>,
    pub prefix: Option<String>,
    pub none: Vec<String>,
}

impl TextQuery {
    pub fn parse(q: &str) -> Self {
        let mut wanted = Vec::new();
        let mut none = BTreeSet::new();
        for term in q.split_whitespace() {
            match term.strip_prefix('-') {
                Some(excluded) => none.extend(words(excluded)),
                None => wanted.extend(words(term)),
            }
        }
        wanted.retain(|w| !is_stop_word(w));
        let prefix = wanted.pop();
        let all: BTreeSet<String> = wanted.into_iter().collect();
        Self {
            all: all.into_iter().collect(),
            prefix,
            none: none.into_iter().filter(|w| !is_stop_word(w)).collect(),
        }
    }

    /// Nothing left to look for (only stop words or punctuation): matches no
    /// event, rather than every event.
    pub fn matches_nothing(&self) -> bool {
        self.all.is_empty() && self.prefix.is_none() && self.none.is_empty()
    }

    /// Whether `keywords` (sorted, as `Keywords` keeps them) satisfy the
    /// query; the store asks the server the same question.
    pub fn matches(&self, keywords: &[String]) -> bool {
        let has = |w: &String| keywords.binary_search(w).is_ok();
        !self.matches_nothing()
            && self.all.iter().all(has)
            && self
                .prefix
                .as_ref()
                .is_none_or(|p| keywords.iter().any(|k| k.starts_with(p.as_str())))
            && !self.none.iter().any(has)
    }

    /// Whether the query looks for anything (rather than only excluding).
    pub fn has_positive_terms(&self) -> bool {
        !self.all.is_empty() || self.prefix.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn keywords_are_folded_deduplicated_and_sorted() {
        let k = Keywords::of(
            "Café Müller: the Stand-up Night!",
            Some("Don't miss it — NIGHT of the año, ½ price"),
        );
        assert_eq!(
            k.title,
            strings(&["cafe", "muller", "night", "stand", "standup", "up"])
        );
        assert_eq!(
            k.all,
            strings(&[
                "1", "2", "ano", "cafe", "don", "dont", "miss", "muller", "night", "price",
                "stand", "standup", "t", "up"
            ])
        );
    }

    #[test]
    fn keywords_stop_growing_but_keep_the_title() {
        let description: Vec<String> = (0..2 * MAX_KEYWORDS).map(|i| format!("w{i}")).collect();
        let k = Keywords::of("Zebra", Some(&description.join(" ")));
        assert_eq!(k.all.len(), MAX_KEYWORDS);
        assert!(k.all.contains(&"zebra".to_string()));
    }

    #[test]
    fn a_query_is_all_words_the_last_as_a_prefix_and_exclusions() {
        let q = TextQuery::parse("  Swan \"LAKE\" the -ballet -the Tchaik");
        assert_eq!(q.all, strings(&["lake", "swan"]));
        assert_eq!(q.prefix.as_deref(), Some("tchaik"));
        assert_eq!(q.none, strings(&["ballet"]));

        let keywords = Keywords::of("Swan Lake", Some("music by Tchaikovsky")).all;
        assert!(q.matches(&keywords));
        assert!(!TextQuery::parse("swan lake -music").matches(&keywords));
        assert!(
            !TextQuery::parse("swa lake").matches(&keywords),
            "only the last word is a prefix"
        );
        assert!(TextQuery::parse("lake swa").matches(&keywords));
        assert!(TextQuery::parse("-opera").matches(&keywords));
    }

    #[test]
    fn a_query_of_stop_words_matches_nothing() {
        for q in ["the", "of and", "!!!", "-"] {
            let parsed = TextQuery::parse(q);
            assert!(parsed.matches_nothing(), "{q}: {parsed:?}");
            assert!(!parsed.matches(&strings(&["the", "of"])));
        }
    }

    #[test]
    fn accents_and_case_do_not_matter_on_either_side() {
        let keywords = Keywords::of("Noël à l'Opéra", None).all;
        assert!(TextQuery::parse("NOEL lopera").matches(&keywords));
        assert!(TextQuery::parse("noël opé").matches(&keywords));
    }
}
