//! Form values as Go's `ParseForm` gives them: the query string plus, for PUT and POST with an
//! `application/x-www-form-urlencoded` body, the body's values; a body value beats a query value, and of
//! repeated names the first counts.

use std::collections::HashMap;

/// Parsed form values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    values: HashMap<String, String>,
}

impl Form {
    /// Merges `body` (preferred) and `query`; `Err` on a malformed escape, as Go's parser refuses it.
    pub fn parse(query: &str, body: Option<&[u8]>) -> Result<Form, String> {
        let mut values = HashMap::new();
        if let Some(body) = body {
            match std::str::from_utf8(body) {
                Ok(body) => add_pairs(&mut values, body)?,
                Err(_) => add_pairs(&mut values, &String::from_utf8_lossy(body))?,
            }
        }
        add_pairs(&mut values, query)?;
        Ok(Form { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

fn add_pairs(values: &mut HashMap<String, String>, text: &str) -> Result<(), String> {
    for pair in text.split(['&', ';']) {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            return Err("invalid semicolon separator in query".to_owned());
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = unescape(name, true)?;
        let value = unescape(value, true)?;
        values.entry(name).or_insert(value);
    }
    Ok(())
}

/// Percent-decoding; `plus_is_space` for form values (not for paths).
pub(crate) fn unescape(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Ok(text.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(b) = hex else {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[i..end])
                    ));
                };
                out.push(b);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_beats_query_and_first_repeat_wins() {
        let form = Form::parse("value=q&ttl=5&ttl=6", Some(b"value=b+x%21")).expect("parse");
        assert_eq!(form.get("value"), Some("b x!"));
        assert_eq!(form.get("ttl"), Some("5"));
        assert!(form.has("ttl"));
        assert!(!form.has("dir"));
        let empty = Form::parse("prevValue=", None).expect("parse");
        assert_eq!(empty.get("prevValue"), Some(""));
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert!(Form::parse("value=%zz", None).is_err());
        assert!(Form::parse("value=%4", None).is_err());
        assert_eq!(unescape("/a%2Fb%20c", false).expect("path"), "/a/b c");
        assert_eq!(unescape("a+b", false).expect("path"), "a+b");
    }
}

/// Query strings and form bodies come from clients: any text parses or is refused, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_queries_and_bodies_parse_or_are_refused(
            query in "[a-z=&%+0-9A-F\\PC]{0,64}",
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = Form::parse(&query, Some(&body));
            let _ = Form::parse(&query, None);
            let _ = unescape(&query, true);
        }
    }
}
