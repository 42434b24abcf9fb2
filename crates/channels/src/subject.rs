//! Channel names: hierarchical subjects (`agora.stream.1.a.7.input`) and the filters that
//! select them (`agora.stream.1.offers.>`), with the NATS token rules.

use crate::BusError;
use std::borrow::Borrow;
use std::fmt;

/// Longest subject accepted: NATS stream names derive from subjects and must stay short.
pub const MAX_SUBJECT_LEN: usize = 200;

/// A concrete channel name: dot-separated tokens of `[A-Za-z0-9_]`.
///
/// The restricted alphabet keeps the name valid as a NATS subject and makes
/// [`Subject::stream_name`] injective (tokens never contain the `-` it joins them with).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(String);

/// A subscription filter: a subject whose tokens may be `*` (any one token) or, last, `>` (one
/// or more tokens), as in NATS.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Filter(String);

fn plain_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_len(name: &str) -> Result<(), BusError> {
    if name.is_empty() || name.len() > MAX_SUBJECT_LEN {
        return Err(BusError::InvalidSubject {
            subject: name.to_string(),
            reason: "empty or longer than 200 bytes",
        });
    }
    Ok(())
}

impl Subject {
    pub fn new(name: impl Into<String>) -> Result<Self, BusError> {
        let name = name.into();
        check_len(&name)?;
        if !name.split('.').all(plain_token) {
            return Err(BusError::InvalidSubject {
                subject: name,
                reason: "tokens are non-empty [A-Za-z0-9_]",
            });
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This subject followed by more tokens (`a.b` + `c.d` = `a.b.c.d`).
    pub fn child(&self, tokens: &str) -> Result<Self, BusError> {
        Self::new(format!("{}.{tokens}", self.0))
    }

    /// The name of the JetStream stream holding this channel (one stream per channel, so the
    /// stream's sequence is the channel's).
    pub fn stream_name(&self) -> String {
        self.0.replace('.', "-")
    }
}

impl Filter {
    pub fn new(pattern: impl Into<String>) -> Result<Self, BusError> {
        let pattern = pattern.into();
        check_len(&pattern)?;
        let tokens: Vec<&str> = pattern.split('.').collect();
        let last = tokens.len() - 1;
        let valid = tokens
            .iter()
            .enumerate()
            .all(|(i, t)| plain_token(t) || *t == "*" || (*t == ">" && i == last));
        if !valid {
            return Err(BusError::InvalidSubject {
                subject: pattern,
                reason: "filter tokens are [A-Za-z0-9_], `*`, or a final `>`",
            });
        }
        Ok(Self(pattern))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject this filter names exactly, if it has no wildcard.
    pub fn exact(&self) -> Option<Subject> {
        self.0
            .split('.')
            .all(plain_token)
            .then(|| Subject(self.0.clone()))
    }

    /// The literal start every subject it matches begins with: the tokens before the first
    /// wildcard, with their dot (`a.b.` for `a.b.*`), or the whole subject if it has none. A
    /// broker keeping subjects sorted scans only the range that starts with it.
    pub fn literal_prefix(&self) -> &str {
        let mut end = 0;
        for token in self.0.split('.') {
            if token == "*" || token == ">" {
                return &self.0[..end];
            }
            end = (end + token.len() + 1).min(self.0.len());
        }
        &self.0
    }

    pub fn matches(&self, subject: &Subject) -> bool {
        let mut names = subject.0.split('.');
        for pattern in self.0.split('.') {
            match (pattern, names.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (p, Some(n)) if p == n => {}
                _ => return false,
            }
        }
        names.next().is_none()
    }
}

impl From<&Subject> for Filter {
    fn from(subject: &Subject) -> Self {
        Self(subject.0.clone())
    }
}

/// Subjects order as their names, so a sorted map of subjects can be ranged by a name prefix.
impl Borrow<str> for Subject {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.0)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Filter({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> Subject {
        Subject::new(name).unwrap()
    }

    #[test]
    fn subjects_refuse_wildcards_and_odd_tokens() {
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a-b", "a.b\n"] {
            assert!(Subject::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Subject::new("x".repeat(MAX_SUBJECT_LEN + 1)).is_err());
        assert_eq!(
            s("agora.stream.1").child("a.7").unwrap(),
            s("agora.stream.1.a.7")
        );
    }

    #[test]
    fn filters_match_like_nats() {
        let f = Filter::new("agora.stream.1.offers.>").unwrap();
        assert!(f.matches(&s("agora.stream.1.offers.customer.ab")));
        assert!(!f.matches(&s("agora.stream.1.offers")));
        assert!(!f.matches(&s("agora.stream.2.offers.customer")));
        let f = Filter::new("a.*.c").unwrap();
        assert!(f.matches(&s("a.b.c")));
        assert!(!f.matches(&s("a.b.c.d")));
        assert!(!f.matches(&s("a.c")));
        assert!(Filter::new("a.>.c").is_err());
        assert_eq!(Filter::new("a.b").unwrap().exact(), Some(s("a.b")));
        assert_eq!(Filter::new("a.*").unwrap().exact(), None);
    }

    #[test]
    fn literal_prefix_bounds_every_match() {
        for (pattern, prefix) in [
            ("a.b.c", "a.b.c"),
            ("a.b.*", "a.b."),
            ("a.*.c", "a."),
            ("agora.stream.1.offers.>", "agora.stream.1.offers."),
            ("*", ""),
            (">", ""),
        ] {
            assert_eq!(Filter::new(pattern).unwrap().literal_prefix(), prefix);
        }
        let f = Filter::new("a.b.>").unwrap();
        for name in ["a.b.c", "a.b.c.d"] {
            assert!(f.matches(&s(name)) && s(name).as_str().starts_with(f.literal_prefix()));
        }
    }

    #[test]
    fn stream_names_are_distinct_for_distinct_subjects() {
        assert_ne!(s("a_b.c").stream_name(), s("a.b_c").stream_name());
    }
}
